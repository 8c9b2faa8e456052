"""The CLI as an operator runs it, failing: every start-up error and every bad input ends the process with a
non-zero exit and one error line (no traceback, no asyncio "Unclosed client session"), well before a deadline
that only a hang would reach."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyhunter.chain.anvil import Anvil, free_port
from polyhunter.chain.deployment import Deployment
from polyhunter.settings import Settings

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0
"""Far above the ~5 s these commands take on a loaded machine: reaching it means the process hung."""

OTHER_MNEMONIC = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without any setting a developer may have exported, plus `extra`; a supervisor
    serves its metrics on a free loopback port (two at once must not collide on the default one)."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    return {**env, "POLYHUNTER_HOME": str(home), "SUPERVISOR_METRICS_ADDR": "127.0.0.1:0", **extra}


def cli(cwd: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs `polyhunter ARGS` in `cwd` (so that only a `.env` the test wrote there is read)."""
    return subprocess.run(
        [sys.executable, "-m", "polyhunter.cli", *args],
        cwd=cwd,
        env=_clean_env(home, **env),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The failed command's one error line, after checking that it failed cleanly."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Unclosed" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def deployed_home(home: Path, local_deployment: tuple[Anvil, Deployment]) -> Path:
    """A POLYHUNTER_HOME whose deployment.json is the session's local world."""
    local_deployment[1].save(home / "deployment.json")
    return home


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, not listening, so nobody else takes it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- start-up failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["config", "check"], ["trades"]])
def test_a_corrupt_store_file_exits_with_one_line(tmp_path: Path, home: Path, command: list[str]) -> None:
    (home / "polyhunter.db").write_bytes(b"this is not a SQLite database" * 200)
    line = error_line(cli(tmp_path, home, *command))
    assert "polyhunter.db" in line
    assert "not a database" in line


def test_selftest_fails_on_a_corrupt_store_file(tmp_path: Path, home: Path) -> None:
    (home / "polyhunter.db").write_bytes(b"this is not a SQLite database" * 200)
    done = cli(tmp_path, home, "supervisor", "--selftest", "--log-level", "warning")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert any(line.startswith("FAIL store:") for line in done.stdout.splitlines()), done.stdout
    assert done.stdout.splitlines()[-1] == "selftest FAILED"


def test_an_unreachable_redis_stops_the_supervisor(
    tmp_path: Path, deployed_home: Path, dead_port: int
) -> None:
    line = error_line(
        cli(tmp_path, deployed_home, "supervisor", REDIS_URL=f"redis://127.0.0.1:{dead_port}/0")
    )
    assert line.startswith("Error: REDIS_URL: cannot connect to Redis")


def test_a_mnemonic_outside_the_fleet_stops_the_supervisor(tmp_path: Path, deployed_home: Path) -> None:
    line = error_line(cli(tmp_path, deployed_home, "supervisor", TRADING_MNEMONIC=OTHER_MNEMONIC))
    assert line == "Error: TRADING_MNEMONIC: none of its wallets is in the deployment's fleet"


def test_an_executor_without_code_stops_the_supervisor(
    tmp_path: Path, home: Path, local_deployment: tuple[Anvil, Deployment]
) -> None:
    deployment = local_deployment[1]
    nowhere = "0x" + "12" * 20
    broken = dataclasses.replace(
        deployment, contracts=dataclasses.replace(deployment.contracts, executor=nowhere)
    )
    broken.save(home / "deployment.json")
    line = error_line(cli(tmp_path, home, "supervisor"))
    assert "Executor" in line
    assert f"no contract code at {nowhere}" in line


def test_loadsim_to_a_dead_redis_names_the_flag(tmp_path: Path, home: Path, dead_port: int) -> None:
    done = cli(tmp_path, home, "loadsim", "--redis", f"redis://127.0.0.1:{dead_port}/0", "--duration", "1")
    line = error_line(done)
    assert line.startswith("Error: --redis: cannot connect to Redis")
    assert "SUPERVISOR_REDIS_URL" not in done.stderr


def test_chain_id_must_match_the_deployment(tmp_path: Path, deployed_home: Path) -> None:
    line = error_line(cli(tmp_path, deployed_home, "supervisor", CHAIN_ID="1"))
    assert line == "Error: CHAIN_ID is 1, but deployment.json is for chain 31337"


def test_every_rpc_must_serve_the_chain(
    tmp_path: Path, deployed_home: Path, local_deployment: tuple[Anvil, Deployment]
) -> None:
    """The second failover endpoint serves another chain: start-up stops, naming it without its secret."""
    node = local_deployment[0]
    with Anvil(chain_id=1337) as other:
        secret = f"{other.rpc_url}/?apikey=hunter2"
        done = cli(
            tmp_path,
            deployed_home,
            "supervisor",
            COPY_TRADING_RPC_URLS=f"{node.rpc_url},{secret}",
            CHAIN_ID="31337",
        )
        check = cli(
            tmp_path, deployed_home, "config", "check", COPY_TRADING_RPC_URLS=f"{node.rpc_url},{secret}"
        )
    line = error_line(done)
    assert line.startswith(f"Error: CHAIN_ID is chain 31337, but {other.rpc_url}")
    assert line.endswith("serves chain 1337")
    assert check.returncode == 1
    assert check.stderr.splitlines() == [
        f"error: {other.rpc_url}/?*** serves chain 1337, {node.rpc_url} chain 31337"
    ]
    for output in (done.stderr, done.stdout, check.stderr, check.stdout):
        assert "hunter2" not in output


def test_chain_up_refuses_a_port_in_use(tmp_path: Path, home: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = error_line(cli(tmp_path, home, "chain", "up", "--port", str(port)))
    assert line.startswith(f"Error: port {port} on 127.0.0.1 is already in use")
    assert not (home / "anvil.json").exists()
    assert not (home / "deployment.json").exists()


def test_chain_up_refuses_the_port_of_another_running_chain(tmp_path: Path, home: Path) -> None:
    """The case seen in the field: a second `chain up` on the port of a chain started elsewhere."""
    with Anvil(port=free_port()) as other:
        line = error_line(cli(tmp_path, home, "chain", "up", "--port", str(other.port)))
        assert "already in use" in line
        assert other.process is not None
        assert other.process.poll() is None  # the chain already there is left alone
    assert not (home / "deployment.json").exists()


def test_chain_status_does_not_report_a_dead_anvil_as_running(
    tmp_path: Path, home: Path, local_deployment: tuple[Anvil, Deployment]
) -> None:
    """anvil.json names a process that is gone while another chain answers at its URL."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    node = local_deployment[0]
    state = {"pid": gone.pid, "rpc_url": node.rpc_url, "ws_url": node.ws_url, "chain_id": 31337}
    (home / "anvil.json").write_text(json.dumps(state))
    line = error_line(cli(tmp_path, home, "chain", "status"))
    assert line.startswith(f"Error: the local chain's anvil (pid {gone.pid}) is not running")


def test_an_unreadable_chain_state_is_one_line(tmp_path: Path, home: Path) -> None:
    (home / "anvil.json").write_text('{"pid": 1')
    for command in (["chain", "status"], ["chain", "down"], ["chain", "up", "--port", "0"]):
        line = error_line(cli(tmp_path, home, *command))
        assert line.startswith(f"Error: {home / 'anvil.json'} is unreadable (JSONDecodeError"), line


# --- bad input --------------------------------------------------------------------------------------------


def test_a_dotenv_that_is_not_utf8(tmp_path: Path, home: Path) -> None:
    (tmp_path / ".env").write_bytes(b"SUPERVISOR_REDIS_PREFIX=caf\xe9\n")
    line = error_line(cli(tmp_path, home, "config", "show"))
    assert line == "Error: .env: not UTF-8 text (byte 0xe9 at offset 27); save it as UTF-8"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SUPERVISOR_QUEUE_MAX_SIZE", "", "SUPERVISOR_QUEUE_MAX_SIZE: is empty"),
        (
            "SUPERVISOR_QUEUE_MAX_SIZE",
            "1000000000000",
            "SUPERVISOR_QUEUE_MAX_SIZE: Input should be less than",
        ),
        ("SUPERVISOR_SHARD_COUNT", "100000000", "SUPERVISOR_SHARD_COUNT: Input should be less than"),
        ("POLYHUNTER_GROUP_COMMIT_MS", "nan", "POLYHUNTER_GROUP_COMMIT_MS: Input should be a finite number"),
        (
            "COPY_TRADING_MAX_TRADE_USD",
            "nan",
            "COPY_TRADING_MAX_TRADE_USD: the amount must be a finite number",
        ),
        ("COPY_TRADING_PRIORITY_FEE_GWEI", "5000", "COPY_TRADING_PRIORITY_FEE_GWEI (5000) must not exceed"),
        (
            "DATABASE_URL",
            "sqlite://somehost/x.db",
            "DATABASE_URL: a SQLite URL must be sqlite:///absolute/path",
        ),
    ],
)
def test_a_bad_setting_is_one_line(
    tmp_path: Path, home: Path, variable: str, value: str, expected: str
) -> None:
    line = error_line(cli(tmp_path, home, "config", "check", **{variable: value}))
    assert line.startswith(f"Error: {expected}"), line


def test_a_sqlite_url_is_accepted(tmp_path: Path, home: Path) -> None:
    database = tmp_path / "elsewhere.db"
    done = cli(tmp_path, home, "config", "check", DATABASE_URL=f"sqlite://{database}")
    assert done.returncode == 0, done.stderr
    assert "store sqlite" in done.stdout
    assert database.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["supervisor", "--log-level", "bogus"],
            "Error: Invalid value for '--log-level': 'bogus' is not one of",
        ),
        (
            ["loadsim", "--events-per-s", "0"],
            "Error: Invalid value for '--events-per-s': 0.0 is not in the range",
        ),
        (["loadsim", "--duration", "-1"], "Error: Invalid value for '--duration': -1.0 is not in the range"),
        (
            ["loadsim", "--duration", "nan"],
            "Error: Invalid value for '--duration': 'nan' is not a finite number",
        ),
        (
            ["loadsim", "--concurrency", "0"],
            "Error: Invalid value for '--concurrency': 0 is not in the range",
        ),
    ],
)
def test_a_bad_flag_is_one_line(tmp_path: Path, home: Path, args: list[str], expected: str) -> None:
    done = cli(tmp_path, home, *args)
    assert done.returncode == 2  # click's usage error
    assert error_line(done).startswith(expected)


def test_selftest_fails_on_a_broken_deployment_file(tmp_path: Path, home: Path) -> None:
    (home / "deployment.json").write_text('{"chain_id": 31337')
    done = cli(tmp_path, home, "supervisor", "--selftest", "--log-level", "warning")
    assert done.returncode == 1
    chain = [line for line in done.stdout.splitlines() if "chain:" in line]
    assert len(chain) == 1, done.stdout
    assert chain[0].startswith("FAIL chain:")
    assert "is not JSON" in chain[0]
    assert "skipped" not in done.stdout


def test_selftest_passes_on_the_local_world(tmp_path: Path, deployed_home: Path) -> None:
    """The positive twin of the failures above: the same command on a sound home exits 0."""
    done = cli(tmp_path, deployed_home, "supervisor", "--selftest", "--log-level", "warning")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   chain: chain 31337" in done.stdout


# --- consumer names ---------------------------------------------------------------------------------------


def _wait_for(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    """Until `text` appears in the log at `path`; fails if the process ends first or the deadline passes."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        assert process.poll() is None, path.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not seen within {DEADLINE_S:.0f}s: {path.read_text(errors='replace')}")


def test_a_consumer_name_in_use_is_refused(
    tmp_path: Path, deployed_home: Path, redis_url: str, redis_prefix: str
) -> None:
    """Two supervisors configured with one consumer name on one Redis: the second refuses to start, and the
    name is free again once the first stops."""
    env = {
        "REDIS_URL": redis_url,
        "SUPERVISOR_REDIS_PREFIX": redis_prefix,
        "SUPERVISOR_CONSUMER_NAME": "east-1",
    }
    log = tmp_path / "first.log"
    with log.open("wb") as sink:
        first = subprocess.Popen(
            [sys.executable, "-m", "polyhunter.cli", "supervisor"],
            cwd=tmp_path,
            env=_clean_env(deployed_home, **env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(log, "supervisor up", first)
        second = cli(tmp_path, deployed_home, "supervisor", **env)
        line = error_line(second)
        assert line.startswith(
            "Error: SUPERVISOR_CONSUMER_NAME: 'east-1' is in use by another running instance"
        )
        assert first.poll() is None  # the first one is untouched
        assert "consumer:east-1" in _lease_keys(redis_url, redis_prefix)
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(DEADLINE_S) == 0, log.read_text(errors="replace")
    assert "consumer:east-1" not in _lease_keys(redis_url, redis_prefix)  # released on a clean stop


def _lease_keys(redis_url: str, prefix: str) -> str:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return " ".join(k.decode() for k in client.scan_iter(match=f"*{prefix}*lease*", count=1000))
    finally:
        client.close()


# --- deploy -----------------------------------------------------------------------------------------------


def test_deploy_reads_dotenv_and_never_keeps_the_rpc_secret(tmp_path: Path, home: Path) -> None:
    """OWNER_PRIVATE_KEY, COPY_TRADING_RPC_URLS, USDC_ADDRESS and CTF_ADDRESS from `.env` alone; the RPC URL's
    API key appears neither in the output nor in deployment.json."""
    from web3 import Web3

    from polyhunter.chain.accounts import derive
    from polyhunter.chain.tx import deploy

    owner = derive(151)
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        w3.provider.make_request("anvil_setBalance", [owner.address, hex(10**20)])  # type: ignore[arg-type]
        collateral = deploy(w3, owner, "MockCollateral")
        ctf = deploy(w3, owner, "ConditionalTokens")
        (tmp_path / ".env").write_text(
            f"OWNER_PRIVATE_KEY={owner.key.hex()}\n"
            f"COPY_TRADING_RPC_URLS={node.rpc_url}/?apikey=hunter2\n"
            f"USDC_ADDRESS={collateral}\nCTF_ADDRESS={ctf}\n"
        )
        done = cli(tmp_path, home, "deploy", "--fleet-size", "0")
        assert done.returncode == 0, done.stdout + done.stderr
        stored = (home / "deployment.json").read_text()
        deployment = Deployment.load(home / "deployment.json")
        assert w3.eth.get_code(Web3.to_checksum_address(deployment.contracts.executor)) != b""
    assert deployment.contracts.collateral == collateral.lower()
    assert deployment.contracts.ctf == ctf.lower()
    assert deployment.accounts.owner == owner.address.lower()
    for text in (done.stdout, done.stderr, stored):
        assert "hunter2" not in text
        assert owner.key.hex().removeprefix("0x") not in text
    assert deployment.rpc_url == f"{node.rpc_url}/?***"
    assert "set COPY_TRADING_RPC_URLS" in done.stdout
