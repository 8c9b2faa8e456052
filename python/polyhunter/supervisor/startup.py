"""Start-up checks of the chain a supervisor is about to trade on: every RPC serves the expected chain, the
address settings are applied over deployment.json, and every contract used has code.

Each check raises `ConfigError` with one line naming the setting (or deployment.json) and the value at fault,
never an RPC URL's secret part: a supervisor that cannot trust its chain must not start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ChainError, ConfigError
from polyhunter.settings import Settings, mask_url

log = logging.getLogger(__name__)

WS_TIMEOUT_S = 10.0

# Selectors of our own contracts' getters: ProxyFactory.executor(), ProxyFactory.proxyInitCodeHash(),
# Executor.treasury().
_FACTORY_EXECUTOR = "0xc34c08e5"
_FACTORY_INIT_CODE_HASH = "0x91c11e21"
_EXECUTOR_TREASURY = "0x61d027b3"


def shown(url: str) -> str:
    """An RPC URL as it may appear in a message: userinfo, path tokens and query masked."""
    return mask_url(url, keep_path=False)


async def served_chain_id(url: str) -> int:
    """The chain id `url` (http(s) or ws(s)) answers, or `ChainError` naming it masked."""
    if url.startswith(("ws://", "wss://")):
        return await _ws_chain_id(url)
    async with AsyncRpc([url]) as rpc:
        return await rpc.chain_id()


async def _ws_chain_id(url: str) -> int:
    try:
        async with asyncio.timeout(WS_TIMEOUT_S):
            async with connect(url, open_timeout=WS_TIMEOUT_S) as ws:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
                reply = json.loads(await ws.recv())
    except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
        raise ChainError(f"eth_chainId failed on {shown(url)}: {type(exc).__name__}") from None
    result = reply.get("result") if isinstance(reply, dict) else None
    if not isinstance(result, str):
        raise ChainError(f"eth_chainId on {shown(url)}: no chain id in the reply")
    return int(result, 16)


async def check_chain_ids(urls: list[str], expected: int, what: str) -> None:
    """Every URL in `urls` must serve chain `expected` (`what` says where that number comes from)."""
    for url in urls:
        served = await served_chain_id(url)
        if served != expected:
            raise ConfigError(f"{what} is chain {expected}, but {shown(url)} serves chain {served}")


def rpc_urls_to_check(settings: Settings, deployment: Deployment) -> list[str]:
    """The RPCs the supervisor will use: the configured ones (every failover endpoint and the WS URL), else
    deployment.json's."""
    urls = list(settings.rpc_urls) or [deployment.rpc_url]
    if not settings.rpc_urls and "***" in deployment.rpc_url:
        raise ConfigError(
            "COPY_TRADING_RPC_URLS: required, as deployment.json keeps its RPC URL without the secret part"
        )
    if not settings.ws_urls and "***" in deployment.ws_url:
        raise ConfigError(
            "COPY_TRADING_WS_URL: required, as deployment.json keeps its WS URL without the secret part"
        )
    ws_urls = settings.ws_urls or [deployment.ws_url]
    return [*urls, *(ws for ws in ws_urls if ws and ws not in urls)]


async def verify_chain(settings: Settings, deployment: Deployment) -> None:
    """CHAIN_ID (when set) must be the deployment's chain, and every RPC must serve it."""
    if settings.chain_id is not None and settings.chain_id != deployment.chain_id:
        raise ConfigError(
            f"CHAIN_ID is {settings.chain_id}, but deployment.json is for chain {deployment.chain_id}"
        )
    what = "CHAIN_ID" if settings.chain_id is not None else "deployment.json"
    await check_chain_ids(rpc_urls_to_check(settings, deployment), deployment.chain_id, what)


async def _read_word(rpc: AsyncRpc, contract: str, selector: str, what: str) -> str:
    raw = await rpc.call("eth_call", [{"to": contract, "data": selector}, "latest"])
    if not isinstance(raw, str) or len(raw) != 66:
        raise ConfigError(f"{what}: {contract} does not answer as our contract does (got {raw!r})")
    return raw


async def apply_address_settings(settings: Settings, deployment: Deployment, rpc: AsyncRpc) -> Deployment:
    """deployment.json's contracts with EXECUTOR_ADDRESS, PROXY_FACTORY_ADDRESS, USDC_ADDRESS (the collateral)
    and CTF_ADDRESS applied. A new Executor or factory must be bound to each other; the Proxy init code hash
    and the treasury are then read back from the chain, so Proxy addresses stay right."""
    c = deployment.contracts
    executor = settings.executor_address or c.executor
    factory = settings.proxy_factory_address or c.proxy_factory
    collateral = settings.usdc_address or c.collateral
    ctf = settings.ctf_address or c.ctf
    if (executor, factory, collateral, ctf) == (c.executor, c.proxy_factory, c.collateral, c.ctf):
        return deployment
    init_code_hash, treasury = deployment.proxy_init_code_hash, c.treasury
    if (executor, factory) != (c.executor, c.proxy_factory):
        await require_code(rpc, {"EXECUTOR_ADDRESS": executor, "PROXY_FACTORY_ADDRESS": factory})
        bound = "0x" + (await _read_word(rpc, factory, _FACTORY_EXECUTOR, "PROXY_FACTORY_ADDRESS"))[-40:]
        if bound != executor:
            raise ConfigError(
                f"PROXY_FACTORY_ADDRESS: {factory} is bound to Executor {bound}, not {executor}"
            )
        init_code_hash = await _read_word(rpc, factory, _FACTORY_INIT_CODE_HASH, "PROXY_FACTORY_ADDRESS")
        treasury = "0x" + (await _read_word(rpc, executor, _EXECUTOR_TREASURY, "EXECUTOR_ADDRESS"))[-40:]
    log.info(
        "address settings applied over deployment.json: executor %s, proxy factory %s, collateral %s, ctf %s",
        executor,
        factory,
        collateral,
        ctf,
    )
    contracts = dataclasses.replace(
        c, executor=executor, proxy_factory=factory, treasury=treasury, collateral=collateral, ctf=ctf
    )
    # The recorded block is the old Executor's: another one's events may lie before it.
    from_block = deployment.executor_from_block if executor == c.executor else None
    return dataclasses.replace(
        deployment, contracts=contracts, proxy_init_code_hash=init_code_hash, executor_from_block=from_block
    )


async def require_code(rpc: AsyncRpc, addresses: dict[str, str]) -> None:
    """Each named address must hold contract code on the RPC's chain."""
    for name, address in addresses.items():
        code = await rpc.call("eth_getCode", [address, "latest"])
        if not isinstance(code, str) or len(code) <= 2:
            raise ConfigError(f"{name}: no contract code at {address} on this chain")


async def verify_contracts(deployment: Deployment, rpc: AsyncRpc) -> None:
    """Code at the Executor, ProxyFactory, collateral and CTF the supervisor is about to use."""
    c = deployment.contracts
    await require_code(
        rpc,
        {
            "the Executor (deployment.json or EXECUTOR_ADDRESS)": c.executor,
            "the ProxyFactory (deployment.json or PROXY_FACTORY_ADDRESS)": c.proxy_factory,
            "the collateral (deployment.json or USDC_ADDRESS)": c.collateral,
            "the CTF (deployment.json or CTF_ADDRESS)": c.ctf,
        },
    )
