"""`chain.logscan` against a loopback endpoint in front of a real anvil that refuses `eth_getLogs` over more
than LIMIT blocks as hosted providers do: a scan of a longer chain returns exactly what anvil holds, never
asking for a refused range twice in a row at the same size, grows its chunk back, gives up on an endpoint
that refuses everything with an error naming the unread range, and finds a contract's deployment block."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from limited_rpc import limited_rpc
from web3 import Web3
from web3.types import LogReceipt

from polyhunter.chain.accounts import derive
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.logscan import LogScanError, LogScanner, deployment_block, scan_logs
from polyhunter.chain.tx import contract, deploy, send

pytestmark = pytest.mark.integration

LIMIT = 100
GAPS = (0, 37, 180, 95, 260, 3, 140)  # blocks mined between the transfers: a chain ~8x LIMIT long
TRANSFER = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")


@dataclass
class Chain:
    node: Anvil
    w3: Web3
    token: str
    deployed_at: int
    receiver: str


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        owner: LocalAccount = derive(0)
        receiver = derive(1).address
        w3.provider.make_request("anvil_mine", [hex(30)])  # type: ignore[arg-type]
        token = deploy(w3, owner, "MockCollateral")
        deployed_at = int(w3.eth.get_transaction_receipt(_last_tx(w3))["blockNumber"])
        handle = contract(w3, "MockCollateral", token)
        for i, gap in enumerate(GAPS):
            if gap:
                w3.provider.make_request("anvil_mine", [hex(gap)])  # type: ignore[arg-type]
            send(w3, owner, handle.functions.mint(receiver, 1_000_000 + i))
            send(w3, owner, handle.functions.mint(owner.address, 7))  # another receiver: filtered out below
        w3.provider.make_request("anvil_mine", [hex(50)])  # type: ignore[arg-type]
        yield Chain(node, w3, token, deployed_at, receiver)


def _last_tx(w3: Web3) -> Any:
    block = w3.eth.get_block("latest")
    return block["transactions"][-1]


def _topics(c: Chain) -> list[Any]:
    return [TRANSFER, None, "0x" + "00" * 12 + c.receiver.lower().removeprefix("0x")]


def _ids(entries: list[LogReceipt]) -> list[tuple[int, int, bytes]]:
    return [(int(e["blockNumber"]), int(e["logIndex"]), bytes(e["transactionHash"])) for e in entries]


def _truth(c: Chain) -> list[tuple[int, int, bytes]]:
    """What anvil itself answers in one request (anvil has no range limit)."""
    address = Web3.to_checksum_address(c.token)
    entries = c.w3.eth.get_logs(
        {"address": address, "fromBlock": 0, "toBlock": "latest", "topics": _topics(c)}
    )
    return _ids(list(entries))


@pytest.mark.parametrize("style", ["range", "suggest", "results"])
def test_a_scan_over_a_chain_longer_than_the_limit_returns_every_log(chain: Chain, style: str) -> None:
    truth = _truth(chain)
    assert len(truth) == len(GAPS)
    head = chain.w3.eth.block_number
    assert head > 8 * LIMIT
    with limited_rpc(chain.node.rpc_url, LIMIT, style) as rpc:
        w3 = Web3(Web3.HTTPProvider(rpc.url))
        with pytest.raises(Exception, match=r"exceeds limit|should work|more than 10000"):
            w3.eth.get_logs({"address": Web3.to_checksum_address(chain.token), "fromBlock": 0})  # the old way
        scanner = LogScanner(w3, chunk=2_000)
        got = scanner.logs(chain.token, _topics(chain), 0, head)
        served = [r for r in rpc.seen[1:] if not r.refused]
        refused = [r for r in rpc.seen[1:] if r.refused]
    assert _ids(got) == truth
    assert refused, "the endpoint never refused: the test did not exercise the limit"
    assert all(r.to_block - r.from_block + 1 <= LIMIT for r in served)
    # The served ranges tile 0..head exactly: no block read twice, none skipped.
    spans = sorted((r.from_block, r.to_block) for r in served)
    assert (spans[0][0], spans[-1][1]) == (0, head)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    if style == "suggest":  # the provider's suggested range is taken at once, not reached by halving
        first, second = rpc.seen[1], rpc.seen[2]
        assert (first.from_block, first.to_block, first.refused) == (0, head, True)
        assert (second.from_block, second.to_block, second.refused) == (0, LIMIT // 2 - 1, False)


def test_the_chunk_grows_back_after_a_refusal(chain: Chain) -> None:
    head = chain.w3.eth.block_number
    with limited_rpc(chain.node.rpc_url, LIMIT) as rpc:
        scanner = LogScanner(Web3(Web3.HTTPProvider(rpc.url)), chunk=10, max_chunk=400)
        got = scanner.logs(chain.token, _topics(chain), 0, head)
        sizes = [r.to_block - r.from_block + 1 for r in rpc.seen]
    assert _ids(got) == _truth(chain)
    assert sizes[0] == 10
    assert max(s for s, r in zip(sizes, rpc.seen, strict=True) if not r.refused) > 10  # it grew
    assert any(r.refused for r in rpc.seen)  # and grew into the limit, then came back under it
    assert scanner.chunk <= LIMIT


def test_a_scan_from_the_deployment_block_reads_only_that_far(chain: Chain) -> None:
    assert deployment_block(chain.w3, chain.token) == chain.deployed_at
    head = chain.w3.eth.block_number
    with limited_rpc(chain.node.rpc_url, LIMIT) as rpc:
        got = scan_logs(Web3(Web3.HTTPProvider(rpc.url)), chain.token, _topics(chain), chain.deployed_at)
        assert min(r.from_block for r in rpc.seen) == chain.deployed_at
        assert max(r.to_block for r in rpc.seen) == head
    assert _ids(got) == _truth(chain)


def test_an_endpoint_that_refuses_everything_gives_a_typed_error_naming_the_range(chain: Chain) -> None:
    head = chain.w3.eth.block_number
    with limited_rpc(chain.node.rpc_url, 0, "results") as rpc:  # not even one block
        scanner = LogScanner(Web3(Web3.HTTPProvider(rpc.url)), chunk=64)
        with pytest.raises(LogScanError) as info:
            scanner.logs(chain.token, _topics(chain), 5, head, what="transfers")
        sizes = [r.to_block - r.from_block + 1 for r in rpc.seen]
    assert (info.value.from_block, info.value.to_block) == (5, head)
    assert f"blocks 5..{head} are unread" in str(info.value)
    assert "transfers" in str(info.value)
    assert sizes == [64, 32, 16, 8, 4, 2, 1]  # halved down to one block, then it stops


def test_a_bounded_number_of_refusals_in_a_row_stops_the_scan(chain: Chain) -> None:
    with limited_rpc(chain.node.rpc_url, 0) as rpc:
        scanner = LogScanner(Web3(Web3.HTTPProvider(rpc.url)), chunk=2_000, max_refusals=3)
        with pytest.raises(LogScanError, match=r"refused blocks 0\.\.499 3 times in a row"):
            scanner.logs(chain.token, _topics(chain), 0, 5_000)
        assert len(rpc.seen) == 3
