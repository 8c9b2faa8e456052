"""The production profile without a chain: CLOB_HOST's rule and default, CLOB_DEPOSIT_WALLETS, the Amoy
table from the official client, required settings, DRY_RUN away from a local chain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eth_utils import keccak
from py_clob_client_v2.config import get_contract_config

from polyhunter.chain import profile as profile_module
from polyhunter.chain.polygon import POLYGON
from polyhunter.chain.profile import chain_profile, is_production_chain
from polyhunter.errors import ConfigError
from polyhunter.settings import Settings, load_settings
from polyhunter.venue.hosts import PRODUCTION_HOST

EXECUTOR = "0x" + "e1" * 20
FACTORY = "0x" + "f1" * 20
WORKER = "0x" + "aa" * 20
WALLET = "0x" + "bb" * 20
STEERING = (
    "CHAIN_ID",
    "CLOB_HOST",
    "CLOB_DEPOSIT_WALLETS",
    "DRY_RUN",
    "ENABLE_REAL_TRADING",
    "EXECUTOR_ADDRESS",
    "PROXY_FACTORY_ADDRESS",
    "USDC_ADDRESS",
    "CTF_ADDRESS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in STEERING:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POLYHUNTER_HOME", str(tmp_path / "home"))


def production(chain_id: int = 137, **extra: object) -> Settings:
    return load_settings(chain_id=chain_id, executor_address=EXECUTOR, proxy_factory_address=FACTORY, **extra)


@pytest.mark.parametrize("host", ["http://clob.invalid", "http://10.0.0.5:8080", "ftp://127.0.0.1"])
def test_a_non_https_clob_host_off_loopback_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("CLOB_HOST", host)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("CLOB_HOST: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (PRODUCTION_HOST + "/", PRODUCTION_HOST),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9"),
    ],
)
def test_https_or_loopback_clob_hosts_are_kept(
    monkeypatch: pytest.MonkeyPatch, host: str, expected: str
) -> None:
    monkeypatch.setenv("CLOB_HOST", host)
    assert load_settings().clob_url == expected
    assert load_settings(chain_id=137).clob_url == expected  # an explicit host wins on Polygon too


def test_clob_host_defaults_to_polymarkets_on_137_only() -> None:
    assert load_settings(chain_id=137).clob_url == PRODUCTION_HOST
    assert load_settings(chain_id=80002).clob_url is None
    assert load_settings(chain_id=31337).clob_url is None
    assert load_settings().clob_url is None


def test_deposit_wallets_are_worker_wallet_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    other, other_wallet = "0x" + "cc" * 20, "0x" + "dd" * 20
    monkeypatch.setenv("CLOB_DEPOSIT_WALLETS", f" 0x{WORKER[2:].upper()}:{WALLET} , {other}:{other_wallet}")
    assert load_settings().clob_deposit_wallets == {WORKER: WALLET, other: other_wallet}
    monkeypatch.setenv("CLOB_DEPOSIT_WALLETS", "")
    assert load_settings().clob_deposit_wallets == {}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (WORKER, "each entry must be worker:wallet"),
        (f"{WORKER}:0x12", "must be 0x + 40 hex digits"),
        (f"{WORKER}:{WALLET},{WORKER}:{WALLET}", "is given twice"),
    ],
)
def test_bad_deposit_wallets_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("CLOB_DEPOSIT_WALLETS", value)
    with pytest.raises(ConfigError, match=f"^CLOB_DEPOSIT_WALLETS: .*{re.escape(problem)}"):
        load_settings()


def test_dry_run_is_the_default_away_from_a_local_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    s = production()
    assert s.is_dry_run(local_chain=False)
    assert not s.is_dry_run(local_chain=True)
    monkeypatch.setenv("ENABLE_REAL_TRADING", "true")
    assert not production().is_dry_run(local_chain=False)
    monkeypatch.setenv("DRY_RUN", "true")
    assert production().is_dry_run(local_chain=False)


def test_polygon_profile_takes_the_table_and_lets_settings_win() -> None:
    p = chain_profile(production())
    assert p.address("collateral") == POLYGON["pusd"].candidates[0].lower()
    assert p.entry("collateral") is not None
    usdce = POLYGON["usdce"].candidates[0].lower()
    ctf = "0x" + "c7" * 20
    overridden = chain_profile(production(usdc_address=usdce, ctf_address=ctf))
    assert overridden.address("collateral") == usdce
    assert overridden.address("ctf") == ctf
    entry = overridden.entry("ctf")
    assert entry is not None
    assert entry.source == "CTF_ADDRESS"


def test_amoy_takes_exchanges_and_pusd_from_our_table_and_the_rest_from_the_official_client() -> None:
    amoy = get_contract_config(80002)
    p = chain_profile(production(80002))
    assert p.clob_host is None
    assert p.address("ctf") == amoy.conditional_tokens.lower()
    assert p.address("ctf") != POLYGON["ctf"].candidates[0].lower()
    assert p.address("neg_risk_adapter") == amoy.neg_risk_adapter.lower()
    for role in ("pusd", "ctf_exchange_v2", "neg_risk_exchange_v2"):
        assert p.address(role) == POLYGON[role].candidates[0].lower()
    assert p.address("collateral") == p.address("pusd")
    for role in ("onramp", "offramp", "usdce", "collateral_adapter", "deposit_wallet_factory"):
        assert p.optional(role) is None


def test_amoy_without_the_official_client_needs_ctf_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile_module, "_amoy_client_config", dict)
    with pytest.raises(ConfigError, match=r"^CTF_ADDRESS: required on chain 80002"):
        chain_profile(production(80002))
    ctf = "0x" + "c7" * 20
    assert chain_profile(production(80002, ctf_address=ctf)).address("ctf") == ctf


@pytest.mark.parametrize(
    ("missing", "setting"),
    [("executor_address", "EXECUTOR_ADDRESS"), ("proxy_factory_address", "PROXY_FACTORY_ADDRESS")],
)
def test_our_own_contracts_are_required_settings(missing: str, setting: str) -> None:
    values: dict[str, object] = {
        "chain_id": 137,
        "executor_address": EXECUTOR,
        "proxy_factory_address": FACTORY,
    }
    del values[missing]
    with pytest.raises(ConfigError, match=f"^{setting}: required on chain 137"):
        chain_profile(load_settings(**values))


@pytest.mark.parametrize("chain_id", [None, 1, 31337])
def test_no_profile_off_polygon_and_amoy(chain_id: int | None) -> None:
    assert not is_production_chain(chain_id)
    with pytest.raises(ConfigError, match=r"^CHAIN_ID: the production profile covers chains 137 and 80002"):
        chain_profile(load_settings(executor_address=EXECUTOR, proxy_factory_address=FACTORY), chain_id)


def test_a_deposit_wallet_is_only_ever_the_configured_one() -> None:
    p = chain_profile(production(clob_deposit_wallets=f"{WORKER}:{WALLET}"))
    assert p.deposit_wallet("0x" + WORKER[2:].upper()) == WALLET
    with pytest.raises(ConfigError, match=r"^CLOB_DEPOSIT_WALLETS: no deposit wallet for fleet wallet"):
        p.deposit_wallet("0x" + "99" * 20)


def test_getter_selectors_are_the_abis() -> None:
    for selector, signature in (
        (profile_module._OWNER, "owner()"),
        (profile_module._TREASURY, "treasury()"),
        (profile_module._EXECUTOR, "executor()"),
        (profile_module._PROXY_INIT_CODE_HASH, "proxyInitCodeHash()"),
    ):
        assert selector == "0x" + keccak(text=signature)[:4].hex()
