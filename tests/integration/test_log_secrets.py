"""A full `polyhunter demo` at DEBUG, in text and in JSON logs, shows neither the local world's mnemonic, nor
any private key derived from it, nor any CLOB API secret or passphrase the local CLOB issued; in JSON every
log line is one object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from polyhunter.chain.anvil import TEST_MNEMONIC

pytestmark = pytest.mark.integration

# Fleet wallets, leaders, followers, owner and funder of the local world all come from these paths.
ACCOUNTS = 110

# The local CLOB's credentials come from a per-process random root, so the demo runs under this wrapper,
# which records each credential the real Authenticator issues (to a file the logs never see) and then runs
# the real CLI: the test then knows every secret it must not find.
_WRAPPER = """
import json, runpy, sys
from polyhunter.localpoly.auth import Authenticator

issued_path = sys.argv.pop(1)
real_derive = Authenticator._derive

def recording_derive(self, address, nonce):
    creds = real_derive(self, address, nonce)
    with open(issued_path, "a") as out:
        out.write(json.dumps({"secret": creds.secret, "passphrase": creds.passphrase}) + "\\n")
    return creds

Authenticator._derive = recording_derive
sys.argv[0] = "polyhunter"
runpy.run_module("polyhunter.cli", run_name="__main__")
"""


def _private_keys() -> list[str]:
    Account.enable_unaudited_hdwallet_features()
    keys = []
    for i in range(ACCOUNTS):
        key = Account.from_mnemonic(TEST_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.hex()
        keys.append(key.removeprefix("0x").lower())
    return keys


def _run_demo(tmp_path: Path, log_format: str) -> tuple[str, str, list[dict[str, str]]]:
    home = tmp_path / log_format
    home.mkdir()
    issued = tmp_path / f"issued-{log_format}.jsonl"
    env = {**os.environ, "POLYHUNTER_HOME": str(home), "COLUMNS": "200", "POLYHUNTER_LOG_FORMAT": log_format}
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(issued), "demo", "--log-level", "DEBUG"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo passed" in done.stdout
    creds = [json.loads(line) for line in issued.read_text().splitlines()] if issued.exists() else []
    return done.stdout, done.stderr, creds


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_demo_logs_no_mnemonic_private_key_or_clob_secret(tmp_path: Path, log_format: str) -> None:
    stdout, stderr, creds = _run_demo(tmp_path, log_format)
    # The grep means something only if the demo logged its work and the CLOB issued credentials.
    assert len(stderr.splitlines()) > 1000, stderr[-2000:]
    assert "polyhunter" in stderr
    assert creds, "the local CLOB issued no API credentials during the demo"
    output = (stdout + stderr).lower()

    assert TEST_MNEMONIC not in output
    leaked_keys = [i for i, key in enumerate(_private_keys()) if key in output]
    assert not leaked_keys, f"private keys of accounts {leaked_keys} appear in the {log_format} output"
    everything = stdout + stderr
    for issued in creds:
        # The secret is base64: compared as issued (case matters); the passphrase is hex, compared lower-case.
        assert issued["secret"] not in everything, "a CLOB API secret appears in the output"
        assert issued["passphrase"].lower() not in output, "a CLOB API passphrase appears in the output"

    if log_format == "json":
        for line in stderr.splitlines():
            record = json.loads(line)
            assert isinstance(record, dict), line
            assert {"ts", "level", "logger", "msg"} <= record.keys(), line
