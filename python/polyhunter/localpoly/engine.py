"""The matching engine: admits a signed order (market rules, maker gating, signature, cached balance),
matches it price-time against the book of its token, rests what is left, and hands every match to the
settlement worker.

A taker crosses both books of its market, best price for it first, then oldest: COMPLEMENTARY (a BUY
against SELLs of the same token, or the reverse), MINT (a BUY of one outcome against BUYs of the other whose
prices sum to at least 1: the exchange splits collateral) and MERGE (two SELLs whose prices sum to at most 1:
it merges them); one `matchOrders` may mix them. Every fill is at the maker's price (1 - its price for MINT
and MERGE). Every amount is an integer in base units; every price an exact `Fraction`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from polyhunter._core import recover_address
from polyhunter.errors import ChainError
from polyhunter.localpoly import errors as e
from polyhunter.localpoly.balances import COLLATERAL, BalanceCache
from polyhunter.localpoly.book import OrderBook, RestingOrder
from polyhunter.localpoly.config import ClobSettings
from polyhunter.localpoly.errors import ClobApiError, bad_request
from polyhunter.localpoly.onchain import ChainGateway
from polyhunter.localpoly.orders import (
    MarketRules,
    OrderRequest,
    Side,
    SignedOrder,
    check_marketable_buy,
    check_rules,
    exchange_domain_separator,
    shares_text,
)
from polyhunter.localpoly.trades import Trade, capped_fee, taker_fee
from polyhunter.localpoly.world import ClobMarket, ClobWorld

log = logging.getLogger(__name__)

#: Shares below this (1/100 of a share) are dust: an order with less left is done.
DUST_SHARES = 10_000
#: secp256k1's n / 2: the exchange's `_recover` refuses a larger s (a malleable twin of a valid signature).
HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

MatchType = Literal["COMPLEMENTARY", "MINT", "MERGE"]


@dataclass
class Fill:
    """One maker order's part of a match, in base units."""

    maker: RestingOrder
    shares: int  # tokens that change hands
    collateral: int  # collateral that changes hands (before fees)
    maker_fill: int  # in the maker order's maker-amount terms
    taker_part: int  # in the taker order's maker-amount terms
    price: Fraction  # per share of the taker's token: the maker's price, or 1 - it for MINT and MERGE
    kind: MatchType = "COMPLEMENTARY"


@dataclass(eq=False)
class Settlement:
    """One `matchOrders` call: a taker order against the maker orders it filled."""

    market: ClobMarket
    exchange: str
    taker: RestingOrder
    fills: list[Fill]
    taker_fill: int
    taker_fee: int
    trades: list[Trade]
    attempts: int = 0


Listener = Callable[[Settlement, bool], Awaitable[None]]


class MatchEngine:
    """Books, orders and trades of every market of one local world."""

    def __init__(
        self,
        world: ClobWorld,
        settings: Callable[[], ClobSettings],
        chain: ChainGateway,
        balances: BalanceCache,
    ) -> None:
        self.world = world
        self._settings = settings
        self.chain = chain
        self.balances = balances
        self.markets: dict[int, ClobMarket] = {}
        for market in world.markets:
            for token in market.token_ids:
                self.markets[token] = market
        self.books: dict[int, OrderBook] = {token: OrderBook(token) for token in self.markets}
        self.orders: dict[str, RestingOrder] = {}
        self.trades: dict[str, Trade] = {}
        self.last_trade: dict[int, tuple[Fraction, str]] = {}
        self.pending_out: dict[tuple[str, str], int] = {}
        self.settlements: asyncio.Queue[Settlement] = asyncio.Queue()
        self.listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._seq = 0
        self._domains: dict[str, bytes] = {}
        self._wallet_owners: dict[str, str | None] = {}
        self._gtd: set[RestingOrder] = set()
        #: Each exchange's `getMaxFeeRate` (bps of notional), read at start; 0 = no cap, as on chain.
        self.max_fee_bps: dict[str, int] = {}
        #: The engine's clock (unix seconds) for GTD expiry; tests move it instead of sleeping.
        self.clock: Callable[[], float] = time.time

    @property
    def settings(self) -> ClobSettings:
        return self._settings()

    # ------------------------------------------------------------------ lookups

    def market_of(self, token_id: int) -> ClobMarket:
        market = self.markets.get(token_id)
        if market is None:
            raise bad_request(e.NO_ORDERBOOK)
        return market

    def market_by_condition(self, condition_id: str) -> ClobMarket:
        for market in self.world.markets:
            if market.condition_id == condition_id.lower():
                return market
        raise ClobApiError(404, e.MARKET_NOT_FOUND)

    def domain(self, exchange: str) -> bytes:
        if exchange not in self._domains:
            self._domains[exchange] = exchange_domain_separator(exchange, self.world.chain_id)
        return self._domains[exchange]

    async def wallet_owner(self, wallet: str) -> str | None:
        if wallet not in self._wallet_owners:
            self._wallet_owners[wallet] = await self.chain.wallet_owner(wallet)
        return self._wallet_owners[wallet]

    # ------------------------------------------------------------------ admission

    async def _check_maker(self, order: SignedOrder, owner_address: str) -> None:
        settings = self.settings
        if order.signature_type == 0:
            if order.signer != order.maker or order.signer != owner_address:
                raise bad_request(e.SIGNER_NOT_API_KEY)
            if not settings.allow_plain_eoa_makers and order.maker not in settings.eoa_allowlist:
                raise bad_request(e.MAKER_NOT_ALLOWED)
        elif order.signature_type == 3:
            if order.signer != order.maker:
                raise bad_request(e.SIGNER_NOT_API_KEY)
            if await self.wallet_owner(order.maker) != owner_address:
                raise bad_request(e.SIGNER_NOT_API_KEY)
        else:  # proxy and Safe makers: refused in production since 2026-05
            raise bad_request(e.MAKER_NOT_ALLOWED)

    async def _check_signature(self, order: SignedOrder, order_hash: bytes, exchange: str) -> None:
        if order.signature_type == 0:
            try:
                ok = (
                    _canonical_eoa_signature(order.signature)
                    and recover_address(order_hash, order.signature) == order.signer
                )
            except Exception:  # malformed r/s/v: the Rust edge raises InvalidInputError
                ok = False
        else:
            ok = await self.chain.is_valid_signature(order.maker, order_hash, order.signature)
        if not ok:
            raise bad_request(self._signature_error(order, exchange))

    def _signature_error(self, order: SignedOrder, exchange: str) -> str:
        """Production's "invalid signature", made clear when the order was signed for the other exchange
        (the standard one for a neg-risk market, or the reverse): the commonest cause."""
        other = self.world.neg_risk_exchange if exchange == self.world.exchange else self.world.exchange
        other_domain = self.domain(other)
        if order.signature_type == 3:
            # The POLY_1271 wrap carries the exchange domain its owner signed under.
            wrong = order.signature[65:97] == other_domain
        else:
            try:
                wrong = recover_address(order.order_hash(other_domain), order.signature) == order.signer
            except Exception:  # malformed r/s/v: the Rust edge raises InvalidInputError
                wrong = False
        if not wrong:
            return e.INVALID_SIGNATURE
        names = {self.world.exchange: "standard", self.world.neg_risk_exchange: "neg-risk"}
        return e.WRONG_EXCHANGE.format(signed=names[other], expected=names[exchange])

    def _reserved(self, address: str, asset: str) -> int:
        total = self.pending_out.get((address, asset), 0)
        for order in self.orders.values():
            if order.live and order.maker == address and _asset(order.signed) == asset:
                total += order.remaining
        return total

    async def _check_funds(self, order: SignedOrder, exchange: str, needed: int) -> None:
        asset = _asset(order)
        balance = await self.balances.balance(order.maker, asset)
        allowance = await self.balances.allowance(order.maker, asset, exchange)
        reserved = self._reserved(order.maker, asset)
        if balance - reserved < needed or allowance < needed + reserved:
            raise bad_request(e.NOT_ENOUGH_BALANCE)

    # ------------------------------------------------------------------ GTD expiry

    def _check_expiration(self, expiration: int) -> None:
        now = self.clock()
        if expiration <= now:
            raise bad_request(e.EXPIRED)
        minimum = self.settings.gtd_min_lifetime_s
        if expiration < now + minimum:
            raise bad_request(e.EXPIRES_TOO_SOON.format(seconds=minimum))

    def _expired(self, order: RestingOrder, now: float) -> bool:
        # Production expires a GTD order a security threshold before its stated expiration.
        return (
            order.order_type == "GTD"
            and order.expiration > 0
            and order.expiration - self.settings.gtd_security_s <= now
        )

    def tradable(self, order: RestingOrder) -> bool:
        """Live and not past its GTD expiry by the engine's clock: what the book shows and matching takes."""
        return order.live and not self._expired(order, self.clock())

    def _expire_due(self) -> None:
        now = self.clock()
        for order in [o for o in self._gtd if not o.live or self._expired(o, now)]:
            self._gtd.discard(order)
            if order.live:
                order.status = "CANCELED"
                self.books[order.token_id].remove(order)

    async def expire_due(self) -> None:
        """Takes every GTD order past its expiry (less the security threshold) off the book."""
        async with self._lock:
            self._expire_due()

    # ------------------------------------------------------------------ matching

    def _candidates(self, order: SignedOrder) -> Iterator[tuple[RestingOrder, MatchType, Fraction]]:
        """Resting orders `order` crosses, with the match type and the price per share of `order`'s
        token each gives, best price first and oldest first at one price, across both books of the
        market: the same token's opposite side (COMPLEMENTARY) and the complement's same side (a BUY of
        YES at p crosses a BUY of NO at q when p + q >= 1: MINT; two SELLs when p + q <= 1: MERGE)."""
        market = self.markets[order.token_id]
        other = self.books[market.complement(order.token_id)]
        buying = order.side == "BUY"
        own = self.books[order.token_id]
        same: Iterator[tuple[RestingOrder, MatchType, Fraction]] = (
            (o, "COMPLEMENTARY", o.price) for o in own.crossing(order.side, order.price)
        )
        # The complement's book seen from this token: its bids are asks at 1 - q, its asks bids at 1 - q.
        crossing_side: Side = "SELL" if buying else "BUY"
        kind: MatchType = "MINT" if buying else "MERGE"
        cross: Iterator[tuple[RestingOrder, MatchType, Fraction]] = (
            (o, kind, 1 - o.price) for o in other.crossing(crossing_side, 1 - order.price)
        )

        def priority(item: tuple[RestingOrder, MatchType, Fraction]) -> tuple[Fraction, int]:
            return (item[2] if buying else -item[2], item[0].seq)

        return heapq.merge(same, cross, key=priority)

    def _plan(self, order: SignedOrder, remaining: int) -> list[Fill]:
        """Fills for `order` (with `remaining` in its maker terms), best price for it first.

        Matching counts shares: a BUY takes at most its takerAmount in shares and keeps any price
        improvement; a SELL gives at most its remaining tokens."""
        fills: list[Fill] = []
        wanted = _available(order, remaining)
        now = self.clock()
        for maker, kind, price in self._candidates(order):
            if maker.maker == order.maker or not maker.live or self._expired(maker, now):
                continue
            avail = wanted - sum(f.shares for f in fills)
            if avail < DUST_SHARES:
                break
            fill = _fill(order.side, kind, maker, min(avail, maker.available_shares()), price)
            if fill is None:
                break
            fills.append(fill)
        return fills

    async def place(
        self, req: OrderRequest, owner_key: str, owner_address: str, *, check_owner: bool = True
    ) -> dict[str, Any]:
        """Admits, matches and rests one order; the JSON `POST /order` answers with."""
        settings = self.settings
        order = req.order
        if check_owner and req.owner != owner_key:
            raise bad_request("the order owner has to be the owner of the API KEY")
        market = self.market_of(order.token_id)
        rules = MarketRules(market.tick_size, market.min_order_size)
        caps = (
            settings.buy_maker_decimals,
            settings.buy_taker_decimals,
            settings.sell_maker_decimals,
            settings.sell_taker_decimals,
        )
        check_rules(
            order,
            req.order_type,
            rules,
            exact_tick_ratio=settings.exact_tick_ratio,
            market_decimals=caps if settings.enforce_market_decimals else None,
            limit_decimals=caps if settings.enforce_limit_decimals else None,
        )
        if req.order_type == "GTD":
            self._check_expiration(req.expiration)
        await self._check_maker(order, owner_address)
        exchange = self.world.exchange_for(market)
        order_hash = order.order_hash(self.domain(exchange))
        order_id = "0x" + order_hash.hex()
        await self._check_signature(order, order_hash, exchange)
        async with self._lock:
            if order_id in self.orders:
                raise bad_request(e.DUPLICATE_ORDER)
            self._expire_due()
            book = self.books[order.token_id]
            fills = self._plan(order, order.maker_amount)
            if req.post_only and fills:
                raise bad_request(e.POST_ONLY_CROSSES)
            if fills or req.order_type in ("FOK", "FAK"):
                check_marketable_buy(order, settings.min_marketable_buy_usd)
            left = order.shares - sum(f.shares for f in fills)
            # What is left, in maker terms at the order's own ratio (a BUY keeps its price improvement).
            remaining = left if order.side == "SELL" else left * order.maker_amount // order.taker_amount
            if req.order_type == "FOK" and left >= DUST_SHARES:
                raise bad_request(e.FOK_NOT_FILLED)
            if req.order_type == "FAK" and not fills:
                raise bad_request(e.FAK_NO_MATCH)
            fee = sum(self._fee(market, exchange, f) for f in fills)
            rests = req.order_type in ("GTC", "GTD") and left >= DUST_SHARES
            needed = sum(f.taker_part for f in fills) + (remaining if rests else 0)
            needed += fee if order.side == "BUY" else 0
            await self._check_funds(order, exchange, needed)
            self._seq += 1
            taker = RestingOrder(
                order_id=order_id,
                signed=order,
                owner_key=owner_key,
                owner_address=owner_address,
                condition_id=market.condition_id,
                order_type=req.order_type,
                expiration=req.expiration,
                created_at=int(self.clock()),
                seq=self._seq,
                remaining=remaining,
                status="LIVE" if rests else ("MATCHED" if fills else "CANCELED"),
            )
            self.orders[order_id] = taker
            if rests:
                book.add(taker)
                if req.order_type == "GTD":
                    self._gtd.add(taker)
            trades = self._apply(market, exchange, taker, fills, fee) if fills else []
        taking = sum(f.shares if order.side == "BUY" else f.collateral for f in fills)
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": "matched" if fills else "live",
            "makingAmount": shares_text(sum(f.taker_part for f in fills)) if fills else "",
            "takingAmount": shares_text(taking) if fills else "",
            "transactionsHashes": [],
            "tradeIDs": [t.trade_id for t in trades],
        }

    def _apply(
        self, market: ClobMarket, exchange: str, taker: RestingOrder, fills: list[Fill], fee: int
    ) -> list[Trade]:
        trades: list[Trade] = []
        for fill in fills:
            maker = fill.maker
            maker.remaining -= fill.maker_fill
            maker.matched_shares += fill.shares
            taker.matched_shares += fill.shares
            if maker.available_shares() < DUST_SHARES:
                maker.status = "MATCHED"
                self.books[maker.token_id].remove(maker)
            trade = Trade(
                trade_id=str(uuid.uuid4()),
                market=market,
                taker=taker,
                maker=maker,
                shares=fill.shares,
                price=fill.price,
                maker_price=maker.price,
                maker_fill=fill.maker_fill,
                fee=self._fee(market, exchange, fill),
                match_type=fill.kind,
            )
            maker.trade_ids.append(trade.trade_id)
            taker.trade_ids.append(trade.trade_id)
            self.trades[trade.trade_id] = trade
            trades.append(trade)
            self._add_pending(maker.signed, fill.maker_fill, +1)
            self.last_trade[taker.token_id] = (fill.price, taker.side)
            if fill.kind != "COMPLEMENTARY":
                self.last_trade[maker.token_id] = (maker.price, maker.side)
        taker_fill = sum(f.taker_part for f in fills)
        self._add_pending(taker.signed, taker_fill + (fee if taker.side == "BUY" else 0), +1)
        size = self.settings.settle_bucket_makers or len(fills)
        for start in range(0, len(fills), size):
            # Each bucket is one `matchOrders`: the taker's part of its makers, and their fees (the total
            # fee is the sum of the per-fill fees, so the buckets' fees add up to it exactly).
            part = fills[start : start + size]
            part_trades = trades[start : start + size]
            for trade in part_trades:
                trade.bucket_index = start // size
            self.settlements.put_nowait(
                Settlement(
                    market,
                    exchange,
                    taker,
                    part,
                    sum(f.taker_part for f in part),
                    sum(t.fee for t in part_trades),
                    part_trades,
                )
            )
        return trades

    def _fee(self, market: ClobMarket, exchange: str, fill: Fill) -> int:
        """The taker's fee on `fill`, clamped to the exchange's cap on the fill's notional (the collateral
        that changes hands): the sum of the clamped fees stays within the cap on the taker's total, which
        is what `matchOrders` checks."""
        fee = taker_fee(fill.shares, fill.price, market.taker_fee_rate_bps, market.fee_exponent)
        return capped_fee(fee, fill.collateral, self.max_fee_bps.get(exchange, 0))

    def _add_pending(self, order: SignedOrder, amount: int, sign: int) -> None:
        key = (order.maker, _asset(order))
        value = self.pending_out.get(key, 0) + sign * amount
        if value:
            self.pending_out[key] = value
        else:
            self.pending_out.pop(key, None)

    async def settled(self, settlement: Settlement, ok: bool) -> None:
        """Releases what a settlement held and forgets the cached funds of everyone it touched.

        After a FAILED settlement the taker's order is cancelled: it took liquidity that is back on the
        book, so resting what it failed to trade would leave a crossed book, and a retry is the client's
        decision. Each maker is asked again whether the chain would settle it (`validateOrder`, and its
        balance and allowance read afresh): one that it refuses (the likely cause of the failure) is
        cancelled; the others get back what the match took and rest again."""
        async with self._lock:
            taker = settlement.taker
            fee = settlement.taker_fee if taker.side == "BUY" else 0
            self._add_pending(taker.signed, settlement.taker_fill + fee, -1)
            self.balances.forget(taker.maker)
            for fill in settlement.fills:
                self._add_pending(fill.maker.signed, fill.maker_fill, -1)
                self.balances.forget(fill.maker.maker)
            if ok:
                return
            taker.matched_shares -= sum(f.shares for f in settlement.fills)
            if taker.live:
                self.books[taker.token_id].remove(taker)
            if taker.status in ("LIVE", "MATCHED"):
                taker.status = "CANCELED"
            for fill in settlement.fills:
                # The makers' orders were not consumed on chain: their remainder is theirs again.
                maker = fill.maker
                maker.remaining += fill.maker_fill
                maker.matched_shares -= fill.shares
            for maker in dict.fromkeys(f.maker for f in settlement.fills):
                if maker.status not in ("LIVE", "MATCHED"):
                    continue  # cancelled by its owner meanwhile
                refusal = await self._maker_refusal(maker, settlement.exchange)
                if refusal is not None:
                    log.warning(
                        "maker order %s cancelled after a failed settlement: %s", maker.order_id, refusal
                    )
                    if maker.live:
                        self.books[maker.token_id].remove(maker)
                    maker.status = "CANCELED"
                elif maker.status == "MATCHED":
                    maker.status = "LIVE"
                    self.books[maker.token_id].add(maker)
                    if maker.order_type == "GTD":
                        self._gtd.add(maker)

    async def _maker_refusal(self, maker: RestingOrder, exchange: str) -> str | None:
        """Why the chain would not settle `maker`'s remainder now, or None. A node that cannot answer gives
        no verdict: the order keeps its place rather than being cancelled on a guess."""
        try:
            refusal = await self.chain.order_refusal(exchange, maker.signed)
            if refusal is not None:
                return refusal
            asset = _asset(maker.signed)
            await self.balances.refresh(maker.maker, asset)
            balance = await self.balances.balance(maker.maker, asset)
            allowance = await self.balances.allowance(maker.maker, asset, exchange)
        except ChainError as exc:
            log.warning("could not re-validate maker order %s: %s", maker.order_id, exc)
            return None
        # Everything else the maker has resting or in flight, plus this order's remainder.
        needed = self._reserved(maker.maker, asset) + (0 if maker.live else maker.remaining)
        if balance < needed or allowance < needed:
            return f"{e.NOT_ENOUGH_BALANCE} (balance {balance}, allowance {allowance}, needs {needed})"
        return None

    # ------------------------------------------------------------------ cancels

    async def cancel(self, order_ids: list[str], owner_address: str) -> dict[str, Any]:
        """Cancels `owner_address`'s live orders among `order_ids`. It waits for the engine's lock, so it
        never lands while `place` is between planning a fill and handing it to settlement: an order told
        "canceled" can no longer fill."""
        async with self._lock:
            canceled: list[str] = []
            not_canceled: dict[str, str] = {}
            for order_id in order_ids:
                order = self.orders.get(order_id)
                if order is None or order.owner_address != owner_address:
                    not_canceled[order_id] = "Order not found or already canceled"
                elif not order.live:
                    not_canceled[order_id] = "Order already canceled or matched"
                else:
                    order.status = "CANCELED"
                    self.books[order.token_id].remove(order)
                    canceled.append(order_id)
            return {"canceled": canceled, "not_canceled": not_canceled}

    def live_orders_of(self, owner_address: str) -> list[RestingOrder]:
        return [o for o in self.orders.values() if o.live and o.owner_address == owner_address]


def _canonical_eoa_signature(signature: bytes) -> bool:
    """65 bytes with v 27 or 28 and a low s: the only EOA signatures the exchange's `_recover` accepts
    (a recoverer that also takes v 0/1 or a high s would admit orders the chain then refuses)."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return False
    return int.from_bytes(signature[32:64], "big") <= HALF_N


def _asset(order: SignedOrder) -> str:
    return COLLATERAL if order.side == "BUY" else str(order.token_id)


def _available(order: SignedOrder, remaining: int) -> int:
    if order.side == "SELL":
        return remaining
    return remaining * order.taker_amount // order.maker_amount


def decimal_price(price: Fraction) -> Decimal:
    return Decimal(price.numerator) / Decimal(price.denominator)


def _fill(side: Side, kind: MatchType, maker: RestingOrder, shares: int, price: Fraction) -> Fill | None:
    """`shares` of the taker's token against `maker`, in the exchange's fill terms (taking = making ×
    takerAmount / makerAmount, floored); None when rounding leaves nothing to trade."""
    m = maker.signed
    if kind == "COMPLEMENTARY" and side == "BUY":  # maker SELLs the token: fill in tokens, taking collateral
        collateral = shares * m.taker_amount // m.maker_amount
        if collateral == 0:
            return None
        return Fill(maker, shares, collateral, shares, collateral, price, kind)
    if kind == "COMPLEMENTARY":  # maker BUYs the token: its fill is collateral, its taking tokens
        collateral = shares * m.maker_amount // m.taker_amount
        moved = collateral * m.taker_amount // m.maker_amount
        if collateral == 0 or moved == 0:
            return None
        return Fill(maker, moved, collateral, collateral, moved, price, kind)
    if kind == "MINT":
        # The maker pays its collateral for `minted` complement tokens; the taker pays the rest of the
        # split (one pUSD a pair) and gets as many of its own token.
        paid = shares * m.maker_amount // m.taker_amount
        minted = paid * m.taker_amount // m.maker_amount
        if paid == 0 or minted == 0 or minted <= paid:
            return None
        return Fill(maker, minted, minted - paid, paid, minted - paid, price, kind)
    # MERGE: both sides give `shares` tokens; the maker takes its price out of the merged collateral and
    # the taker the rest.
    earned = shares * m.taker_amount // m.maker_amount
    if earned == 0 or earned >= shares:
        return None
    return Fill(maker, shares, shares - earned, shares, shares, price, kind)
