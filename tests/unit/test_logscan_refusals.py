"""`chain.logscan.is_range_refusal` and `suggested_size` on the words real providers refuse `eth_getLogs` with
(as reported in their users' issues), and on errors that a smaller range would not cure."""

from __future__ import annotations

from typing import Any, cast

import pytest
import requests
from web3.exceptions import Web3RPCError
from web3.types import RPCError, RPCResponse

from polyhunter.chain.logscan import LogScanner, describe, is_range_refusal, suggested_size


def rpc_error(code: int, message: str, data: Any = None) -> Web3RPCError:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    response: RPCResponse = {"jsonrpc": "2.0", "id": 1, "error": cast(RPCError, error)}
    return Web3RPCError(str(error), rpc_response=response)


ALCHEMY = (
    "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit "
    "on the response size, or you can request any block range with a cap of 10K logs in the response. Based "
    "on your parameters and the response size limit, this block range should work: [0xc5dc00, 0xc614a7]"
)

REFUSALS = [
    rpc_error(-32602, "range 1000000 exceeds limit of 10000"),
    rpc_error(-32005, "query returned more than 10000 results"),
    rpc_error(-32602, ALCHEMY),
    rpc_error(-32600, "You can make eth_getLogs requests with up to a 500 block range."),
    rpc_error(-32614, "eth_getLogs is limited to a 10,000 range"),
    rpc_error(
        -32000, "block range is larger than max block range, block range = 5120, max block range = 5000"
    ),
    rpc_error(-32602, "invalid params", {"payload": "range 9009594 is bigger than range limit 2000"}),
    rpc_error(-32600, "block range too high"),
    rpc_error(-32000, "exceed maximum block range: 5000"),
    rpc_error(-32000, "block range is too wide"),
    rpc_error(-32000, "query timeout exceeded"),
    rpc_error(-32603, "Log response size exceeded. Please reduce query block range."),
    requests.ReadTimeout("read timed out"),
]

NOT_REFUSALS = [
    rpc_error(-32000, "header not found"),
    rpc_error(-32601, "the method eth_getLogs does not exist/is not available"),
    rpc_error(-32005, "daily request count exceeded, request rate limited"),
    rpc_error(429, "Too Many Requests"),
    rpc_error(-32602, "invalid argument 0: hex string without 0x prefix"),
    requests.ConnectionError("connection refused"),
]


@pytest.mark.parametrize("exc", REFUSALS, ids=lambda e: str(e)[:40])
def test_provider_refusals_are_recognised(exc: Exception) -> None:
    assert is_range_refusal(exc)


@pytest.mark.parametrize("exc", NOT_REFUSALS, ids=lambda e: str(e)[:40])
def test_other_errors_are_not_taken_for_a_range_refusal(exc: Exception) -> None:
    assert not is_range_refusal(exc)


def test_an_http_413_is_a_refusal() -> None:
    response = requests.Response()
    response.status_code = 413
    assert is_range_refusal(requests.HTTPError("413 Client Error: Payload Too Large", response=response))
    response.status_code = 502
    assert not is_range_refusal(requests.HTTPError("502 Server Error", response=response))


def test_the_range_a_provider_suggests_is_taken_only_from_where_we_asked() -> None:
    exc = rpc_error(-32602, ALCHEMY)
    assert suggested_size(exc, 0xC5DC00) == 0xC614A7 - 0xC5DC00 + 1
    assert suggested_size(exc, 0xC5DC01) is None  # a range for another start says nothing of ours
    assert suggested_size(rpc_error(-32602, "range 1000000 exceeds limit of 10000"), 0) is None


@pytest.mark.parametrize(("chunk", "max_chunk", "refusals"), [(0, 10, 3), (20, 10, 3), (5, 10, 0)])
def test_a_scanner_with_impossible_sizes_is_refused(chunk: int, max_chunk: int, refusals: int) -> None:
    from web3 import Web3

    with pytest.raises(ValueError, match="must be"):
        LogScanner(Web3(), chunk=chunk, max_chunk=max_chunk, max_refusals=refusals)


def test_a_transport_error_is_described_without_its_url() -> None:
    secret = "abcdef0123456789secret"
    exc = requests.ConnectionError(f"Max retries exceeded with url: /v2/{secret} (Caused by ...)")
    assert secret not in describe(exc)
    assert describe(exc) == "ConnectionError"
    assert describe(rpc_error(-32005, "query returned more than 10000 results")) == (
        "-32005: query returned more than 10000 results"
    )
