"""The async client of Polymarket's CLOB V2: L1/L2 auth, the endpoints the venue needs, typed answers.

One aiohttp session per client. Every L2 request is signed over the exact bytes it sends (serialized
once). Reads and cancels are retried within a deadline (`retry.py`); a post is re-sent only, and only
its same bytes, when the venue refused it before placing anything; after a 5xx, a timeout or a broken
connection it raises `OrderOutcomeUnknown` and `resolve(order_hash)` tells what became of the order.
Credentials live in memory only: no repr, log line or error message shows the secret or the passphrase.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp

from polyhunter import fastjson
from polyhunter._core import OrderV2, SignedTypedData, Signer
from polyhunter.clobauth import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    ApiCreds,
    hmac_signature,
)
from polyhunter.errors import ConfigError, DecodeError, InvalidInputError
from polyhunter.venue import answers
from polyhunter.venue.errors import (
    OrderNotFound,
    OrderOutcomeUnknown,
    ServerError,
    TransportError,
    TransportTimeout,
    Unauthorized,
    VenueError,
)
from polyhunter.venue.hosts import check_host
from polyhunter.venue.orders import OrderType, PreparedOrder, prepare_order
from polyhunter.venue.retry import Clock, Sleep, post_retryable, read_retryable, with_retries
from polyhunter.venue.wire import (
    BalanceAllowance,
    CancelResult,
    MarketInfo,
    OrderBook,
    OrderState,
    Placement,
    TradeRecord,
    decimal_of,
    parse_json,
)

log = logging.getLogger(__name__)

Auth = Literal["none", "l1", "l2"]
AssetType = Literal["COLLATERAL", "CONDITIONAL"]

FIRST_CURSOR = "MA=="
END_CURSOR = "LTE="
MAX_PAGES = 1_000  # a venue that never ends its cursor is a fault, not a reason to loop for ever
SIGNATURE_TYPES = (0, 1, 2, 3)
MAX_BATCH_ORDERS = 15
"""Orders one `POST /orders` may carry (Polymarket's docs: "Maximum 15 orders per request")."""


@dataclass(frozen=True)
class Resolution:
    """What the venue knows of an order: `order` None means it never placed it (the same bytes may be
    posted again); else its state and the trades it took part in."""

    order: OrderState | None
    trades: list[TradeRecord]

    @property
    def placed(self) -> bool:
        return self.order is not None


class ClobClient:
    """One fleet wallet's client of the CLOB at `host`; an async context manager (or call `close`).

    `signer` is the EOA that signs L1 headers and orders; `signature_type` 0 (the EOA trades as itself)
    or 3 (through its deposit wallet, `funder`). `timeout_s` bounds each HTTP request; `retry_s` is the
    default deadline, from a call's start, for the calls given no `deadline` (a `clock()` value)."""

    def __init__(
        self,
        host: str,
        chain_id: int,
        signer: Signer,
        *,
        creds: ApiCreds | None = None,
        signature_type: int = 0,
        funder: str | None = None,
        timeout_s: float = 10.0,
        retry_s: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.host = check_host(host)
        if signature_type not in SIGNATURE_TYPES:
            raise ConfigError(f"CLOB signature type {signature_type} is not one of 0, 1, 2, 3")
        if timeout_s <= 0 or retry_s < 0:
            raise ConfigError("CLOB client: timeout_s must be positive and retry_s not negative")
        self.chain_id = chain_id
        self.signer = signer
        self.signature_type = signature_type
        self.funder = (funder or signer.address).lower()
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._creds = creds
        self._sleep = sleep
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        key = self._creds.api_key if self._creds else None
        return f"ClobClient(host={self.host!r}, address={self.signer.address}, api_key={key!r})"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    # ------------------------------------------------------------------ credentials

    @property
    def creds(self) -> ApiCreds | None:
        """The API credentials in use (their repr shows the key only)."""
        return self._creds

    def set_creds(self, creds: ApiCreds) -> None:
        self._creds = creds

    def _l1_headers(self, nonce: int) -> dict[str, str]:
        timestamp = str(int(time.time()))
        signed = self.signer.sign_clob_auth(self.chain_id, timestamp, nonce)
        return {
            POLY_ADDRESS: self.signer.checksum_address,
            POLY_SIGNATURE: signed.signature_hex,
            POLY_TIMESTAMP: timestamp,
            POLY_NONCE: str(nonce),
        }

    def l2_headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """The L2 headers for `method path` with exactly `body` (the path without its query string).
        They carry the passphrase: never log them."""
        if self._creds is None:
            raise Unauthorized("no API credentials: call derive_api_key or create_api_key first")
        timestamp = str(int(time.time()))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError("an L2 request body must be UTF-8") from None
        return {
            POLY_ADDRESS: self.signer.checksum_address,
            POLY_SIGNATURE: hmac_signature(self._creds.secret, timestamp, method, path, text),
            POLY_TIMESTAMP: timestamp,
            POLY_API_KEY: self._creds.api_key,
            POLY_PASSPHRASE: self._creds.passphrase,
        }

    async def _key(self, method: str, path: str, nonce: int) -> ApiCreds:
        if nonce < 0:
            raise InvalidInputError(f"API key nonce {nonce} is negative")
        data = await self._call(method, path, auth="l1", nonce=nonce)
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("apiKey", "secret", "passphrase")
        ):
            raise DecodeError(f"CLOB {path}: answer is not an API key")
        self._creds = ApiCreds(api_key=data["apiKey"], secret=data["secret"], passphrase=data["passphrase"])
        return self._creds

    async def derive_api_key(self, nonce: int = 0) -> ApiCreds:
        """L1: the API key already created for (this address, `nonce`); kept for the L2 calls."""
        return await self._key("GET", "/auth/derive-api-key", nonce)

    async def create_api_key(self, nonce: int = 0) -> ApiCreds:
        """L1: creates (or, the venue being deterministic, re-issues) the key of (address, `nonce`)."""
        return await self._key("POST", "/auth/api-key", nonce)

    async def create_or_derive_api_key(self, nonce: int = 0) -> ApiCreds:
        """Derives the key; creates it when the venue has none for this nonce yet."""
        try:
            return await self.derive_api_key(nonce)
        except VenueError as error:
            if error.status != 400:
                raise
        return await self.create_api_key(nonce)

    # ------------------------------------------------------------------ transport

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: bytes | None,
        auth: Auth,
        nonce: int,
    ) -> Any:
        headers: dict[str, str] = {}
        if auth == "l1":
            headers.update(self._l1_headers(nonce))
        elif auth == "l2":
            headers.update(self.l2_headers(method, path, body or b""))
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._http().request(
                method, self.host + path, params=params, data=body, headers=headers
            ) as resp:
                raw = await resp.read()
                status = resp.status
                resp_headers = dict(resp.headers)
        except TimeoutError:
            log.debug("%s %s: no answer within %s s", method, path, self.timeout_s)
            raise TransportTimeout(f"{method} {path}: no answer within {self.timeout_s} s") from None
        except aiohttp.ClientError as exc:
            log.debug("%s %s: transport failure %s", method, path, type(exc).__name__)
            raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        log.debug("%s %s -> %s", method, path, status)
        if not 200 <= status < 300:
            raise answers.error_of(status, raw, resp_headers)
        return parse_json(raw)

    def _deadline(self, deadline: float | None) -> float:
        return self._clock() + self.retry_s if deadline is None else deadline

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        auth: Auth = "none",
        nonce: int = 0,
        deadline: float | None = None,
        retryable: Callable[[VenueError], bool] = read_retryable,
    ) -> Any:
        async def once() -> Any:
            return await self._send_once(method, path, params=params, body=body, auth=auth, nonce=nonce)

        return await with_retries(
            once, deadline=self._deadline(deadline), retryable=retryable, sleep=self._sleep, clock=self._clock
        )

    # ------------------------------------------------------------------ public reads

    async def server_time(self, *, deadline: float | None = None) -> int:
        """The venue's clock, unix seconds."""
        data = await self._call("GET", "/time", deadline=deadline)
        if isinstance(data, bool) or not isinstance(data, int):
            raise DecodeError(f"CLOB /time: {data!r} is not an integer")
        return data

    async def version(self, *, deadline: float | None = None) -> int:
        """The order version the venue accepts (2 for CLOB V2)."""
        data = await self._call("GET", "/version", deadline=deadline)
        value = data.get("version") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"CLOB /version: {data!r} has no integer version")
        return value

    async def book(self, token_id: int, *, deadline: float | None = None) -> OrderBook:
        data = await self._call("GET", "/book", params={"token_id": str(token_id)}, deadline=deadline)
        return OrderBook.from_json(data)

    async def tick_size(self, token_id: int, *, deadline: float | None = None) -> Decimal:
        data = await self._call("GET", "/tick-size", params={"token_id": str(token_id)}, deadline=deadline)
        if not isinstance(data, dict):
            raise DecodeError(f"CLOB /tick-size: {data!r} is not an object")
        return decimal_of(data.get("minimum_tick_size"), "minimum_tick_size")

    async def neg_risk(self, token_id: int, *, deadline: float | None = None) -> bool:
        data = await self._call("GET", "/neg-risk", params={"token_id": str(token_id)}, deadline=deadline)
        value = data.get("neg_risk") if isinstance(data, dict) else None
        if not isinstance(value, bool):
            raise DecodeError(f"CLOB /neg-risk: {data!r} has no boolean neg_risk")
        return value

    async def market(self, condition_id: str, *, deadline: float | None = None) -> MarketInfo:
        """`/clob-markets/{condition_id}`: tokens, tick, minimum size, neg-risk, fee data."""
        data = await self._call("GET", f"/clob-markets/{condition_id}", deadline=deadline)
        return MarketInfo.from_json(data)

    # ------------------------------------------------------------------ orders

    def prepare(
        self,
        order: OrderV2,
        signed: SignedTypedData,
        *,
        order_type: OrderType = "FOK",
        post_only: bool = False,
        expiration: int = 0,
    ) -> PreparedOrder:
        """The exact bytes to journal and post for `order` under this client's API key."""
        if self._creds is None:
            raise Unauthorized("no API credentials: call derive_api_key or create_api_key first")
        return prepare_order(
            order,
            signed,
            owner=self._creds.api_key,
            order_type=order_type,
            post_only=post_only,
            expiration=expiration,
        )

    async def post_order(self, order: PreparedOrder, *, deadline: float | None = None) -> Placement:
        """Posts `order.body` as is. Refusals raise their `OrderRefused` class (nothing placed); 425, 429
        and 503-with-a-wait are re-sent, same bytes, within `deadline`; a 5xx, a timeout, a broken
        connection or an unreadable 200 raise `OrderOutcomeUnknown` (ask `resolve(order.order_hash)`)."""
        try:
            data = await self._call(
                "POST", "/order", body=order.body, auth="l2", deadline=deadline, retryable=post_retryable
            )
        except (ServerError, TransportError) as error:
            raise OrderOutcomeUnknown(order.order_hash, order.body, error) from error
        if isinstance(data, dict) and data.get("success") is False:
            raise answers.refusal_of(str(data.get("errorMsg", "")), 400)
        try:
            return Placement.from_json(data)
        except DecodeError as error:
            cause = ServerError(f"unreadable answer to POST /order: {error}", status=200)
            raise OrderOutcomeUnknown(order.order_hash, order.body, cause) from error

    async def post_orders(
        self, orders: Sequence[PreparedOrder], *, deadline: float | None = None
    ) -> list[Placement | VenueError]:
        """Posts up to `MAX_BATCH_ORDERS` orders in one `POST /orders`, each exactly as `post_order` would
        (its `body` bytes unchanged, in a JSON list). One entry per order, in the order given: its
        `Placement`, or the error `post_order` would have raised for it: the order's own refusal (the
        others are unaffected); for a refusal of the whole request (401, cancel-only, a 425/429 past
        `deadline`, ...) that error for each; after a 5xx, a timeout, a broken connection or an answer that
        cannot be matched to the orders, `OrderOutcomeUnknown` for each (ask `resolve`). 425, 429 and
        503-with-a-wait are re-sent, same bytes, within `deadline`: they refuse the request whole."""
        if not orders:
            raise InvalidInputError("POST /orders needs at least one order")
        if len(orders) > MAX_BATCH_ORDERS:
            raise InvalidInputError(f"{len(orders)} orders in one POST /orders: at most {MAX_BATCH_ORDERS}")
        if len({o.order_hash for o in orders}) != len(orders):
            raise InvalidInputError("the same order twice in one POST /orders")
        body = b"[" + b",".join(o.body for o in orders) + b"]"
        try:
            data = await self._call(
                "POST", "/orders", body=body, auth="l2", deadline=deadline, retryable=post_retryable
            )
        except (ServerError, TransportError) as error:
            return [OrderOutcomeUnknown(o.order_hash, o.body, error) for o in orders]
        except VenueError as error:
            return [copy.copy(error) for _ in orders]
        return _batch_answers(orders, data)

    async def order(self, order_id: str, *, deadline: float | None = None) -> OrderState:
        """`/data/order/{id}`; `OrderNotFound` when the venue does not know it for this key."""
        data = await self._call("GET", f"/data/order/{order_id.lower()}", auth="l2", deadline=deadline)
        return OrderState.from_json(data)

    async def _pages(self, path: str, params: dict[str, str], deadline: float | None) -> list[Any]:
        out: list[Any] = []
        cursor = FIRST_CURSOR
        end = self._deadline(deadline)
        for _ in range(MAX_PAGES):
            page = await self._call(
                "GET", path, params={**params, "next_cursor": cursor}, auth="l2", deadline=end
            )
            if isinstance(page, list):  # an unpaginated answer
                return out + page
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise DecodeError(f"CLOB {path}: a page without a data list")
            out.extend(page["data"])
            following = page.get("next_cursor")
            if not isinstance(following, str) or following in ("", END_CURSOR) or following == cursor:
                return out
            cursor = following
        raise DecodeError(f"CLOB {path}: more than {MAX_PAGES} pages; the cursor never ended")

    async def orders(
        self,
        *,
        order_id: str | None = None,
        market: str | None = None,
        asset_id: int | None = None,
        deadline: float | None = None,
    ) -> list[OrderState]:
        """This key's open orders, every page."""
        params = _params(id=order_id, market=market, asset_id=asset_id)
        return [OrderState.from_json(o) for o in await self._pages("/data/orders", params, deadline)]

    async def trades(
        self,
        *,
        trade_id: str | None = None,
        market: str | None = None,
        asset_id: int | None = None,
        maker_address: str | None = None,
        before: int | None = None,
        after: int | None = None,
        deadline: float | None = None,
    ) -> list[TradeRecord]:
        """This key's trades matching the filters, following `next_cursor` to the last page."""
        params = _params(
            id=trade_id,
            market=market,
            asset_id=asset_id,
            maker_address=maker_address,
            before=before,
            after=after,
        )
        return [TradeRecord.from_json(t) for t in await self._pages("/data/trades", params, deadline)]

    async def cancel(self, order_id: str, *, deadline: float | None = None) -> CancelResult:
        """Cancels one order (idempotent, so retried like a read)."""
        body = fastjson.dumps({"orderID": order_id.lower()})
        data = await self._call("DELETE", "/order", body=body, auth="l2", deadline=deadline)
        return CancelResult.from_json(data)

    async def resolve(self, order_hash: str, *, deadline: float | None = None) -> Resolution:
        """What became of an order whose post had no clear answer: its state and trades, or `order=None`
        when the venue does not know it (then, and only then, its same bytes may be posted again)."""
        end = self._deadline(deadline)
        try:
            state = await self.order(order_hash, deadline=end)
        except OrderNotFound:
            return Resolution(None, [])
        trades: list[TradeRecord] = []
        for trade_id in state.trade_ids:
            trades.extend(await self.trades(trade_id=trade_id, deadline=end))
        return Resolution(state, trades)

    # ------------------------------------------------------------------ balances

    def _balance_params(self, asset_type: AssetType, token_id: int | None) -> dict[str, str]:
        if asset_type == "CONDITIONAL" and token_id is None:
            raise InvalidInputError("a CONDITIONAL balance needs its token id")
        if asset_type not in ("COLLATERAL", "CONDITIONAL"):
            raise InvalidInputError(f"asset type {asset_type!r} is not COLLATERAL or CONDITIONAL")
        return _params(asset_type=asset_type, token_id=token_id, signature_type=self.signature_type)

    async def balance_allowance(
        self,
        asset_type: AssetType = "COLLATERAL",
        token_id: int | None = None,
        *,
        deadline: float | None = None,
    ) -> BalanceAllowance:
        """The venue's cached view of this wallet's balance and allowances (may be stale)."""
        params = self._balance_params(asset_type, token_id)
        data = await self._call("GET", "/balance-allowance", params=params, auth="l2", deadline=deadline)
        return BalanceAllowance.from_json(data)

    async def update_balance_allowance(
        self,
        asset_type: AssetType = "COLLATERAL",
        token_id: int | None = None,
        *,
        deadline: float | None = None,
    ) -> BalanceAllowance:
        """Makes the venue re-read the balance from chain (rate-limited hard in production: call it after
        funding the wallet or on an `InsufficientBalance`, never per order)."""
        params = self._balance_params(asset_type, token_id)
        data = await self._call(
            "GET", "/balance-allowance/update", params=params, auth="l2", deadline=deadline
        )
        return BalanceAllowance.from_json(data)


def _batch_answers(orders: Sequence[PreparedOrder], data: Any) -> list[Placement | VenueError]:
    """Each order's entry of a `POST /orders` answer (a list, one object per order, in the order sent).
    An answer that is not such a list leaves every order's outcome unknown; an entry that is neither a
    refusal nor a placement of that very order (its `orderID` is its hash) leaves that order's unknown."""
    if not isinstance(data, list) or len(data) != len(orders):
        got = f"{len(data)} entries" if isinstance(data, list) else type(data).__name__
        cause = ServerError(f"POST /orders answered {got} for {len(orders)} orders", status=200)
        return [OrderOutcomeUnknown(o.order_hash, o.body, cause) for o in orders]
    out: list[Placement | VenueError] = []
    for order, entry in zip(orders, data, strict=True):
        if isinstance(entry, dict) and entry.get("success") is False:
            out.append(answers.refusal_of(str(entry.get("errorMsg", "")), 400))
            continue
        try:
            placement = Placement.from_json(entry)
        except DecodeError as error:
            cause = ServerError(f"unreadable entry of POST /orders: {error}", status=200)
            out.append(OrderOutcomeUnknown(order.order_hash, order.body, cause))
            continue
        if placement.order_id != order.order_hash.lower():
            cause = ServerError(
                f"POST /orders entry is for order {placement.order_id}, not {order.order_hash}", status=200
            )
            out.append(OrderOutcomeUnknown(order.order_hash, order.body, cause))
            continue
        out.append(placement)
    return out


def _params(**values: str | int | None) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}
