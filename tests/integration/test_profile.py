"""The production profile on `anvil --chain-id 137`: Polymarket's addresses given code with anvil_setCode
(the real ConditionalTokens runtime at the CTF address), our own Executor and ProxyFactory deployed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.deploy import deploy_core, proxy_init_code_hash
from polyhunter.chain.polygon import POLYGON
from polyhunter.chain.profile import ChainProfile, chain_profile, check_profile, production_deployment
from polyhunter.errors import ConfigError
from polyhunter.settings import Settings, load_settings
from polyhunter.supervisor.app import load_deployment
from polyhunter.venue.hosts import PRODUCTION_HOST

pytestmark = pytest.mark.integration

# anvil's first account of its default test mnemonic: deploys our contracts on the test chain only.
OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# Some runtime code: PUSH1 0 (what matters is that eth_getCode is not empty).
STUB = "0x6000"
WORKER = "0x" + "11" * 20
WALLET = "0x" + "22" * 20


@dataclass(frozen=True)
class Chain137:
    node: Anvil
    w3: Web3
    executor: str
    proxy_factory: str
    treasury: str

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "CHAIN_ID": "137",
            "COPY_TRADING_RPC_URL": self.node.rpc_url,
            "EXECUTOR_ADDRESS": self.executor,
            "PROXY_FACTORY_ADDRESS": self.proxy_factory,
            **extra,
        }

    def settings(self, **extra: str) -> Settings:
        return load_settings(**{k.lower(): v for k, v in self.env(**extra).items()})

    def set_code(self, address: str, code: str) -> None:
        self.w3.provider.make_request("anvil_setCode", [Web3.to_checksum_address(address), code])  # type: ignore[arg-type]


def _single(name: str) -> str:
    (address,) = POLYGON[name].candidates
    return address.lower()


SINGLE_ADDRESSES = [
    _single(n)
    for n in (
        "ctf",
        "usdce",
        "pusd",
        "ctf_exchange_v2",
        "neg_risk_exchange_v2",
        "onramp",
        "offramp",
        "neg_risk_adapter",
        "deposit_wallet_factory",
    )
]
ADAPTERS = ("collateral_adapter", "neg_risk_collateral_adapter")


@pytest.fixture(scope="module")
def chain137() -> Iterator[Chain137]:
    with Anvil(chain_id=137) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        ctf_runtime = "0x" + load_artifact("ConditionalTokens").deployed_bytecode.hex().removeprefix("0x")
        for address in SINGLE_ADDRESSES:
            code = ctf_runtime if address == _single("ctf") else STUB
            w3.provider.make_request("anvil_setCode", [Web3.to_checksum_address(address), code])  # type: ignore[arg-type]
        # With a fee, so that the Executor names its Treasury (the deployment reads it back).
        core = deploy_core(
            w3,
            Account.from_key(OWNER_KEY),
            collateral=_single("pusd"),
            ctf=_single("ctf"),
            fleet=[WORKER],
            fee_bps=5,
        )
        yield Chain137(node, w3, core.executor.lower(), core.proxy_factory.lower(), core.treasury.lower())


@pytest.fixture
def chain(chain137: Chain137) -> Iterator[Chain137]:
    """The chain for one test: code planted by the test is removed after it (evm_revert)."""
    snapshot = chain137.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield chain137
    chain137.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


def _with_adapters(chain: Chain137, pick: int) -> dict[str, str]:
    """Code at candidate `pick` of each collateral adapter pair; returns role → the address given code."""
    chosen = {}
    for role in ADAPTERS:
        address = POLYGON[role].candidates[pick].lower()
        chain.set_code(address, STUB)
        chosen[role] = address
    return chosen


def _config_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    steering = ("COPY_TRADING_", "SUPERVISOR_", "CLOB_", "DATABASE_URL", "REDIS_URL", "TRADING_", "DRY_RUN")
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith(steering)}
    for name in ("CHAIN_ID", "USDC_ADDRESS", "CTF_ADDRESS", "ENABLE_REAL_TRADING"):
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", "config", "check"],
        env={**clean, "POLYHUNTER_HOME": str(tmp_path / "home"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_chain_137_settings_resolve_to_polymarkets_addresses(chain: Chain137) -> None:
    profile = chain_profile(chain.settings())
    assert profile.chain_id == 137
    assert profile.clob_host == PRODUCTION_HOST
    assert profile.address("executor") == chain.executor
    assert profile.address("proxy_factory") == chain.proxy_factory
    # pUSD is the collateral on V2.
    assert profile.address("collateral") == "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"
    assert profile.address("ctf") == "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
    assert profile.address("ctf_exchange_v2") == "0xe111180000d2663c0091e4f400237545b87b996b"
    assert profile.address("neg_risk_exchange_v2") == "0xe2222d279d744050d28e00520010520000310f59"
    assert profile.address("onramp") == "0x93070a847efef7f70739046a929d47a521f5b8ee"
    assert profile.address("offramp") == "0x2957922eb93258b93368531d39facca3b4dc5854"
    assert profile.address("neg_risk_adapter") == "0xd91e80cf2e7be2e162c6513ced06f1dd0da35296"
    for role in ADAPTERS:
        entry = profile.entry(role)
        assert entry is not None
        assert not entry.resolved
        with pytest.raises(ConfigError, match="not resolved yet"):
            profile.address(role)


@pytest.mark.parametrize("pick", [0, 1])
@pytest.mark.asyncio
async def test_the_adapter_with_code_among_the_two_candidates_is_chosen(chain: Chain137, pick: int) -> None:
    chosen = _with_adapters(chain, pick)
    async with AsyncRpc([chain.node.rpc_url]) as rpc:
        checked = await check_profile(chain_profile(chain.settings()), rpc)
    assert checked.missing == []
    for role, address in chosen.items():
        assert checked.profile.address(role) == address


@pytest.mark.asyncio
async def test_code_at_both_adapter_candidates_is_refused(chain: Chain137) -> None:
    _with_adapters(chain, 0)
    _with_adapters(chain, 1)
    async with AsyncRpc([chain.node.rpc_url]) as rpc:
        checked = await check_profile(chain_profile(chain.settings()), rpc)
    assert len(checked.missing) == 2
    for line, role in zip(checked.missing, ADAPTERS, strict=True):
        assert line.startswith(f"{role}: several published addresses have code")


def test_config_check_passes_with_code_everywhere_and_stays_dry_run(chain: Chain137, tmp_path: Path) -> None:
    chosen = _with_adapters(chain, 1)
    chain.set_code(WALLET, STUB)
    done = _config_check(tmp_path, chain.env(CLOB_DEPOSIT_WALLETS=f"{WORKER}:{WALLET}"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: chain 137: code at all 14 addresses used"), done.stdout
    for address in chosen.values():
        assert address in done.stdout
    # Away from a local chain nothing trades until ENABLE_REAL_TRADING=true, and DRY_RUN wins over it.
    assert "DRY_RUN" in done.stdout
    assert "REAL TRADING" not in done.stdout
    real = _config_check(tmp_path, chain.env(ENABLE_REAL_TRADING="true"))
    assert real.returncode == 0, real.stderr
    assert real.stdout.rstrip().endswith(", REAL TRADING"), real.stdout
    both = _config_check(tmp_path, chain.env(ENABLE_REAL_TRADING="true", DRY_RUN="true"))
    assert both.returncode == 0, both.stderr
    assert both.stdout.rstrip().endswith(", DRY_RUN (ENABLE_REAL_TRADING=true to trade)"), both.stdout


def test_config_check_names_each_address_without_code(chain: Chain137, tmp_path: Path) -> None:
    _with_adapters(chain, 0)
    gone = [_single("onramp"), _single("neg_risk_exchange_v2"), _single("ctf")]
    for address in gone:
        chain.set_code(address, "0x")
    done = _config_check(tmp_path, chain.env(CLOB_DEPOSIT_WALLETS=f"{WORKER}:{WALLET}"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"error: ctf: no code at {_single('ctf')} on chain 137",
        f"error: neg_risk_exchange_v2: no code at {_single('neg_risk_exchange_v2')} on chain 137",
        f"error: onramp: no code at {_single('onramp')} on chain 137",
        f"error: deposit wallet of {WORKER}: no code at {WALLET} on chain 137",
    ], done.stderr
    assert "Traceback" not in done.stderr


def test_config_check_names_the_adapter_pair_without_code_and_a_missing_executor(
    chain: Chain137, tmp_path: Path
) -> None:
    done = _config_check(tmp_path, chain.env())
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    for line, role in zip(lines, ADAPTERS, strict=True):
        first, second = POLYGON[role].candidates
        assert line == f"error: {role}: no code at any of {first.lower()}, {second.lower()} on chain 137"
    env = chain.env()
    del env["EXECUTOR_ADDRESS"]
    missing = _config_check(tmp_path, env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "error: EXECUTOR_ADDRESS: required on chain 137 (our own contract: `polyhunter deploy` prints its "
        "address)"
    ]


def test_config_check_refuses_a_chain_id_the_rpc_does_not_serve(chain: Chain137, tmp_path: Path) -> None:
    done = _config_check(tmp_path, chain.env(CHAIN_ID="80002"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: CHAIN_ID: 80002, but the RPC serves chain 137"]
    unset = chain.env()
    del unset["CHAIN_ID"]
    told = _config_check(tmp_path, unset)
    assert told.returncode == 1
    assert "CHAIN_ID: unset, but the RPC serves chain 137: set CHAIN_ID=137" in told.stderr


@pytest.mark.asyncio
async def test_the_supervisor_deployment_comes_from_the_profile(chain: Chain137) -> None:
    chosen = _with_adapters(chain, 0)
    settings = chain.settings(CLOB_DEPOSIT_WALLETS=f"{WORKER}:{WALLET}")
    chain.set_code(WALLET, STUB)
    deployment = await load_deployment(settings)
    c = deployment.contracts
    assert deployment.chain_id == 137
    assert (c.executor, c.proxy_factory, c.treasury) == (chain.executor, chain.proxy_factory, chain.treasury)
    assert c.collateral == c.pusd == _single("pusd")
    assert c.ctf == _single("ctf")
    assert c.v2_exchanges == [_single("ctf_exchange_v2"), _single("neg_risk_exchange_v2")]
    assert c.local_exchange is None
    assert (c.collateral_adapter, c.neg_risk_collateral_adapter) == (
        chosen["collateral_adapter"],
        chosen["neg_risk_collateral_adapter"],
    )
    assert deployment.proxy_init_code_hash == proxy_init_code_hash()
    assert deployment.accounts.owner == Account.from_key(OWNER_KEY).address.lower()
    assert deployment.accounts.deposit_wallet(WORKER) == WALLET
    assert deployment.clob_url == PRODUCTION_HOST
    assert deployment.rpc_url == chain.node.rpc_url
    assert deployment.ws_url == chain.node.ws_url


@pytest.mark.asyncio
async def test_the_supervisor_refuses_a_profile_with_an_address_without_code(chain: Chain137) -> None:
    _with_adapters(chain, 0)
    chain.set_code(_single("offramp"), "0x")
    with pytest.raises(ConfigError, match=r"^offramp: no code at 0x2957922eb93258b93368531d39facca3b4dc5854"):
        await load_deployment(chain.settings())


@pytest.mark.asyncio
async def test_a_factory_bound_to_another_executor_is_refused(chain: Chain137) -> None:
    _with_adapters(chain, 0)
    other = deploy_core(
        chain.w3, Account.from_key(OWNER_KEY), collateral=_single("pusd"), ctf=_single("ctf"), fleet=[]
    )
    settings = chain.settings(PROXY_FACTORY_ADDRESS=other.proxy_factory)
    async with AsyncRpc([chain.node.rpc_url]) as rpc:
        checked = await check_profile(chain_profile(settings), rpc)
        assert checked.ok
        profile: ChainProfile = checked.profile
        with pytest.raises(ConfigError, match="is bound to Executor"):
            await production_deployment(settings, profile, rpc)
