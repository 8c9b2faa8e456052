"""Polymarket's newer official client (polymarket-client 0.14.0) as a second judge, run from its own venv.

The client pins eth-abi < 6, eth-utils < 6 and websockets < 16, which conflict with ours, so the suite builds
a virtualenv for it once (reused across sessions) and runs `judge2/judge2.py` there; that script prints JSON
that these tests assert on. Where CI is not set and the venv cannot be built (no package index), the tests
skip; under CI they fail instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from localpoly_world import USD, World, build_world, running_clob
from web3 import Web3

from polyhunter._core import ExchangeDomain, OrderV2, Signer, recover_poly1271_owner
from polyhunter.chain.anvil import Anvil
from polyhunter.errors import DecodeError, InvalidInputError
from polyhunter.localpoly import ClobSettings

pytestmark = pytest.mark.integration

JUDGE_PACKAGE = "polymarket-client==0.14.0"
JUDGE_SCRIPT = Path(__file__).parent / "judge2" / "judge2.py"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHAIN_ID = 31337


def _venv_dir() -> Path:
    configured = os.environ.get("POLYHUNTER_JUDGE2_VENV")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "polyhunter-judge2-polymarket-client-0.14.0"


def _build_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    ready = venv / ".polyhunter-ready"
    if ready.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Several pytest processes may ask at once: one builds, the others wait on the lock and reuse it.
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", JUDGE_PACKAGE],
            check=True,
            capture_output=True,
            timeout=600,
        )
        subprocess.run([str(python), "-c", "import polymarket"], check=True, capture_output=True)
        ready.write_text(JUDGE_PACKAGE + "\n")
    return python


@pytest.fixture(scope="session")
def judge2_python() -> Path:
    """The judge venv's interpreter, built on first use."""
    try:
        return _build_venv(_venv_dir())
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = f"cannot build the {JUDGE_PACKAGE} venv: {exc} {detail.decode(errors='replace')[-800:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def run_judge(python: Path, mode: str, request: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / f"judge2-{mode}.json"
    path.write_text(json.dumps(request))
    done = subprocess.run(
        [str(python), str(JUDGE_SCRIPT), mode, str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _orders(rng: random.Random, count: int) -> list[dict[str, Any]]:
    orders = []
    for i in range(count):
        key = "0x" + rng.randbytes(32).hex()
        owner = Account.from_key(key).address
        deposit = i % 2 == 1
        orders.append(
            {
                "key": key,
                # A deposit wallet's order: maker = signer = the wallet; the key is its owner's.
                "maker": "0x" + rng.randbytes(20).hex() if deposit else owner,
                "exchange": "0x" + rng.randbytes(20).hex(),
                "salt": rng.getrandbits(rng.choice((32, 64, 255))),
                "token_id": str(rng.getrandbits(256)),
                "maker_amount": rng.randrange(1, 10**12),
                "taker_amount": rng.randrange(1, 10**12),
                "side": rng.choice(("BUY", "SELL")),
                "signature_type": 3 if deposit else 0,
                "timestamp": rng.randrange(1_600_000_000_000, 2_000_000_000_000),
                "metadata": "0x" + (rng.randbytes(32).hex() if i % 3 == 0 else "00" * 32),
                "builder": "0x" + (rng.randbytes(32).hex() if i % 4 == 0 else "00" * 32),
            }
        )
    return orders


def _rust_order(spec: dict[str, Any]) -> tuple[ExchangeDomain, OrderV2]:
    domain = ExchangeDomain(spec["exchange"], CHAIN_ID)
    order = OrderV2(
        salt=spec["salt"],
        maker=spec["maker"],
        token_id=int(spec["token_id"]),
        maker_amount=spec["maker_amount"],
        taker_amount=spec["taker_amount"],
        side=spec["side"],
        timestamp=spec["timestamp"],
        signature_type=spec["signature_type"],
        metadata=spec["metadata"],
        builder=spec["builder"],
    )
    return domain, order


def test_the_second_client_signs_orders_and_clob_auth_byte_for_byte_like_ours(
    judge2_python: Path, tmp_path: Path
) -> None:
    rng = random.Random(20260511)
    orders = _orders(rng, 24)
    auth = [
        {
            "key": "0x" + rng.randbytes(32).hex(),
            "timestamp": rng.randrange(1_600_000_000, 2_000_000_000),
            "nonce": n,
        }
        for n in (0, 1, 7, 2**32)
    ]
    judged = run_judge(
        judge2_python, "sign", {"chain_id": CHAIN_ID, "orders": orders, "auth": auth}, tmp_path
    )

    assert len(judged["orders"]) == len(orders)
    for spec, theirs in zip(orders, judged["orders"], strict=True):
        domain, order = _rust_order(spec)
        ours = Signer(spec["key"]).sign_order(domain, order)
        assert theirs["owner"] == ours.signature_hex, spec
        if spec["signature_type"] == 3:
            assert len(ours.signature) == 317
            owner = recover_poly1271_owner(ours.signature, spec["maker"], CHAIN_ID, ours.hash)
            assert owner == Account.from_key(spec["key"]).address.lower()
    for spec, theirs in zip(auth, judged["auth"], strict=True):
        ours_auth = Signer(spec["key"]).sign_clob_auth(CHAIN_ID, spec["timestamp"], spec["nonce"])
        assert theirs["signature"] == ours_auth.signature_hex
        assert theirs["address"].lower() == Signer(spec["key"]).address


def test_a_session_key_wrap_is_not_a_deposit_wallet_signature_we_accept(
    judge2_python: Path, tmp_path: Path
) -> None:
    """What the client sends for a deposit wallet whose address it cannot derive (ours: not a Solady clone of
    Polymarket's factory): the ERC-7739 wrap inside an ERC-6492-style session envelope. The local wallet's
    check must refuse it rather than misread it."""
    rng = random.Random(7)
    spec = _orders(rng, 2)[1]
    assert spec["signature_type"] == 3
    judged = run_judge(judge2_python, "sign", {"chain_id": CHAIN_ID, "orders": [spec]}, tmp_path)
    session = bytes.fromhex(judged["orders"][0]["session_key"].removeprefix("0x"))
    owner_wrap = bytes.fromhex(judged["orders"][0]["owner"].removeprefix("0x"))
    assert session.endswith(bytes.fromhex("6492" * 16))
    assert owner_wrap in session
    domain, order = _rust_order(spec)
    with pytest.raises((DecodeError, InvalidInputError)):
        recover_poly1271_owner(session, spec["maker"], CHAIN_ID, domain.order_hash(order))


# --- the client's flows against the local CLOB -------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil() as node:
        yield build_world(node)


def test_the_second_client_trades_on_the_local_clob(
    judge2_python: Path, world: World, tmp_path: Path
) -> None:
    market = world.market
    token = market.yes_token_id
    settings = ClobSettings(eoa_allowlist=frozenset({world.eoa.address.lower()}))
    accounts = [
        {
            "label": "eoa",
            "key": "0x" + bytes(world.eoa.key).hex(),
            "wallet": world.eoa.address,
            "wallet_type": "EOA",
            "gtc_price": "0.05",
            "gtc_size": "10",
            "fok_amount": "2",
        },
        {
            "label": "deposit_wallet",
            "key": "0x" + bytes(world.trader.key).hex(),
            "wallet": Web3.to_checksum_address(world.trader_wallet),
            "wallet_type": "DEPOSIT_WALLET",
            "gtc_price": "0.06",
            "gtc_size": "10",
            "fok_amount": "3",
        },
    ]
    outsider = {
        "label": "outsider",
        "key": "0x" + bytes(world.outsider.key).hex(),
        "wallet": world.outsider.address,
        "wallet_type": "EOA",
        "gtc_price": "0.05",
        "gtc_size": "10",
        "fok_amount": "2",
    }
    with running_clob(world, settings) as clob:
        pusd_before = {a["label"]: world.pusd(a["wallet"]) for a in accounts}
        tokens_before = {a["label"]: world.tokens(a["wallet"], token) for a in accounts}
        outsider_pusd = world.pusd(world.outsider.address)
        request = {
            "chain_id": world.clob_world.chain_id,
            "clob_url": clob.url,
            "rpc_url": world.node.rpc_url,
            "exchange": world.pm.exchange,
            "neg_risk_exchange": world.pm.neg_risk_exchange,
            "collateral": world.pm.pusd,
            "ctf": world.pm.ctf,
            "token_id": str(token),
            "accounts": [*accounts, outsider],
        }
        judged = run_judge(judge2_python, "clob", request, tmp_path)
        # Checked before the block ends: the world's chain is reverted when the CLOB stops.

        assert judged["book"]["ok"], judged["book"]
        book = judged["book"]["value"]
        assert book["asks"], book
        assert book["bids"], book
        assert judged["midpoint"] == {"ok": True, "value": "0.5"}
        # An EOA maker that is not allowlisted gets production's refusal through this client too.
        refused = judged["outsider"]
        assert refused["create"]["ok"], refused["create"]
        for name in ("gtc", "fok"):
            assert not refused[name]["ok"], refused[name]
            assert "maker address not allowed, please use the deposit wallet flow" in refused[name]["message"]
        assert world.pusd(world.outsider.address) == outsider_pusd
        for account in accounts:
            label = account["label"]
            flows = judged[label]
            for name in (
                "create",
                "derive_again",
                "gtc",
                "gtc_read",
                "cancel",
                "gtc_after_cancel",
                "fok",
                "fok_settled",
            ):
                assert flows[name]["ok"], (label, name, flows[name])
            assert flows["wallet_type"] == account["wallet_type"]
            assert flows["same_key_derived"] is True
            assert flows["gtc_read"]["value"]["status"] in ("LIVE", "ORDER_STATUS_LIVE"), flows["gtc_read"]
            assert "CANCEL" in str(flows["gtc_after_cancel"]["value"]["status"]).upper()
            tx_hashes = flows["fok_settled"]["value"]
            assert tx_hashes, flows["fok_settled"]
            receipt = world.w3.eth.get_transaction_receipt(tx_hashes[0])
            assert receipt["status"] == 1
            open_ids = [o["id"] for o in flows["open_orders"]["value"]]
            assert flows["gtc"]["value"]["order_id"] in open_ids
            fok = flows["fok"]["value"]
            trades = [t for t in flows["trades"]["value"] if t["taker_order_id"] == fok["order_id"]]
            assert len(trades) == 1, flows["trades"]
            trade = trades[0]
            assert (trade["status"], trade["side"], trade["transaction_hash"]) == (
                "CONFIRMED",
                "BUY",
                tx_hashes[0],
            )
            spent, got = Decimal(fok["making_amount"]), Decimal(fok["taking_amount"])
            assert Decimal(trade["size"]) == got
            assert Decimal(trade["size"]) * Decimal(trade["price"]) == spent  # no fee on this market
            # On chain, exactly: the FOK's pUSD left the account's own wallet and its shares arrived there;
            # the cancelled GTC moved nothing.
            assert pusd_before[label] - world.pusd(account["wallet"]) == int(spent * USD)
            assert world.tokens(account["wallet"], token) - tokens_before[label] == int(got * USD)
