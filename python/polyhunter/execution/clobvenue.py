"""ClobVenue: the venue protocol on Polymarket's CLOB V2 (a signed market order per flow, followed on chain).

A trade is one FOK (or FAK) market order of the worker's trading wallet: its deposit wallet (signature
type 3) or the worker itself (type 0). The order is built and signed in Rust (`MarketOrderBuilder`) at the
worst price the book walk accepts, bounded by `max_slippage_bps` around the leader's price; its exact
bytes and hash are journaled (`ORDER_POSTED`) to every leg before the post, and only those bytes are
ever posted for it. After a 5xx, a timeout or a broken connection nothing is posted before
`ClobClient.resolve` answered; the same bytes go again only when the venue does not know the order.

Settlement is read from the chain: the `OrderFilled` rows of our order hash on its V2 exchange give the
amounts filled, paid and the fee; a fill counts once it has `confirmations` blocks on top. The venue's
trade records (`/data/trades`, rate-limited hard in production) are asked only as a fallback, at most once
per `trades_every_s`: a FAILED trade is `venue_failed` (nothing moved on chain), a CONFIRMED one without
logs yet keeps the poll going. Normal refusals are `Refused` outcomes (see docs/seams.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from eth_abi.abi import decode, encode

from polyhunter._core import (
    TOPIC_ORDER_FILLED_V2,
    ExchangeDomain,
    MarketOrderBuilder,
    SignedMarketOrder,
    Signer,
    market_order_amounts,
)
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deployment import Deployment
from polyhunter.errors import (
    ChainError,
    ConfigError,
    DecodeError,
    ExecutionError,
    GuardrailRejected,
    InvalidInputError,
)
from polyhunter.execution.base import PRICE_SCALE, JobJournal
from polyhunter.execution.fleet import OperatorWallet
from polyhunter.execution.presigned import PresignedOrders, SignInputs
from polyhunter.execution.sender import TxSender
from polyhunter.execution.venues import (
    ORDER_POSTED,
    Failed,
    Fill,
    Order,
    OrderKind,
    Refusal,
    Refused,
    Settlement,
    TradeOutcome,
    split_pro_rata,
)
from polyhunter.models import JournalEntry, Side
from polyhunter.settings import Settings
from polyhunter.venue import (
    BelowMinSize,
    ClobClient,
    DuplicateOrder,
    FakNotFilled,
    FokNotFilled,
    InsufficientBalance,
    MarketableBuyTooSmall,
    MarketClosed,
    OrderBook,
    OrderOutcomeUnknown,
    OrderRefused,
    Placement,
    PreparedOrder,
    Resolution,
    TickSizeViolation,
    VenueError,
    VenueUnavailable,
)
from polyhunter.venue.client import MAX_BATCH_ORDERS
from polyhunter.venue.errors import RetryLater

log = logging.getLogger(__name__)

AmountRule = Literal["cents", "lots", "legacy"]
BPS = 10_000

ERC1271_MAGIC = bytes.fromhex("1626ba7e")
"""ERC-1271 `isValidSignature(bytes32,bytes)`: its selector, which is also the value a wallet answers."""

ENVELOPE_TAG = b"polyhunter-order/1\n"
"""First bytes of a journaled order's envelope: a JSON header line, then the exact bytes posted."""

#: Seconds before a legacy entry's `recorded_at` where the scan for its fills starts (clock skew between
#: this host and the chain's block timestamps).
RECORDED_AT_MARGIN_S = 120


class NotSent(ExecutionError):
    """An order queued for a batch was not sent: its worker's lease was lost while it waited."""


@dataclass(frozen=True)
class LegShare:
    """One leg of a (possibly coalesced) order: its job's key and what it asked, in the flow's weights
    (tokens, collateral): a fill is split among the legs pro rata to these, as the flow splits it."""

    key: bytes
    tokens: int
    collateral: int


@dataclass(frozen=True)
class Envelope:
    """A journaled ORDER_POSTED payload: the exact `body` posted, the chain head when it was signed (the
    order's fills cannot be older: the scan starts there) and the legs it was posted for."""

    body: bytes
    block: int | None = None
    legs: tuple[LegShare, ...] = ()

    def encode(self) -> bytes:
        header = {
            "block": self.block,
            "legs": [[leg.key.hex(), leg.tokens, leg.collateral] for leg in self.legs],
        }
        return ENVELOPE_TAG + json.dumps(header, separators=(",", ":")).encode() + b"\n" + self.body

    @classmethod
    def decode(cls, payload: bytes) -> Envelope:
        """The envelope of `payload`; a bare body (journaled before envelopes) has no block and no legs."""
        if not payload.startswith(ENVELOPE_TAG):
            return cls(payload)
        header, sep, body = payload[len(ENVELOPE_TAG) :].partition(b"\n")
        try:
            if not sep or not body:
                raise ValueError("no body after the header")
            data = json.loads(header)
            block = data["block"]
            legs = tuple(LegShare(bytes.fromhex(k), int(t), int(c)) for k, t, c in data["legs"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(f"journaled order envelope unreadable: {exc}") from None
        return cls(body, None if block is None else int(block), legs)

    @property
    def side(self) -> Side | None:
        """The order's side, from its body (None: unreadable)."""
        try:
            side = json.loads(self.body)["order"]["side"]
        except (ValueError, KeyError, TypeError):
            return None
        if side in ("BUY", 0, "0"):
            return "BUY"
        if side in ("SELL", 1, "1"):
            return "SELL"
        return None


@dataclass(eq=False)
class Queued:
    """An order waiting for its batch's `POST /orders`: `answer` gets its entry of the reply (None: not
    sent, the wallet's lease was lost while it waited)."""

    prepared: PreparedOrder
    wallet: OperatorWallet
    deadline: float
    answer: asyncio.Future[Placement | VenueError | None]


@dataclass(frozen=True)
class MarketMeta:
    """What an order of one token needs from the venue, cached per token for `meta_ttl_s`."""

    token_id: int
    condition_id: str
    tick_ppm: int
    min_shares: int
    neg_risk: bool
    fee_rate_bps: int
    fee_exponent: int
    fetched_at: float


@dataclass(frozen=True)
class OnChainFill:
    """Our order's `OrderFilled` rows summed: maker amount given, taker amount received, fee; the highest
    block they were mined in and their transactions."""

    making: int
    taking: int
    fee: int
    last_block: int
    tx_hashes: tuple[bytes, ...]

    def shares(self, side: Side) -> int:
        """The outcome tokens our order bought (BUY) or sold (SELL)."""
        return self.taking if side == "BUY" else self.making

    def as_fill(self, side: Side, reference: bytes, complete: bool) -> Fill:
        # BUY: making is collateral, taking shares; SELL the reverse.
        shares, collateral = (self.taking, self.making) if side == "BUY" else (self.making, self.taking)
        return Fill(shares, collateral, self.fee, reference, self.tx_hashes, complete)


@dataclass(frozen=True)
class Progress:
    """What the venue says of one order's trades: `state` "failed" (every trade FAILED), "none" (placed,
    matched nothing, no longer live) or "open"; `matched` the shares it matched (None: unknown);
    `trades` (status, transaction hash) of each; `placed` False when the venue does not know the order
    (an unanswered question leaves it True: the order may be placed)."""

    state: Literal["open", "failed", "none"]
    matched: int | None = None
    trades: tuple[tuple[str, str], ...] = ()
    placed: bool = True

    def settled_by(self, tx_hashes: Sequence[bytes]) -> bool:
        """Whether every trade is final and the transaction of each that did not fail is one of
        `tx_hashes` (our confirmed OrderFilled rows): no bucket is still to come. A MINED trade counts once
        its transaction is among them (our own confirmation count applies, not the venue's)."""
        if not self.trades:
            return False
        ours = {"0x" + tx.hex() for tx in tx_hashes}
        for status, tx in self.trades:
            if status == "FAILED":
                continue
            if status not in ("CONFIRMED", "MINED") or tx.lower() not in ours:
                return False
        return True


def progress_of(found: Resolution) -> Progress:
    """The `Progress` of a venue's `Resolution` of our order."""
    if found.order is None:
        return Progress("open", placed=False)
    trades = tuple((t.status.upper(), t.transaction_hash) for t in found.trades)
    statuses = {status for status, _tx in trades}
    if statuses and statuses <= {"FAILED"}:
        return Progress("failed", 0, trades)
    if not trades and order_is_dead(found.order.status, found.order.size_matched):
        return Progress("none", 0, trades)
    return Progress("open", found.order.size_matched or None, trades)


def ppm_of(value: Decimal) -> int:
    """A price or tick as exact ppm of $1 (a value finer than 1 ppm is refused, never rounded)."""
    scaled = value * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise InvalidInputError(f"{value} is finer than 1 ppm")
    return int(scaled)


def worst_price(book: OrderBook, side: Side, amount: int, bound_ppm: int, tick_ppm: int) -> int:
    """The price a market order must accept to fill `amount` (BUY: collateral, SELL: shares) from `book`,
    walked best level first; never beyond `bound_ppm` (the slippage bound). When the book cannot fill it
    within the bound, the bound: a FOK is then killed by the venue, a FAK takes what there is."""
    levels = book.asks if side == "BUY" else book.bids
    left = amount
    for level in levels:
        price = ppm_of(level.price)
        if (side == "BUY" and price > bound_ppm) or (side == "SELL" and price < bound_ppm):
            break
        # Whole shares at this level cost size·price; a BUY budget is collateral.
        left -= level.size * price // PRICE_SCALE if side == "BUY" else level.size
        if left <= 0:
            # A level resting from before a tick change may sit off the current tick: the limit goes onto
            # it outward (a BUY up, a SELL down), which still crosses the level and stays within the bound.
            if side == "BUY":
                return min(-(-price // tick_ppm) * tick_ppm, bound_ppm)
            return max(price // tick_ppm * tick_ppm, bound_ppm)
    return bound_ppm


def slippage_bound(side: Side, price_ppm: int, bps: int, tick_ppm: int) -> int:
    """The leader's price moved by `bps` against us, onto the tick (inward), within (0, 1)."""
    if side == "BUY":
        raw = price_ppm * (BPS + bps) // BPS
        bound = raw // tick_ppm * tick_ppm
        return min(bound, PRICE_SCALE - tick_ppm)
    raw = -(-price_ppm * (BPS - bps) // BPS)
    bound = -(-raw // tick_ppm) * tick_ppm
    return max(bound, tick_ppm)


class ClobVenue:
    """Trades each flow as one CLOB V2 market order of the worker's trading wallet.

    `wallets` maps a worker address to its deposit wallet (needed for signature type 3); `clients` are
    made per worker at `start` (API credentials derived by L1, kept in memory only)."""

    name = "clob"
    trade_step: str = ORDER_POSTED
    journals_legs = True
    """`Flows` passes each leg's weights to `trade` (journaled in the order's envelope)."""

    def __init__(
        self,
        rpc: AsyncRpc,
        host: str,
        chain_id: int,
        *,
        exchange: str,
        neg_risk_exchange: str,
        signature_type: int = 3,
        wallets: dict[str, str] | None = None,
        amount_rule: AmountRule = "cents",
        max_slippage_bps: int = 500,
        confirmations: int = 1,
        deadline_s: float = 60.0,
        poll_s: float = 0.1,
        trades_every_s: float = 2.0,
        meta_ttl_s: float = 300.0,
        client_timeout_s: float = 10.0,
        unavailable_ttl_s: float = 5.0,
        log_window: int = 2_000,
        batch_wait_s: float = 0.05,
    ) -> None:
        if signature_type not in (0, 3):
            raise ConfigError(f"CLOB signature type {signature_type}: the fleet trades with 0 or 3")
        self.rpc = rpc
        self.host = host
        self.chain_id = chain_id
        self.exchanges = (exchange.lower(), neg_risk_exchange.lower())
        self.signature_type = signature_type
        self.wallets = {k.lower(): v.lower() for k, v in (wallets or {}).items()}
        self.amount_rule: AmountRule = amount_rule
        self.max_slippage_bps = max_slippage_bps
        self.confirmations = confirmations
        self.deadline_s = deadline_s
        self.poll_s = poll_s
        self.trades_every_s = trades_every_s
        self.meta_ttl_s = meta_ttl_s
        self.client_timeout_s = client_timeout_s
        if log_window < 1:
            raise ConfigError(f"log window {log_window}: at least one block")
        self.log_window = log_window
        self.clients: dict[str, ClobClient] = {}
        self._builders: dict[tuple[str, str], MarketOrderBuilder] = {}
        self._meta: dict[int, MarketMeta] = {}
        self._public: ClobClient | None = None
        self.unavailable_ttl_s = unavailable_ttl_s
        self._unavailable: tuple[str, float] | None = None
        """The last lasting refusal of a post (cancel-only, trading disabled) and when it was seen."""
        self.posts = 0
        self.signs = 0
        """Orders signed for a trade at the moment of trading (not taken from `presigned`)."""
        self.presigned = PresignedOrders()
        """Orders signed ahead from an early sighting of the leader's fill (`presign`)."""
        self.balance_refreshes = 0
        self.admit_unavailable = 0
        """Copies skipped `venue_unavailable` by `admit` on a recent refusal, nothing pulled."""
        if batch_wait_s < 0:
            raise ConfigError(f"batch wait {batch_wait_s} s: not negative")
        self.batch_wait_s = batch_wait_s
        """The longest an order of an expected job waits for the others before its batch leaves."""
        self.batch_requests = 0
        """`POST /orders` requests sent (each order in them also counts in `posts`)."""
        self.batch_timeouts = 0
        """Batches sent because `batch_wait_s` ran out before every expected job's order was queued."""
        self._expected: set[bytes] = set()
        self._queues: dict[str, list[Queued]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._sends: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    def funds_at(self, wallet: OperatorWallet) -> str:
        """Where a worker's trade funds must be: its deposit wallet (type 3) or the worker itself."""
        if self.signature_type == 0:
            return wallet.address.lower()
        try:
            return self.wallets[wallet.address.lower()]
        except KeyError:
            raise ConfigError(
                f"worker {wallet.address} has no deposit wallet (CLOB_SIGNATURE_TYPE=3)"
            ) from None

    def client_of(self, wallet: OperatorWallet) -> ClobClient:
        client = self.clients.get(wallet.address.lower())
        if client is None:
            client = ClobClient(
                self.host,
                self.chain_id,
                wallet.signer,
                signature_type=self.signature_type,
                funder=self.funds_at(wallet),
                timeout_s=self.client_timeout_s,
                retry_s=self.deadline_s,
            )
            self.clients[wallet.address.lower()] = client
        return client

    async def start(self, wallets: Sequence[OperatorWallet]) -> None:
        """Checks that each worker's deposit wallet accepts its orders, then derives (or creates) each
        worker's API credentials, in memory only."""
        await asyncio.gather(*(self.check_wallet(w) for w in wallets))
        await asyncio.gather(*(self.client_of(w).create_or_derive_api_key() for w in wallets))

    async def check_wallet(self, wallet: OperatorWallet) -> None:
        """Type 3: the worker's deposit wallet must accept an order the worker signs for it, asked of the
        wallet itself (ERC-1271 `isValidSignature` by `eth_call`): a wallet not deployed, owned by another
        key or of another build is found here, before any follower's funds are pulled into it, not by the
        venue's refusal of the first order. The probe can never trade: it is for token id 1, which no
        market registers (the exchange refuses to settle it), with salt and timestamp 0."""
        if self.signature_type != 3:
            return
        deposit = self.funds_at(wallet)
        probe = self._builder(wallet, self.exchanges[0]).build(
            token_id=1,
            side="BUY",
            amount=PRICE_SCALE,
            price_ppm=PRICE_SCALE // 2,
            tick_ppm=PRICE_SCALE // 100,
            salt=0,
            timestamp=0,
        )
        data = ERC1271_MAGIC + encode(["bytes32", "bytes"], [probe.signed.hash, probe.signed.signature])
        try:
            out = await self.rpc.call("eth_call", [{"to": deposit, "data": "0x" + data.hex()}, "latest"])
        except ChainError as exc:
            raise ConfigError(
                f"deposit wallet {deposit} of worker {wallet.address} refused its orders: {exc}"
            ) from None
        answer = bytes.fromhex(str(out or "0x").removeprefix("0x"))
        if answer[:4] != ERC1271_MAGIC:
            raise ConfigError(
                f"deposit wallet {deposit} of worker {wallet.address} does not accept its orders "
                "(not deployed, another owner, or another wallet build): see `polyhunter fleet status`"
            )

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for queued in self._queues.values():  # never sent: recovery finds them unknown to the venue
            for item in queued:
                if not item.answer.done():
                    item.answer.set_result(None)
        self._queues.clear()
        for client in self.clients.values():
            await client.close()
        if self._public is not None:
            await self._public.close()

    def _reader(self) -> ClobClient:
        if self.clients:
            return next(iter(self.clients.values()))
        if self._public is None:
            # Public reads need no key: any signer will do, none is used.
            self._public = ClobClient(self.host, self.chain_id, Signer(secrets.token_bytes(32).hex()))
        return self._public

    # ------------------------------------------------------------------ market data

    async def meta(self, token_id: int, *, fresh: bool = False) -> MarketMeta:
        """Tick, minimum, neg-risk and fee data of `token_id`'s market, cached `meta_ttl_s`."""
        cached = self._meta.get(token_id)
        if cached is not None and not fresh and time.monotonic() - cached.fetched_at < self.meta_ttl_s:
            return cached
        reader = self._reader()
        book = await reader.book(token_id)
        market = await reader.market(book.market)
        meta = MarketMeta(
            token_id=token_id,
            condition_id=market.condition_id,
            tick_ppm=ppm_of(market.tick_size),
            min_shares=ppm_of(market.min_order_size),
            neg_risk=market.neg_risk,
            fee_rate_bps=market.taker_base_fee_bps,
            fee_exponent=market.fee_exponent,
            fetched_at=time.monotonic(),
        )
        self._meta[token_id] = meta
        return meta

    def exchange_of(self, meta: MarketMeta) -> str:
        return self.exchanges[1] if meta.neg_risk else self.exchanges[0]

    async def quote(self, token_id: int, side: Side) -> int | None:
        """The best price we would take: best ask for a BUY, best bid for a SELL."""
        try:
            book = await self._reader().book(token_id)
        except MarketClosed:
            return None
        except VenueError as exc:
            raise ChainError(f"CLOB book of {token_id}: {exc}") from exc
        levels = book.asks if side == "BUY" else book.bids
        return ppm_of(levels[0].price) if levels else None

    async def admit(self, order: Order) -> Refused | None:
        """Closed market, cancel-only or disabled trading, and below the minimum: refused before the pull.

        Production publishes no trading-mode endpoint, so cancel-only and disabled trading are known from
        the last post they refused, for `unavailable_ttl_s`: the copies after it are skipped without a
        pull, and the first post after the window finds out whether the mode has ended."""
        seen = self._unavailable
        if seen is not None:
            age = time.monotonic() - seen[1]
            if age < self.unavailable_ttl_s:
                self.admit_unavailable += 1
                return Refused(Refusal.VENUE_UNAVAILABLE, f"{seen[0]} (a post refused {age:.1f} s ago)")
            self._unavailable = None
        try:
            meta = await self.meta(order.token_id)
        except MarketClosed as exc:
            return Refused(Refusal.MARKET_CLOSED, str(exc))
        except VenueUnavailable as exc:
            return Refused(Refusal.VENUE_UNAVAILABLE, str(exc))
        except VenueError as exc:
            return Refused(Refusal.VENUE_UNAVAILABLE, f"market data: {exc}")
        try:
            price = _on_tick(order.price_ppm, meta.tick_ppm, order.side)
            amounts = market_order_amounts(
                order.side,
                order.collateral if order.side == "BUY" else order.shares,
                price,
                meta.tick_ppm,
                rule=self.amount_rule,
                min_shares=meta.min_shares if order.side == "SELL" else None,
                fee_rate_bps=meta.fee_rate_bps,
                fee_exponent=meta.fee_exponent,
            )
        except InvalidInputError as exc:
            return Refused(Refusal.BELOW_MIN_SIZE, str(exc))
        if amounts.below_minimum:
            return Refused(
                Refusal.BELOW_MIN_SIZE, f"{order.side} {order.collateral}/{order.shares} at {price}"
            )
        return None

    # ------------------------------------------------------------------ trading

    def _builder(self, wallet: OperatorWallet, exchange: str) -> MarketOrderBuilder:
        key = (wallet.address.lower(), exchange)
        builder = self._builders.get(key)
        if builder is None:
            builder = MarketOrderBuilder(
                wallet.signer,
                ExchangeDomain(exchange, self.chain_id),
                maker=self.funds_at(wallet) if self.signature_type == 3 else None,
                signature_type=self.signature_type,
                rule=self.amount_rule,
            )
            self._builders[key] = builder
        return builder

    async def _inputs(self, wallet: OperatorWallet, order: Order, meta: MarketMeta) -> SignInputs:
        """What the order signed now would be made of: the worst price the book walk accepts within the
        slippage bound, and the market's tick, minimum and fee data."""
        side = order.side
        amount = order.collateral if side == "BUY" else order.shares
        bound = slippage_bound(side, order.price_ppm, self.max_slippage_bps, meta.tick_ppm)
        book = await self._reader().book(order.token_id)
        return SignInputs(
            exchange=self.exchange_of(meta),
            token_id=order.token_id,
            side=side,
            amount=amount,
            price_ppm=worst_price(book, side, amount, bound, meta.tick_ppm),
            tick_ppm=meta.tick_ppm,
            min_shares=meta.min_shares if side == "SELL" else None,
            fee_rate_bps=meta.fee_rate_bps,
            fee_exponent=meta.fee_exponent,
        )

    def _signed(self, wallet: OperatorWallet, inputs: SignInputs) -> SignedMarketOrder | Refused:
        side: Side = "BUY" if inputs.side == "BUY" else "SELL"
        try:
            return self._builder(wallet, inputs.exchange).build(
                token_id=inputs.token_id,
                side=side,
                amount=inputs.amount,
                price_ppm=inputs.price_ppm,
                tick_ppm=inputs.tick_ppm,
                salt=secrets.randbits(62),
                timestamp=int(time.time() * 1000),
                min_shares=inputs.min_shares,
                fee_rate_bps=inputs.fee_rate_bps,
                fee_exponent=inputs.fee_exponent,
            )
        except GuardrailRejected as exc:
            return Refused(Refusal.BELOW_MIN_SIZE, str(exc))

    async def _sign(
        self, wallet: OperatorWallet, order: Order, meta: MarketMeta, copies: Sequence[bytes] = ()
    ) -> SignedMarketOrder | Refused:
        """The order signed at the worst price the book walk accepts within the slippage bound; the one
        signed ahead for the jobs `copies` when it is that very order (`presigned`)."""
        inputs = await self._inputs(wallet, order, meta)
        if copies:
            ready = self.presigned.take(copies, wallet.address, inputs)
            if ready is not None:
                return ready
        self.signs += 1
        return self._signed(wallet, inputs)

    async def presign(
        self, fill: bytes, configs: Sequence[int], wallet: OperatorWallet, order: Order, until_block: int
    ) -> bool:
        """Signs ahead the order `trade` would post now for `configs`' copies of `fill` from `wallet`, and
        keeps it in `presigned` until `until_block` (nothing is posted). False when no order would be
        signed (market closed, below the minimum, venue errors: the job will find out itself)."""
        try:
            meta = await self.meta(order.token_id)
            inputs = await self._inputs(wallet, order, meta)
        except VenueError as exc:
            log.debug("pre-sign for token %d skipped: %s", order.token_id, exc)
            return False
        signed = self._signed(wallet, inputs)
        if isinstance(signed, Refused):
            return False
        self.presigned.put(fill, configs, wallet.address, inputs, signed, until_block)
        return True

    async def _build(
        self, wallet: OperatorWallet, order: Order, meta: MarketMeta, copies: Sequence[bytes] = ()
    ) -> PreparedOrder | Refused:
        signed = await self._sign(wallet, order, meta, copies)
        if isinstance(signed, Refused):
            return signed
        kind: Literal["FOK", "FAK"] = "FAK" if order.kind is OrderKind.FAK else "FOK"
        return self.client_of(wallet).prepare(signed.order, signed.signed, order_type=kind)

    async def sign(self, wallet: OperatorWallet, order: Order) -> SignedMarketOrder | Refused:
        """The order `trade` would post now, signed and not posted (DRY_RUN): no API key, no journal."""
        try:
            meta = await self.meta(order.token_id)
        except MarketClosed as exc:
            return Refused(Refusal.MARKET_CLOSED, str(exc))
        return await self._sign(wallet, order, meta)

    async def trade(
        self,
        wallet: OperatorWallet,
        order: Order,
        journals: Sequence[JobJournal],
        legs: Sequence[tuple[bytes, int, int]] = (),
    ) -> TradeOutcome:
        """`legs` (per job: its key and the flow's weights, tokens and collateral asked) are journaled with
        the order, so that recovery can split an interrupted coalesced order's fill as the flow would. An
        order of jobs announced by `expect` is posted in a batch with the others' (`POST /orders`)."""
        keys = [k for k, _t, _c in legs]
        if not keys:  # a flow that passes no legs (the Smart Buffer's): its jobs are its journals' keys
            keys = [key for key in (getattr(j, "key", None) for j in journals) if isinstance(key, bytes)]
        try:
            return await self._trade(wallet, order, journals, legs, keys)
        finally:
            self.arrived(keys)  # its order left, or never will: the others need not wait for it

    async def _trade(
        self,
        wallet: OperatorWallet,
        order: Order,
        journals: Sequence[JobJournal],
        legs: Sequence[tuple[bytes, int, int]],
        keys: Sequence[bytes],
    ) -> TradeOutcome:
        deadline = time.monotonic() + self.deadline_s
        client = self.client_of(wallet)
        try:
            meta = await self.meta(order.token_id)
            built = await self._build(wallet, order, meta, [k for k, _t, _c in legs])
        except MarketClosed as exc:
            return Refused(Refusal.MARKET_CLOSED, str(exc))
        except VenueError as exc:
            return Failed(f"before posting: {exc}")
        if isinstance(built, Refused):
            return built
        exchange = self.exchange_of(meta)
        try:
            start_block = await self._block()
        except ChainError as exc:  # nothing journaled or posted yet: the pull can go back
            return Failed(f"before posting: {exc}")
        envelope = Envelope(built.body, start_block, tuple(LegShare(k, t, c) for k, t, c in legs))
        await _journal(journals, wallet.address, built, envelope)
        batched = any(k in self._expected for k in keys)
        outcome, posted, matched = await self._post(
            client, envelope, built, order, deadline, wallet, journals, keys if batched else None
        )
        if outcome is not None:
            return outcome
        # `posted` may be a successor signed after a tick-size refusal, on the same exchange.
        return await self._follow(client, posted, order, exchange, start_block, deadline, matched)

    async def _post(
        self,
        client: ClobClient,
        envelope: Envelope,
        prepared: PreparedOrder,
        order: Order,
        deadline: float,
        wallet: OperatorWallet,
        journals: Sequence[JobJournal],
        batch: Sequence[bytes] | None = None,
    ) -> tuple[TradeOutcome | None, PreparedOrder, int | None]:
        """Posts the order; (None, the order placed, the shares the venue said it matched, None when it did
        not say) when it was placed (follow it), else (the outcome, the last order tried, None). Only
        `prepared`'s bytes are re-sent; a tick-size refusal (nothing placed) is the one case that signs a
        new order. Once a send's outcome was unknown, no later answer proves that send did not place the
        order (the venue may place it late), so any exit but "placed" is unknown too. `batch` (the keys of
        its jobs): the first send waits for the orders of the other jobs `expect`ed and leaves with them;
        its entry of the batch's answer is handled exactly as the answer to a post of its own."""
        outcome, prepared, uncertain, matched = await self._post_attempts(
            client, envelope, prepared, order, deadline, wallet, journals, batch
        )
        if outcome is None or not uncertain or (isinstance(outcome, Failed) and outcome.unknown):
            return outcome, prepared, matched
        if isinstance(outcome, Failed):
            detail = outcome.detail
        elif isinstance(outcome, Refused):
            detail = f"{outcome.reason.value}: {outcome.detail}"
        else:  # a fill is only ever followed, never returned by a post
            return outcome, prepared, None
        return Failed(f"{detail}; an earlier send's outcome is unknown", unknown=True), prepared, None

    async def _post_attempts(
        self,
        client: ClobClient,
        envelope: Envelope,
        prepared: PreparedOrder,
        order: Order,
        deadline: float,
        wallet: OperatorWallet,
        journals: Sequence[JobJournal],
        batch: Sequence[bytes] | None = None,
    ) -> tuple[TradeOutcome | None, PreparedOrder, bool, int | None]:
        """`_post`'s attempts; the flag: some send's outcome was unknown; the shares matched (None:
        not said)."""
        refreshed = retick = uncertain = False
        while True:
            if not wallet.may_send():  # another instance may own the wallet now: it must not sign twice
                return (
                    Failed(f"wallet {wallet.address}: lease lost, not posting", unknown=True),
                    prepared,
                    True,
                    None,
                )
            try:
                if batch is not None:
                    # Only the first send joins a batch: a re-send (after an unknown outcome resolved as
                    # not placed, a re-tick or a balance refresh) is rare and goes alone.
                    keys, batch = batch, None
                    placement = await self._post_in_batch(prepared, wallet, deadline, keys)
                else:
                    self.posts += 1
                    placement = await client.post_order(prepared, deadline=deadline)
                self._unavailable = None
                # The shares matched, when the answer says (a "delayed" answer carries no amounts).
                matched = placement.taking if order.side == "BUY" else placement.making
                known = placement.status.lower() == "matched" and matched > 0
                return None, prepared, uncertain, matched if known else None
            except NotSent:  # the lease was lost while the order waited for its batch: as above
                return (
                    Failed(f"wallet {wallet.address}: lease lost, not posting", unknown=True),
                    prepared,
                    True,
                    None,
                )
            except OrderOutcomeUnknown as exc:
                uncertain = True
                placed = await self._resolve_placed(client, prepared, deadline)
                if placed is None:
                    return (
                        Failed(f"post: {exc}; the venue's answer is still unknown", unknown=True),
                        prepared,
                        True,
                        None,
                    )
                if placed:
                    return None, prepared, True, None
                if time.monotonic() >= deadline:
                    return (
                        Failed(f"post: {exc}; not placed yet, deadline reached", unknown=True),
                        prepared,
                        True,
                        None,
                    )
                continue  # not placed (yet): the same bytes again
            except DuplicateOrder:
                return None, prepared, uncertain, None  # an earlier send of these bytes placed it
            except FokNotFilled as exc:
                return Refused(Refusal.FOK_NOT_FILLED, exc.message), prepared, uncertain, None
            except FakNotFilled as exc:
                return Refused(Refusal.FAK_NOT_FILLED, exc.message), prepared, uncertain, None
            except (BelowMinSize, MarketableBuyTooSmall) as exc:
                return Refused(Refusal.BELOW_MIN_SIZE, exc.message), prepared, uncertain, None
            except MarketClosed as exc:
                return Refused(Refusal.MARKET_CLOSED, exc.message), prepared, uncertain, None
            except InsufficientBalance as exc:
                if refreshed:
                    return Failed(f"post: {exc} after a balance refresh"), prepared, uncertain, None
                refreshed = True
                await self._refresh(client, order)
            except TickSizeViolation as exc:
                if retick or uncertain:  # a new order beside bytes that may still be placed could trade twice
                    return Failed(f"post: {exc}"), prepared, uncertain, None
                retick = True
                built = await self._build(wallet, order, await self.meta(order.token_id, fresh=True))
                if isinstance(built, Refused):
                    return built, prepared, uncertain, None
                prepared = built
                await _journal(journals, wallet.address, prepared, replace(envelope, body=built.body))
            except VenueUnavailable as exc:
                if not exc.retryable:  # cancel-only or disabled: it lasts, so `admit` remembers it
                    self._unavailable = (exc.message, time.monotonic())
                return Refused(Refusal.VENUE_UNAVAILABLE, exc.message), prepared, uncertain, None
            except RetryLater as exc:  # 425/429 past the job's deadline: certainly not placed
                return Failed(f"post: {exc}"), prepared, uncertain, None
            except OrderRefused as exc:
                return Failed(f"post refused: {exc}"), prepared, uncertain, None
            except VenueError as exc:
                return Failed(f"post: {exc}", unknown=True), prepared, uncertain, None

    # ------------------------------------------------------------------ batched posts

    def expect(self, keys: Iterable[bytes]) -> None:
        """Jobs `keys` are about to trade at once (an engine's `execute_many`): the order of each, once
        journaled, waits for the other jobs' (at most `batch_wait_s`), and a worker's orders leave
        together, `MAX_BATCH_ORDERS` per `POST /orders`. A job is no longer waited for once its order is
        queued, once its trade ends without one, or once `arrived` is called for it (its execution ended
        before any trade: refused, skipped, failed before the order)."""
        self._expected.update(keys)

    def arrived(self, keys: Iterable[bytes]) -> None:
        """Jobs `keys` are no longer on their way to a post; when no expected job is, every queued order
        leaves at once."""
        if not self._expected:
            return
        self._expected.difference_update(keys)
        if not self._expected:
            for address in list(self._queues):
                self._flush(address)

    async def _post_in_batch(
        self, prepared: PreparedOrder, wallet: OperatorWallet, deadline: float, keys: Sequence[bytes]
    ) -> Placement:
        """Queues the (journaled) order for its worker's next batch and gives back its entry of the answer:
        the `Placement`, else the error it raises as `ClobClient.post_order` would; `NotSent` when the
        worker's lease was lost before the batch left."""
        address = wallet.address.lower()
        item = Queued(prepared, wallet, deadline, asyncio.get_running_loop().create_future())
        self._queues.setdefault(address, []).append(item)
        self.arrived(keys)
        queue = self._queues.get(address)
        if queue:
            if len(queue) >= MAX_BATCH_ORDERS or not self._expected:
                self._flush(address)
            elif address not in self._timers:
                self._timers[address] = asyncio.get_running_loop().call_later(
                    self.batch_wait_s, self._flush_late, address
                )
        answer = await item.answer
        if answer is None:
            raise NotSent(f"order {prepared.order_hash}: wallet {wallet.address} lease lost before its batch")
        if isinstance(answer, VenueError):
            raise answer
        return answer

    def _flush_late(self, address: str) -> None:
        self._timers.pop(address, None)
        self.batch_timeouts += 1
        self._flush(address)

    def _flush(self, address: str) -> None:
        """Sends every order queued for worker `address`, `MAX_BATCH_ORDERS` per request."""
        timer = self._timers.pop(address, None)
        if timer is not None:
            timer.cancel()
        queued = [q for q in self._queues.pop(address, []) if not q.answer.done()]
        for start in range(0, len(queued), MAX_BATCH_ORDERS):
            task = asyncio.create_task(self._send_batch(queued[start : start + MAX_BATCH_ORDERS]))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _send_batch(self, queued: Sequence[Queued]) -> None:
        """One request for `queued` (one worker's orders): `POST /orders`, or `POST /order` for a single
        one; each order's waiter gets its own entry. Every waiter is answered, whatever happens here."""
        sendable: list[Queued] = []
        for item in queued:
            if item.wallet.may_send():
                sendable.append(item)
            elif not item.answer.done():  # another instance may own the wallet now: it must not sign twice
                item.answer.set_result(None)
        answers: list[Placement | VenueError] = []
        try:
            if not sendable:
                return
            client = self.client_of(sendable[0].wallet)
            self.posts += len(sendable)
            if len(sendable) == 1:
                try:
                    answers = [await client.post_order(sendable[0].prepared, deadline=sendable[0].deadline)]
                except VenueError as exc:
                    answers = [exc]
            else:
                self.batch_requests += 1
                answers = await client.post_orders(
                    [q.prepared for q in sendable], deadline=min(q.deadline for q in sendable)
                )
        except Exception as exc:  # a defect or a cancellation here: whether the request left is unknown
            log.exception("batch of %d orders: post failed", len(sendable))
            cause = VenueError(f"batch post: {type(exc).__name__}: {exc}")
            answers = [OrderOutcomeUnknown(q.prepared.order_hash, q.prepared.body, cause) for q in sendable]
        finally:
            if len(answers) != len(sendable):
                cause = VenueError("batch post interrupted")
                answers = [
                    OrderOutcomeUnknown(q.prepared.order_hash, q.prepared.body, cause) for q in sendable
                ]
            for item, answer in zip(sendable, answers, strict=True):
                if not item.answer.done():
                    item.answer.set_result(answer)

    async def _refresh(self, client: ClobClient, order: Order) -> None:
        self.balance_refreshes += 1
        if order.side == "BUY":
            await client.update_balance_allowance("COLLATERAL")
        else:
            await client.update_balance_allowance("CONDITIONAL", order.token_id)

    async def _resolve_placed(
        self, client: ClobClient, prepared: PreparedOrder, deadline: float
    ) -> bool | None:
        """Whether the venue placed `prepared` (None: it would not say before `deadline`)."""
        while True:
            try:
                return (await client.resolve(prepared.order_hash, deadline=deadline)).placed
            except VenueError:
                if time.monotonic() + self.poll_s >= deadline:
                    return None
                await asyncio.sleep(self.poll_s)

    async def _follow(
        self,
        client: ClobClient,
        prepared: PreparedOrder,
        order: Order,
        exchange: str,
        from_block: int,
        deadline: float,
        matched: int | None = None,
    ) -> TradeOutcome:
        """Waits until every share the venue matched for our order is in its OrderFilled rows with
        `confirmations` blocks on top (or the venue says its trades FAILED). Production may settle one match
        in several transactions (buckets): a first row is not the whole fill. `matched` (shares, from the
        post's answer) is the target; without it, or when the rows fall short of it, the trade records say
        when every bucket is final (asked at most once per `trades_every_s`: production limits them hard)."""
        reference = bytes.fromhex(prepared.order_hash[2:])
        start = time.monotonic()
        last_ask = -float("inf")
        while True:
            try:
                head = await self._block()
                filled = await self.fills(exchange, reference, from_block, head)
            except ChainError as exc:
                log.warning("order %s: chain read failed: %s", prepared.order_hash, exc)
                filled, head = None, 0
            confirmed = filled is not None and head - filled.last_block + 1 >= self.confirmations
            if (
                filled is not None
                and confirmed
                and matched is not None
                and filled.shares(order.side) >= matched
            ):
                return filled.as_fill(order.side, reference, self._is_complete(order, filled))
            now = time.monotonic()
            # Nothing on chain yet: the records only after a while (the rows usually come first); a
            # confirmed fill whose target is unknown or not reached: at once, then throttled.
            due = now - start >= self.trades_every_s if filled is None else confirmed
            if due and now - last_ask >= self.trades_every_s:
                last_ask = now
                progress = await self._progress(client, prepared.order_hash, deadline)
                if filled is None and progress.state == "failed":
                    return Refused(Refusal.VENUE_FAILED, f"order {prepared.order_hash}: settlement failed")
                if filled is None and progress.state == "none":
                    return Refused(
                        Refusal.FAK_NOT_FILLED if order.kind is OrderKind.FAK else Refusal.FOK_NOT_FILLED,
                        f"order {prepared.order_hash}: placed, nothing matched",
                    )
                if filled is not None and confirmed and progress.settled_by(filled.tx_hashes):
                    return filled.as_fill(order.side, reference, self._is_complete(order, filled))
                if progress.matched is not None:
                    matched = progress.matched
            if now + self.poll_s >= deadline:
                return Failed(f"order {prepared.order_hash}: not settled within the deadline", unknown=True)
            await asyncio.sleep(self.poll_s)

    def _is_complete(self, order: Order, filled: OnChainFill) -> bool:
        return order.kind is OrderKind.FOK or _complete(order, filled)

    async def _progress(self, client: ClobClient, order_hash: str, deadline: float) -> Progress:
        """What the venue says of our order's trades (an unanswered question is "open")."""
        try:
            found = await client.resolve(order_hash, deadline=deadline)
        except VenueError:
            return Progress("open")
        return progress_of(found)

    async def fills(
        self, exchange: str, order_hash: bytes, from_block: int = 0, head: int | None = None
    ) -> OnChainFill | None:
        """Our order's OrderFilled rows on `exchange` from `from_block` to `head` (default: the chain's),
        summed (None: none yet); read in windows of `log_window` blocks, as RPC providers cap a range."""
        rows = await self._order_rows(exchange, order_hash, from_block, head)
        if not rows:
            return None
        making = taking = fee = last = 0
        txs: list[bytes] = []
        for entry in rows:
            _side, _token, made, took, paid, _builder, _meta = decode(
                ["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"],
                bytes.fromhex(str(entry["data"]).removeprefix("0x")),
            )
            making, taking, fee = making + made, taking + took, fee + paid
            last = max(last, int(entry["blockNumber"], 16))
            tx = bytes.fromhex(str(entry["transactionHash"]).removeprefix("0x"))
            if tx not in txs:
                txs.append(tx)
        return OnChainFill(making, taking, fee, last, tuple(txs))

    async def _order_rows(
        self, exchange: str, order_hash: bytes, from_block: int, head: int | None = None
    ) -> list[dict[str, Any]]:
        end = await self._block() if head is None else head
        rows: list[dict[str, Any]] = []
        for low in range(from_block, end + 1, self.log_window):
            logs = await self.rpc.call(
                "eth_getLogs",
                [
                    {
                        "address": exchange,
                        "fromBlock": hex(low),
                        "toBlock": hex(min(low + self.log_window - 1, end)),
                        "topics": [TOPIC_ORDER_FILLED_V2, "0x" + order_hash.hex()],
                    }
                ],
            )
            rows.extend(e for e in logs or [] if not e.get("removed"))
        return rows

    async def _block(self) -> int:
        return int(await self.rpc.call("eth_blockNumber", []), 16)

    # ------------------------------------------------------------------ recovery

    async def _scan_from(self, entry: JournalEntry) -> int:
        """The first block an entry's fills can be in: the head journaled with the order, else (an entry
        journaled before envelopes) the block at its `recorded_at` less a margin; never block 0 by default."""
        envelope = Envelope.decode(entry.payload)
        if envelope.block is not None:
            return envelope.block
        return await self.block_at(entry.recorded_at // 1000 - RECORDED_AT_MARGIN_S)

    async def block_at(self, timestamp: int) -> int:
        """The first block whose timestamp is at least `timestamp` (the head if none): a binary search."""
        low, high = 0, await self._block()
        while low < high:
            mid = (low + high) // 2
            block = await self.rpc.call("eth_getBlockByNumber", [hex(mid), False])
            if block is None:
                raise ChainError(f"block {mid} is not served by the node")
            if int(block["timestamp"], 16) < timestamp:
                low = mid + 1
            else:
                high = mid
        return low

    async def resolve(self, entry: JournalEntry, nonces: dict[str, int]) -> Settlement:
        """An ORDER_POSTED entry: ok when its OrderFilled rows (either exchange, scanned from the block the
        order was signed at) have `confirmations` blocks on top and no bucket of it is still to come (the
        venue's trades all final, or its matched shares all on chain); void when the venue does not know
        the order or it matched nothing; reverted when its trades FAILED; else pending."""
        reference = entry.tx_hash
        start = await self._scan_from(entry)
        head = await self._block()
        found: tuple[str, OnChainFill] | None = None
        for exchange in self.exchanges:
            filled = await self.fills(exchange, reference, start, head)
            if filled is not None:
                found = (exchange, filled)
                break
        if found is not None and head - found[1].last_block + 1 < self.confirmations:
            return Settlement("pending", reference)
        client = self.clients.get(entry.wallet.lower())
        if client is None:
            # No client for the wallet (it left the fleet): the chain alone says what happened.
            return Settlement("ok" if found is not None else "pending", reference)
        progress = await self._progress(client, "0x" + reference.hex(), time.monotonic() + self.deadline_s)
        if found is not None:
            exchange, filled = found
            side = Envelope.decode(entry.payload).side or await self._side_of(exchange, reference, start)
            whole = progress.matched is not None and filled.shares(side) >= progress.matched
            if whole or progress.settled_by(filled.tx_hashes):
                return Settlement("ok", reference)
            return Settlement("pending", reference)
        if progress.state == "failed":
            return Settlement("reverted", reference)
        if progress.state == "none" or not progress.placed:
            return Settlement("void", reference)
        return Settlement("pending", reference)

    async def fill_of(self, entry: JournalEntry) -> Fill | None:
        """What a journaled order moved, from its OrderFilled rows (either exchange, scanned from the block
        it was signed at); None: nothing."""
        start = await self._scan_from(entry)
        for exchange in self.exchanges:
            filled = await self.fills(exchange, entry.tx_hash, start)
            if filled is not None:
                side = Envelope.decode(entry.payload).side or await self._side_of(
                    exchange, entry.tx_hash, start
                )
                return filled.as_fill(side, entry.tx_hash, True)
        return None

    async def _side_of(self, exchange: str, order_hash: bytes, from_block: int) -> Side:
        rows = await self._order_rows(exchange, order_hash, from_block)
        raw = bytes.fromhex(str(rows[0]["data"]).removeprefix("0x"))
        return "BUY" if int.from_bytes(raw[:32], "big") == 0 else "SELL"


TERMINAL_STATUSES = frozenset({"CANCELED", "UNMATCHED", "INVALID", "CANCELED_MARKET_RESOLVED"})
"""Order statuses after which an order can no longer match (any other, e.g. DELAYED, may match later)."""


def order_is_dead(status: str, size_matched: int) -> bool:
    """Whether an order the venue knows matched nothing and never will: a terminal status (with or
    without the `ORDER_STATUS_` prefix, any case) and nothing matched. Production answers DELAYED (and
    other non-terminal statuses) for marketable orders that match seconds later: those stay open."""
    name = status.strip().upper().removeprefix("ORDER_STATUS_")
    return name in TERMINAL_STATUSES and size_matched == 0


def leg_fill(fill: Fill, side: Side, legs: Sequence[LegShare], key: bytes) -> Fill | None:
    """Job `key`'s share of a coalesced order's `fill`, split as the flow splits it (pro rata to what each
    leg asked, rounding units to the largest remainders); None when `key` is not one of `legs`."""
    index = next((i for i, leg in enumerate(legs) if leg.key == key), None)
    if index is None:
        return None
    tokens = [leg.tokens for leg in legs]
    usds = [leg.collateral for leg in legs]
    shares = split_pro_rata(fill.shares, tokens)[index]
    gross = split_pro_rata(fill.collateral, usds)[index]
    moved = split_pro_rata(fill.spent(side), usds)[index]
    # The fee is what makes `spent` equal the leg's moved share (BUY: on top, SELL: taken off).
    fee = moved - gross if side == "BUY" else gross - moved
    return Fill(shares, gross, fee, fill.reference, fill.tx_hashes, fill.complete)


def _on_tick(price_ppm: int, tick_ppm: int, side: Side) -> int:
    """The leader's price onto the tick, inward (a BUY never above it, a SELL never below)."""
    down = price_ppm // tick_ppm * tick_ppm
    price = down if side == "BUY" or down == price_ppm else down + tick_ppm
    return min(max(price, tick_ppm), PRICE_SCALE - tick_ppm)


def _complete(order: Order, filled: OnChainFill) -> bool:
    if order.side == "BUY":
        return filled.making + filled.fee >= order.collateral
    return filled.making >= order.shares


async def _journal(
    journals: Sequence[JobJournal], wallet: str, prepared: PreparedOrder, envelope: Envelope
) -> None:
    """The order's hash and its envelope (exact bytes, head block, legs), durable in every leg's journal
    before the post."""
    order_hash = bytes.fromhex(prepared.order_hash[2:])
    payload = envelope.encode()
    for journal in journals:
        record = getattr(journal, "record_order", None)
        if record is not None:
            await record(wallet, order_hash, payload)
        else:  # until JobJournal.record_order lands: the hash alone (recovery asks the venue by it)
            await journal.record_tx(ORDER_POSTED, wallet, -1, order_hash)


def clob_host(deployment: Deployment, settings: Settings, host: str | None = None) -> str:
    """The CLOB to trade on: `host`, else `CLOB_HOST` (Polymarket's on chain 137), else the deployment's
    local CLOB."""
    url = host or settings.clob_url or deployment.clob_url
    if not url:
        raise ConfigError("COPY_TRADING_VENUE=clob needs CLOB_HOST (or a deployment with a local CLOB)")
    return url


def v2_exchanges(deployment: Deployment) -> tuple[str, str]:
    """The deployment's two V2 exchanges (standard, neg-risk)."""
    c = deployment.contracts
    if c.ctf_exchange_v2 is None or c.neg_risk_exchange_v2 is None:
        raise ConfigError("COPY_TRADING_VENUE=clob: the deployment has no V2 exchanges")
    return c.ctf_exchange_v2, c.neg_risk_exchange_v2


def make_clob_venue(
    deployment: Deployment, settings: Settings, rpc: AsyncRpc, *, host: str | None = None
) -> ClobVenue:
    """A `ClobVenue` for the deployment's V2 exchanges and deposit wallets, configured by `settings`."""
    url = clob_host(deployment, settings, host)
    exchange, neg_risk_exchange = v2_exchanges(deployment)
    return ClobVenue(
        rpc,
        url,
        deployment.chain_id,
        exchange=exchange,
        neg_risk_exchange=neg_risk_exchange,
        signature_type=settings.clob_signature_type,
        wallets=deployment.accounts.deposit_wallets,
        amount_rule=settings.clob_amount_rule,
        max_slippage_bps=settings.copy_trading_max_slippage_bps,
        confirmations=settings.copy_trading_clob_confirmations,
    )


def clob_venue_factory(
    deployment: Deployment, settings: Settings, *, host: str | None = None
) -> Callable[[TxSender], ClobVenue]:
    """`LocalChainEngine(venue=...)` for `COPY_TRADING_VENUE=clob`: the CLOB at `host`, else `CLOB_HOST`,
    else the deployment's local CLOB; exchanges and deposit wallets from the deployment."""
    url = clob_host(deployment, settings, host)
    v2_exchanges(deployment)  # refused at once, not in the first flow

    def build(sender: TxSender) -> ClobVenue:
        return make_clob_venue(deployment, settings, sender.rpc, host=url)

    return build
