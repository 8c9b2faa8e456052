"""AsyncRpc: failover order, benching, and errors that never show an endpoint's key."""

from __future__ import annotations

import pytest

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ChainError

# Port 1 on loopback: nothing listens, so the connection is refused at once.
DEAD = "http://127.0.0.1:1/v2/SECRETKEY?apikey=S3CRET"


@pytest.mark.asyncio
async def test_errors_never_show_the_key_in_an_rpc_url() -> None:
    async with AsyncRpc([DEAD, "http://127.0.0.1:2/another/S3CRET2"]) as rpc:
        with pytest.raises(ChainError) as info:
            await rpc.call("eth_chainId")
    message = str(info.value)
    assert "SECRETKEY" not in message
    assert "S3CRET" not in message
    assert "http://127.0.0.1:1/***" in message
    assert rpc.endpoints[0].failures == 1
    assert rpc.endpoints[1].failures == 1


def test_bad_scheme_is_refused_without_echoing_the_url() -> None:
    with pytest.raises(ChainError) as info:
        AsyncRpc(["ftp://host/key/S3CRET"])
    assert "S3CRET" not in str(info.value)


@pytest.mark.asyncio
async def test_a_dead_endpoint_is_benched_and_the_next_one_answers(anvil_url: str) -> None:
    async with AsyncRpc([DEAD, anvil_url]) as rpc:
        assert await rpc.chain_id() == 31337
        assert rpc.endpoints[0].failures == 1
        assert await rpc.chain_id() == 31337
        assert rpc.endpoints[0].calls == 1  # benched: not tried again at once
        assert rpc.endpoints[1].calls == 2


@pytest.fixture
def anvil_url(anvil: object) -> str:
    return str(anvil.rpc_url)  # type: ignore[attr-defined]
