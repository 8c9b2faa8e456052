"""Real work against each real service the product stands on: anvil, Redis and PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import redis
from web3 import Web3

from polyhunter.chain.anvil import Anvil
from polyhunter.chain.rpc import rpc_call
from polyhunter.errors import ChainError

pytestmark = pytest.mark.integration


def test_anvil_mines_a_signed_transfer(anvil: Anvil) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    assert w3.eth.chain_id == anvil.chain_id
    sender, receiver = w3.eth.accounts[0], w3.eth.accounts[1]
    before = w3.eth.get_balance(receiver)
    tx_hash = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 12345})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt["status"] == 1
    assert receipt["blockNumber"] >= 1
    assert w3.eth.get_balance(receiver) - before == 12345


def test_anvil_stops_and_its_port_goes_quiet() -> None:
    node = Anvil().start()
    url = node.rpc_url
    assert int(rpc_call(url, "eth_blockNumber"), 16) == 0
    node.stop()
    node.stop()  # idempotent
    with pytest.raises(ChainError, match="eth_blockNumber"):
        rpc_call(url, "eth_blockNumber", timeout=1.0)


def test_redis_set_nx_px_roundtrip(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"polyhunter:test:{uuid.uuid4().hex}"
    try:
        assert client.set(key, b"first", nx=True, px=5000) is True
        assert client.set(key, b"second", nx=True, px=5000) is None  # first sighting wins
        assert client.get(key) == b"first"
        assert 0 < client.pttl(key) <= 5000
        major = int(str(client.info("server")["redis_version"]).split(".")[0])
        assert major >= 7
    finally:
        client.delete(key)
        client.close()


def test_postgres_transaction_commits_and_rolls_back(database_url: str) -> None:
    table = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.info.server_version >= 150000
        conn.execute(f"CREATE TABLE {table} (key bytea PRIMARY KEY, amount bigint NOT NULL)")
        try:
            with conn.transaction():
                conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (b"\x01", 1_000_000))
            with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
                conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (b"\x01", 5))
            rows = conn.execute(f"SELECT key, amount FROM {table}").fetchall()
            assert rows == [(b"\x01", 1_000_000)]
        finally:
            conn.execute(f"DROP TABLE {table}")
