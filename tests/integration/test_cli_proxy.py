"""`polyhunter proxy create|deposit|withdraw|limits|pause|show` run as a follower runs them, on a local chain
started by `polyhunter chain up`: each write checked on chain, the key never in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from polyhunter.chain.accounts import OWNER_INDEX, derive
from polyhunter.chain.anvil import Anvil, stop_pid
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import contract, send

pytestmark = pytest.mark.integration

USD = 1_000_000
# A follower outside the world's layout (which gives every follower a Proxy already).
NEWCOMER_INDEX = 310
CLEAN_ENV = ("FOLLOWER_PRIVATE_KEY", "FOLLOWER_KEYSTORE_PASSWORD", "COPY_TRADING_RPC_URLS", "CHAIN_ID")


def _cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV and not k.startswith("COPY_TRADING_")}
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", *args],
        env={**base, "POLYHUNTER_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Deployment]]:
    home = tmp_path_factory.mktemp("proxy-cli")
    up = _cli(
        home,
        *("chain", "up", "--detach", "--port", "0", "--fleet-size", "1", "--leaders", "1"),
        *("--followers", "1", "--markets", "1", "--neg-risk-markets", "0", "--json"),
    )
    try:
        assert up.returncode == 0, up.stderr
        # --json is quiet: stdout is the deployment alone, no progress line.
        assert json.loads(up.stdout)["rpc_url"].startswith("http://127.0.0.1:")
        yield home, Deployment.load(home / "deployment.json")
    finally:
        state = home / "anvil.json"
        if state.exists():
            pids = json.loads(state.read_text())
            if "clob_pid" in pids:
                stop_pid(int(pids["clob_pid"]), marker=b"polyhunter.localpoly")
            stop_pid(int(pids["pid"]))


@pytest.fixture(scope="module")
def newcomer(world: tuple[Path, Deployment]) -> Any:
    """A funded account with no Proxy: gas, and $100 of USDC.e to wrap."""
    _, deployment = world
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    account = derive(NEWCOMER_INDEX)
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
    assert deployment.contracts.usdce is not None
    usdce = contract(w3, "MockCollateral", deployment.contracts.usdce)
    send(w3, derive(OWNER_INDEX), usdce.functions.mint(account.address, 100 * USD))
    return account


def _secrets(account: Any) -> list[str]:
    raw = bytes(account.key).hex()
    return [raw, raw.upper(), "0x" + raw]


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    value: dict[str, Any] = json.loads(result.stdout)
    return value


def test_a_follower_creates_funds_limits_pauses_and_empties_their_proxy(
    world: tuple[Path, Deployment], newcomer: Any
) -> None:
    home, deployment = world
    env = {"FOLLOWER_PRIVATE_KEY": bytes(newcomer.key).hex()}  # without 0x: accepted too
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    factory = contract(w3, "ProxyFactory", deployment.contracts.proxy_factory)
    proxy_address = factory.functions.predict(newcomer.address).call()
    proxy = contract(w3, "Proxy", proxy_address)
    pusd = contract(w3, "MockCollateral", deployment.contracts.collateral)
    outputs: list[subprocess.CompletedProcess[str]] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = _cli(home, "proxy", *args, env=env)
        outputs.append(result)
        return result

    before = _json(run("show", "--json"))
    assert before["state"]["deployed"] is False
    assert before["state"]["proxy"] == proxy_address.lower()
    assert before["state"]["owner_usdce"] == 100 * USD

    created = _json(run("create", "--max-per-trade", "50", "--max-per-day", "200", "--json"))
    assert created["proxy"] == proxy_address.lower()
    assert [t["step"] for t in created["txs"]] == ["create proxy"]
    assert proxy.functions.owner().call() == newcomer.address
    assert (proxy.functions.maxPerTrade().call(), proxy.functions.maxPerDay().call()) == (50 * USD, 200 * USD)

    again = run("create", "--max-per-trade", "5", "--max-per-day", "6")
    assert again.returncode == 1
    assert "already has a Proxy" in again.stderr

    # $12.50 of USDC.e wrapped into pUSD and deposited, to the base unit.
    deposited = _json(run("deposit", "12.5", "--wrap", "--json"))
    assert [t["step"] for t in deposited["txs"]] == [
        "approve USDC.e to the onramp",
        "wrap USDC.e into pUSD",
        "approve the Proxy",
        "deposit",
    ]
    assert pusd.functions.balanceOf(proxy_address).call() == 12_500_000
    assert deposited["state"]["collateral"] == 12_500_000
    assert deposited["state"]["owner_usdce"] == 87_500_000

    too_much = run("deposit", "500")
    assert too_much.returncode == 1
    assert "less than the 500.00 to deposit" in too_much.stderr

    limits = _json(run("limits", "--max-per-day", "300", "--json"))
    assert limits["state"]["limits"]["max_per_trade"] == 50 * USD
    assert proxy.functions.maxPerDay().call() == 300 * USD

    paused = _json(run("pause", "--json"))
    assert paused["state"]["paused"] is True
    assert proxy.functions.paused().call() is True
    resumed = run("pause", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "paused: no" in resumed.stdout
    assert proxy.functions.paused().call() is False

    text = run("withdraw", "2.25")
    assert text.returncode == 0, text.stderr
    assert "withdrew 2.25 USD" in text.stdout
    assert "collateral 10.25 USD" in text.stdout
    assert pusd.functions.balanceOf(newcomer.address).call() == 2_250_000

    everything = _json(run("withdraw", "all", "--json"))
    assert everything["amount"] == 10_250_000
    assert pusd.functions.balanceOf(proxy_address).call() == 0
    assert pusd.functions.balanceOf(newcomer.address).call() == 12_500_000

    shown = run("show")
    assert shown.returncode == 0, shown.stderr
    assert f"proxy {proxy_address.lower()}" in shown.stdout
    assert "limits: max per trade 50.00, max per day 300.00" in shown.stdout

    for result in outputs:
        for secret in _secrets(newcomer):
            assert secret not in result.stdout + result.stderr


def test_anyone_reads_a_proxy_by_its_owner_without_a_key(world: tuple[Path, Deployment]) -> None:
    home, deployment = world
    follower = deployment.accounts.followers[0]
    shown = _json(_cli(home, "proxy", "show", "--owner", follower, "--json"))
    assert shown["state"]["owner"] == follower
    assert shown["state"]["deployed"] is True
    assert shown["state"]["collateral"] > 0


def test_a_keystore_signs_and_a_wrong_password_is_one_line(
    world: tuple[Path, Deployment], tmp_path: Path
) -> None:
    home, deployment = world
    account = derive(NEWCOMER_INDEX + 1)
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
    keystore = tmp_path / "owner.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "correct horse", iterations=2)))

    wrong = _cli(
        home,
        *("proxy", "create", "--max-per-trade", "1", "--max-per-day", "2", "--keystore", str(keystore)),
        env={"FOLLOWER_KEYSTORE_PASSWORD": "battery staple"},
    )
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        f"Error: the keystore {keystore} does not open with this password"
    ]

    right = _cli(
        home,
        *(
            "proxy",
            "create",
            "--max-per-trade",
            "1",
            "--max-per-day",
            "2",
            "--keystore",
            str(keystore),
            "--json",
        ),
        env={"FOLLOWER_KEYSTORE_PASSWORD": "correct horse"},
    )
    created = _json(right)
    assert created["state"]["owner"] == account.address.lower()
    factory = contract(w3, "ProxyFactory", deployment.contracts.proxy_factory)
    assert w3.eth.get_code(factory.functions.predict(account.address).call())
    for secret in _secrets(account):
        assert secret not in right.stdout + right.stderr + wrong.stdout + wrong.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("deposit", "1.1234567"), "allows at most 6 decimals"),
        (("deposit", "ten"), "must be a decimal number"),
        (("deposit", "-3"), "No such option"),  # click reads a leading dash as an option
        (("deposit", "0"), "must be above zero"),
        (("withdraw", "nan"), "must be a finite number"),
        (("create", "--max-per-trade", "0.0000001", "--max-per-day", "1"), "allows at most 6 decimals"),
    ],
)
def test_bad_amounts_are_refused_before_any_key_or_chain(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """No chain runs in this home: a refusal here comes from the parsing alone."""
    result = _cli(tmp_path, "proxy", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_key_must_come_from_the_environment_or_a_keystore(world: tuple[Path, Deployment]) -> None:
    home, _ = world
    missing = _cli(home, "proxy", "pause")
    assert missing.returncode == 1
    assert "set FOLLOWER_PRIVATE_KEY or pass --keystore FILE" in missing.stderr
    bad = "zz" + "ab" * 31
    malformed = _cli(home, "proxy", "pause", env={"FOLLOWER_PRIVATE_KEY": bad})
    assert malformed.returncode == 1
    assert "FOLLOWER_PRIVATE_KEY must be 64 hex digits" in malformed.stderr
    assert bad not in malformed.stderr + malformed.stdout
    whose = _cli(home, "proxy", "show")
    assert whose.returncode == 1
    assert "whose Proxy? give --owner ADDR" in whose.stderr
    flag = _cli(home, "proxy", "pause", "--key", "ab" * 32)
    assert flag.returncode == 2
    assert "No such option '--key'" in flag.stderr
    assert "ab" * 32 not in flag.stderr + flag.stdout


def test_writes_on_chain_137_need_the_mainnet_flag(tmp_path: Path) -> None:
    key = {"FOLLOWER_PRIVATE_KEY": bytes(derive(NEWCOMER_INDEX).key).hex()}
    with Anvil(chain_id=137) as node:
        env = {**key, "COPY_TRADING_RPC_URLS": node.rpc_url}
        refused = _cli(tmp_path, "proxy", "create", "--max-per-trade", "1", "--max-per-day", "2", env=env)
        assert refused.returncode == 1
        assert "Polygon mainnet: add --i-understand-mainnet" in refused.stderr
        # With the flag it goes on, and stops at the first missing piece (no factory on this bare chain).
        allowed = _cli(
            tmp_path,
            *("proxy", "create", "--max-per-trade", "1", "--max-per-day", "2", "--i-understand-mainnet"),
            env=env,
        )
        assert allowed.returncode == 1
        assert "no PROXY_FACTORY_ADDRESS for chain 137" in allowed.stderr
        # Reading needs no flag (and no key).
        shown = _cli(tmp_path, "proxy", "show", "--owner", derive(NEWCOMER_INDEX).address, env=env)
        assert "--i-understand-mainnet" not in shown.stderr
        assert "no PROXY_FACTORY_ADDRESS for chain 137" in shown.stderr
