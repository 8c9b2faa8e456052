"""Where the fleet trades: the addresses its wallets approve and register with, from deployment.json, the
settings and (on Polygon) the published table, each trusted only where the chain shows code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from web3 import Web3

from polyhunter.chain import polygon
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ConfigError, InvalidInputError
from polyhunter.settings import Settings
from polyhunter.venue.hosts import PRODUCTION_HOST

# Chains whose deposit wallets only Polymarket's relayer deploys (our CREATE2 prediction is wrong there).
POLYMARKET_CHAINS = frozenset({polygon.POLYGON_CHAIN_ID, 80002})


@dataclass(frozen=True)
class FleetWorld:
    """The addresses the fleet's wallets trade against on one chain (lower-case 0x hex)."""

    chain_id: int
    rpc_urls: tuple[str, ...]
    ctf: str
    pusd: str
    executor: str | None
    usdce: str | None
    onramp: str | None
    spenders: dict[str, str]
    """Who must be approved for pUSD and the CTF, by name: `exchange`, `neg_risk_exchange`, `executor`,
    and the adapters that have code."""
    wallet_factory: str | None = None
    """Our deposit-wallet factory (local chains only; None where Polymarket's relayer makes wallets)."""
    wallet_init_code_hash: str | None = None
    clob_host: str | None = None
    signature_type: int = 3
    notes: tuple[str, ...] = ()

    @property
    def production(self) -> bool:
        return self.chain_id in POLYMARKET_CHAINS


async def _code(rpc: AsyncRpc, address: str | None) -> bool:
    return address is not None and await polygon.has_code(rpc, address)


async def load_world(settings: Settings, deployment: Deployment | None, rpc: AsyncRpc) -> FleetWorld:
    """The addresses from `deployment.json` and the settings; on Polygon the published ones fill the gaps
    (each only where the chain shows code). `ConfigError` names what is missing."""
    chain_id = await rpc.chain_id()
    if settings.chain_id is not None and settings.chain_id != chain_id:
        raise ConfigError(f"CHAIN_ID is {settings.chain_id} but the RPC serves chain {chain_id}")
    if deployment is not None and deployment.chain_id != chain_id:
        raise ConfigError(f"deployment.json is for chain {deployment.chain_id}, the RPC serves {chain_id}")
    c = deployment.contracts if deployment is not None else None
    production = chain_id in POLYMARKET_CHAINS
    notes: list[str] = []

    async def published(name: str, required: bool) -> str | None:
        if chain_id != polygon.POLYGON_CHAIN_ID:
            return None
        try:
            return await polygon.resolve(rpc, name)
        except ConfigError as exc:
            if required:
                raise
            notes.append(str(exc))
            return None

    def from_deployment(name: str) -> str | None:
        return getattr(c, name, None) if c is not None else None

    async def address(
        name: str, *, required: bool, setting: str | None = None, table: str = ""
    ) -> str | None:
        found = setting or from_deployment(name) or await published(table or name, required)
        if found is None and required:
            raise ConfigError(f"no {name} address: not in deployment.json nor a setting for chain {chain_id}")
        return found.lower() if found else None

    ctf = await address("ctf", required=True, setting=settings.ctf_address)
    pusd = await address("pusd", required=False) or (c.collateral if c is not None else None)
    if pusd is None:
        raise ConfigError(f"no pUSD address: not in deployment.json and chain {chain_id} has none published")
    executor = settings.executor_address or from_deployment("executor")
    exchange = await address("ctf_exchange_v2", required=True)
    neg_exchange = await address("neg_risk_exchange_v2", required=True)
    assert ctf is not None
    assert exchange is not None
    assert neg_exchange is not None
    spenders = {"exchange": exchange, "neg_risk_exchange": neg_exchange}
    if executor is not None:
        if await _code(rpc, executor):
            spenders["executor"] = executor.lower()
        else:
            notes.append(f"the Executor {executor} has no code on chain {chain_id}")
            executor = None
    else:
        notes.append("no Executor (EXECUTOR_ADDRESS or deployment.json): registration not checked")
    for name in ("neg_risk_adapter", "collateral_adapter", "neg_risk_collateral_adapter"):
        found = await address(name, required=False)
        if found is not None and await _code(rpc, found):
            spenders[name] = found
    ours = deployment is not None and not production and deployment.deposit_wallet_init_code_hash is not None
    host = settings.clob_host or (deployment.clob_url if deployment is not None else None)
    if host is None and chain_id == polygon.POLYGON_CHAIN_ID:
        host = PRODUCTION_HOST
    return FleetWorld(
        chain_id=chain_id,
        rpc_urls=tuple(rpc.urls),
        ctf=ctf,
        pusd=pusd.lower(),
        executor=executor.lower() if executor else None,
        usdce=await address("usdce", required=False),
        onramp=await address("onramp", required=False),
        spenders=spenders,
        wallet_factory=from_deployment("deposit_wallet_factory") if ours else None,
        wallet_init_code_hash=deployment.deposit_wallet_init_code_hash if ours and deployment else None,
        clob_host=host,
        signature_type=settings.clob_signature_type,
        notes=tuple(notes),
    )


def rpc_urls(settings: Settings, deployment: Deployment | None) -> list[str]:
    """`COPY_TRADING_RPC_URLS` / `COPY_TRADING_RPC_URL` (http ones), else the deployment's."""
    urls = [u for u in settings.rpc_urls if u.startswith(("http://", "https://"))]
    if not urls and deployment is not None:
        urls = [deployment.rpc_url]
    if not urls:
        raise ConfigError("no RPC: set COPY_TRADING_RPC_URLS (http) or run `polyhunter chain up` first")
    return urls


def parse_given_wallets(values: Sequence[str]) -> dict[str, str]:
    """`EOA=WALLET` pairs (the operator's deposit wallets) as lower-case addresses."""
    out: dict[str, str] = {}
    for value in values:
        eoa, sep, wallet = value.partition("=")
        if not sep or not Web3.is_address(eoa.strip()) or not Web3.is_address(wallet.strip()):
            raise InvalidInputError(f"--deposit-wallet takes EOA=WALLET (two addresses), got {value!r}")
        out[eoa.strip().lower()] = wallet.strip().lower()
    return out
