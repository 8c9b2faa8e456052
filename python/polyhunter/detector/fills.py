"""One identity per leader fill across sources: the ledger that tells whether a pending order, a feed frame
or an `OrderFilled` row is a fill already seen, a repeat, or a new fill (docs/seams.md, "Fill identity").

The ledger is pure bookkeeping (no I/O, no clock of its own): the supervisor feeds it every priced sighting
and decides from the answer whether to copy, top up, confirm or do nothing.

Rules, in the order they are tried for a sighting of source S of a group G = (maker, token, side) in
transaction T, with order hash H when S names one (a log row's topic 1, a pending order's digest; a feed
frame names none) (docs/seams.md, "Fill identity", says why each holds):
1. The same sighting again (S's own id of it in (T, G): a log's index, a pending order's position, a feed
   frame's (size, price)) is a repeat: nothing to do.
2. The same order: a fill of H with the same amount that S has not sighted in T, the one in T first; a log
   row joins only a fill without a log (one row is one fill), in T or still inside the confirmation window
   anywhere (the match was re-settled or the transaction replaced); a pending order joins one in T or
   inside the window, logged or not (the operator's retry).
3. A fill of (T, G) that S has not yet sighted in T joins, one with the same amount first; otherwise only
   across the one known difference (a MINT taker's calldata understates its shares), and only upwards.
   Never a fill of another order: when both sides name an order hash, they must be equal.
4. Otherwise a fill of G in another transaction with the same amount (and the same order hash where both
   sides know it): for a log row, one without a log whose transactions gave no log (a fill seen only by
   the feed, whose match was re-settled); for a pending order or a feed frame, any fill still in the
   confirmation window (a retry, a stale sighting of a failed attempt).
5. Otherwise it is a new fill, keyed `fill_key(T, G, tokens, k)`, k the number of fills first seen in T,
   of G with those tokens, before it, so every source that sees a fill first computes the same key; an early
   sighting of a new fill in a transaction already logged is `late` and copies nothing.

Merging early sightings of two different fills errs safe: one copy before the logs, and since one log row is
exactly one fill, the second row then makes a fill (and a copy) of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Final

from polyhunter._core import Signal, keccak256

LOG: Final = "log"
MEMPOOL: Final = "mempool"
ACTIVITY: Final = "activity"
KINDS: Final = (MEMPOOL, ACTIVITY, LOG)
"""The sources of a fill, earliest first as they usually arrive."""

FILL_TAG: Final = b"polyhunter-fill/1"
TOP_UP_TAG: Final = b"polyhunter-top-up/1"

Group = tuple[str, int, str]
"""(maker lower-cased, token id, side)."""
SightingId = tuple[bytes, Group, str, tuple[int, ...]]
"""(transaction, group, source kind, the source's own id of the sighting)."""


def kind_of(signal: Signal) -> str:
    """The ledger's source of a signal: `log` for exchange rows (v1, v2), else the signal's source."""
    return LOG if signal.source in ("v1", "v2") else signal.source


def group_of(signal: Signal) -> Group:
    return (signal.leader.lower(), signal.token_id, signal.side)


def fill_key(tx_hash: bytes, group: Group, tokens: int, k: int) -> bytes:
    """keccak256(tag ‖ tx ‖ maker ‖ be256(token) ‖ side ‖ be256(tokens) ‖ be32(k)): the dedup key of a fill
    copied before (or without) its log."""
    maker, token_id, side = group
    return keccak256(
        FILL_TAG
        + bytes(tx_hash)
        + bytes.fromhex(maker.removeprefix("0x"))
        + token_id.to_bytes(32, "big")
        + (b"\x00" if side == "BUY" else b"\x01")
        + tokens.to_bytes(32, "big")
        + k.to_bytes(4, "big")
    )


ALIAS_TAG: Final = b"polyhunter-fill-alias/1"


def _group_bytes(group: Group) -> bytes:
    maker, token_id, side = group
    return (
        bytes.fromhex(maker.removeprefix("0x"))
        + token_id.to_bytes(32, "big")
        + (b"\x00" if side == "BUY" else b"\x01")
    )


def _alias(kind: bytes, *parts: bytes) -> bytes:
    return keccak256(ALIAS_TAG + kind + b"".join(parts))


def order_alias(order_hash: bytes, group: Group, tokens: int) -> bytes:
    """A fill by its order and amount: what a pending order and its row (in any transaction) share."""
    return _alias(b"order", bytes(order_hash), _group_bytes(group), tokens.to_bytes(32, "big"))


def tx_alias(tx_hash: bytes, group: Group, tokens: int) -> bytes:
    """A fill by its transaction, group and amount: what a feed frame shares with the other sources."""
    return _alias(b"tx", bytes(tx_hash), _group_bytes(group), tokens.to_bytes(32, "big"))


def taker_alias(tx_hash: bytes, group: Group) -> bytes:
    """The taker order of a group in one transaction (whose calldata may understate a MINT's shares)."""
    return _alias(b"taker", bytes(tx_hash), _group_bytes(group))


def group_alias(tx_hash: bytes, group: Group) -> bytes:
    """A group's fill seen in a transaction by the feed or a row (what a pending taker order looks up)."""
    return _alias(b"group", bytes(tx_hash), _group_bytes(group))


def amount_alias(group: Group, tokens: int) -> bytes:
    """A group's recent fill of an amount, in any transaction (a re-settled match whose row names no
    order); kept only about as long as a confirmation window."""
    return _alias(b"amount", _group_bytes(group), tokens.to_bytes(32, "big"))


def row_id(signal: Signal, order_hash: bytes | None) -> bytes:
    """A log row's identity across replicas and a reorg's re-mining (which may move its log index)."""
    return _alias(
        b"row",
        bytes(signal.tx_hash),
        _group_bytes(group_of(signal)),
        signal.size.to_bytes(32, "big"),
        bytes(order_hash) if order_hash is not None else bytes(32),
    )


def row_alias(row: bytes) -> bytes:
    """The fill a log row was taken for (its value: that fill's key)."""
    return _alias(b"row-fill", row)


def logged_alias(key: bytes) -> bytes:
    """The log row that confirmed the fill `key` (its value: that row's `row_id`): one row per fill."""
    return _alias(b"logged", key)


def top_up_key(fill: bytes, tokens: int) -> bytes:
    """The dedup key of the copy that tops a fill up to `tokens` (one per amount reached)."""
    return keccak256(TOP_UP_TAG + fill + tokens.to_bytes(32, "big"))


def _sighting_id(signal: Signal, kind: str) -> tuple[int, ...]:
    if kind == LOG:
        return (signal.log_index,)
    if kind == MEMPOOL:
        return (signal.sub_index,)
    # A feed frame names no position: identical frames (`trades` and `orders_matched` repeat one trade)
    # are one sighting; two equal fills of one transaction seen only by the feed collapse into one, and
    # the log's second row then makes the second fill.
    return (signal.size, signal.price_num, signal.price_den)


@dataclass(eq=False)
class Fill:
    """One leader fill and what each source saw of it."""

    key: bytes
    group: Group
    tokens: int
    """The largest amount a sighting carried (outcome-token base units)."""
    first: Signal
    """The earliest sighting (what a copy under `SUPERVISOR_ACT_ON=first` is made from)."""
    created_block: int
    natural: bytes = b""
    """The key this ledger gave it (`key` may be another replica's, adopted: `FillLedger.rekey`)."""
    order_hash: bytes | None = None
    seen_ns: dict[str, int] = field(default_factory=dict)
    """First `seen_at_ns` per source kind."""
    sighted: set[tuple[str, bytes]] = field(default_factory=set)
    """(source kind, transaction) pairs it was seen in."""
    position: int = -1
    """Its order's position in a pending `matchOrders` (emission order), -1 when not seen pending."""
    taker: bool = False
    """Seen pending as the match's taker order (whose calldata amounts may understate a MINT's shares)."""
    log_index: int = -1
    """Its log row's index, -1 before a log."""
    txs: list[bytes] = field(default_factory=list)
    log: Signal | None = None
    """The `OrderFilled` row that confirmed it (None until then)."""
    copied: int = 0
    """Tokens the copies made so far were sized on (0: none made from this ledger)."""
    origins: list[Signal] = field(default_factory=list)
    """The sightings copies were made from (the first, then top-ups): their (tx, log index, sub index)."""
    unconfirmed: bool = False
    """No log within the confirmation window."""
    retracted: bool = False
    """Its log was removed by a reorg (cleared when a log confirms it again)."""
    retry: bool = False
    """The intake of a copy of it failed: its origins are to be replayed (the dedup caches hold their keys
    already; the store's idempotency key decides what was stored)."""
    _sids: list[SightingId] = field(default_factory=list, repr=False)
    _slots: list[tuple[bytes, Group]] = field(default_factory=list, repr=False)

    @property
    def first_source(self) -> str:
        if not self.seen_ns:
            return LOG  # seen only in a log that a reorg removed since
        return min(self.seen_ns.items(), key=lambda kv: (kv[1], KINDS.index(kv[0])))[0]

    def leads_ms(self) -> dict[str, int]:
        """Each earlier source's lead over the log in whole ms (never negative); empty before the log."""
        if self.log is None or LOG not in self.seen_ns:
            return {}
        at = self.seen_ns[LOG]
        return {k: max(0, at - ns) // 1_000_000 for k, ns in self.seen_ns.items() if k != LOG}


@dataclass(frozen=True)
class Outcome:
    """What a sighting was: `new` (a fill first seen now: copy it), `repeat` (this very sighting again),
    `late`, or none of them (it joined `fill`)."""

    fill: Fill
    new: bool = False
    repeat: bool = False
    late: bool = False
    """An early sighting of a fill not known yet, in a transaction already logged: no copy is made from it
    (the fill's own row, if it comes, makes it)."""
    revived: bool = False
    """A log confirms again a fill whose log a reorg had removed."""


@dataclass
class FillLedger:
    """The fills seen lately (bounded: the oldest `limit` are forgotten first)."""

    limit: int = 100_000
    _fills: OrderedDict[bytes, Fill] = field(default_factory=OrderedDict, init=False, repr=False)
    _slots: dict[tuple[bytes, Group], list[Fill]] = field(default_factory=dict, init=False, repr=False)
    _seen: dict[SightingId, Fill] = field(default_factory=dict, init=False, repr=False)
    _open: OrderedDict[bytes, Fill] = field(default_factory=OrderedDict, init=False, repr=False)
    """Fills without a log, inside the confirmation window: cross-transaction joins and expiry."""
    _recent: OrderedDict[bytes, Fill] = field(default_factory=OrderedDict, init=False, repr=False)
    """Logged fills inside the window: a late early sighting of one joins it rather than copying again."""
    _logged: OrderedDict[bytes, int] = field(default_factory=OrderedDict, init=False, repr=False)
    """Transactions a log came from (counted per fill confirmed there)."""
    _orders: dict[bytes, list[Fill]] = field(default_factory=dict, init=False, repr=False)
    """Fills by order hash (one order may fill several times: partial fills)."""

    def __len__(self) -> int:
        return len(self._fills)

    def get(self, key: bytes) -> Fill | None:
        return self._fills.get(key)

    def see(
        self, signal: Signal, *, order_hash: bytes | None = None, taker: bool = False, block: int = 0
    ) -> Outcome:
        """Takes one priced sighting (a log row, a pending order and whether it is the match's taker order, a
        feed frame). `order_hash` defaults to the signal's own (`Signal.order_hash`). `block` is the newest
        block known when it was seen: the confirmation window starts there."""
        kind = kind_of(signal)
        tx = bytes(signal.tx_hash)
        group = group_of(signal)
        sid = (tx, group, kind, _sighting_id(signal, kind))
        known = self._seen.get(sid)
        if known is not None:
            return Outcome(known, repeat=True)
        order_hash = signal.order_hash if order_hash is None else bytes(order_hash)
        fill = self._same_order(tx, group, kind, signal.size, order_hash, taker)
        if fill is None:
            fill = self._in_transaction(tx, group, kind, signal.size, taker, order_hash)
        if fill is None:
            fill = self._re_settled(tx, group, kind, signal.size, order_hash)
        new = fill is None
        # An early sighting of a transaction whose rows are already logged tells nothing new: it is kept (a
        # row still to come joins it) but makes no copy of its own, whatever its amounts.
        late = new and kind != LOG and tx in self._logged
        if fill is None:
            fill = self._create(tx, group, signal, block)
        revived = kind == LOG and fill.retracted
        self._join(fill, sid, signal, kind, order_hash)
        fill.taker = fill.taker or taker
        return Outcome(fill, new=new and not late, late=late, revived=revived)

    def rekey(self, fill: Fill, key: bytes) -> bool:
        """Gives `fill` the canonical key `key` (another replica's, or one kept across a restart); False,
        and nothing changed, when this ledger holds another fill under `key`."""
        if key == fill.key:
            return True
        if key in self._fills:
            return False
        old = fill.key
        for table in (self._fills, self._open, self._recent):
            if table.pop(old, None) is not None:
                table[key] = fill
        fill.key = key
        return True

    def logged(self, tx_hash: bytes, leader: str, token_id: int, side: str, log_index: int) -> Fill | None:
        """The fill a log row joined (what a copy made from that row was a copy of)."""
        return self._seen.get((bytes(tx_hash), (leader.lower(), token_id, side), LOG, (log_index,)))

    def _same_order(
        self, tx: bytes, group: Group, kind: str, tokens: int, order_hash: bytes | None, taker: bool
    ) -> Fill | None:
        """A fill of the same order and amount: the one in this transaction first, then one still inside the
        confirmation window (a log row: without a log yet; a pending order: logged or not)."""
        if order_hash is None:
            return None
        others: list[Fill] = []
        for f in self._orders.get(order_hash, ()):
            if f.group != group or (kind, tx) in f.sighted:
                continue
            if kind == LOG and f.log is not None:
                continue  # one row is one fill: an order filled twice by equal amounts is two fills
            # The one known difference of amounts (a MINT taker's calldata understates its shares; see
            # `_in_transaction`) holds for a re-settled match too.
            if f.tokens != tokens and not (
                (kind == MEMPOOL and taker and f.tokens > tokens)
                or (kind == LOG and f.taker and f.tokens < tokens and set(f.seen_ns) == {MEMPOOL})
            ):
                continue
            if tx in f.txs:
                return f
            if f.key in self._open or (kind != LOG and f.key in self._recent):
                others.append(f)
        return others[0] if others else None

    def _in_transaction(
        self, tx: bytes, group: Group, kind: str, tokens: int, taker: bool, order_hash: bytes | None
    ) -> Fill | None:
        free = [
            f
            for f in self._slots.get((tx, group), ())
            if (kind, tx) not in f.sighted
            and (kind != LOG or f.log is None)
            and (order_hash is None or f.order_hash is None or f.order_hash == order_hash)
        ]
        for f in free:
            if f.tokens == tokens:
                return f
        # Amounts are exact in every source but one way: the calldata implies a taker's amounts from its
        # makers', and in a MINT match the taker receives more shares than that. So a log row or a feed frame
        # carrying MORE than a taker order known only from calldata is that order's fill, and a pending taker
        # order carrying LESS than a fill of its group is that fill (the taker's row is the last emitted).
        if kind == MEMPOOL:
            if not taker:
                return None
            bigger = [f for f in free if f.tokens > tokens]
            return max(bigger, key=lambda f: f.log_index) if bigger else None
        smaller = [f for f in free if f.tokens < tokens and f.taker and set(f.seen_ns) == {MEMPOOL}]
        return smaller[0] if smaller else None

    def _re_settled(
        self, tx: bytes, group: Group, kind: str, tokens: int, order_hash: bytes | None
    ) -> Fill | None:
        if kind == LOG:
            # A log row is exactly one fill: it joins only a fill without a log whose transactions gave no
            # log at all (they failed or were replaced: the match was re-settled in this one).
            candidates: Iterable[Fill] = self._open.values()
        else:
            # An early sighting joins any recent fill of the group and amount, logged or not: a stale
            # sighting of a failed attempt, or the operator's retry, must not copy the fill again. Joining two
            # fills that are really distinct errs safe: the second one's log row makes its own fill.
            candidates = chain(self._open.values(), self._recent.values())
        for f in candidates:
            if f.group != group or f.tokens != tokens or tx in f.txs:
                continue
            if order_hash is not None and f.order_hash is not None and order_hash != f.order_hash:
                continue
            if kind == LOG and (f.log is not None or any(t in self._logged for t in f.txs)):
                continue
            return f
        return None

    def _create(self, tx: bytes, group: Group, signal: Signal, block: int) -> Fill:
        # Only fills first seen in this transaction count: one that merely joined it from another (a feed
        # frame taken for a retry) is unknown to a replica that saw the rows alone, and would shift k.
        k = sum(1 for f in self._slots.get((tx, group), ()) if f.tokens == signal.size and f.txs[0] == tx)
        key = fill_key(tx, group, signal.size, k)
        while key in self._fills:  # a fill of this slot already moved to another log: keep keys distinct
            k += 1
            key = fill_key(tx, group, signal.size, k)
        fill = Fill(key=key, group=group, tokens=signal.size, first=signal, created_block=block, natural=key)
        self._fills[key] = fill
        self._open[key] = fill
        while len(self._fills) > self.limit:
            self._forget(next(iter(self._fills.values())))
        return fill

    def _join(
        self,
        fill: Fill,
        sid: SightingId,
        signal: Signal,
        kind: str,
        order_hash: bytes | None,
    ) -> None:
        tx = sid[0]
        self._seen[sid] = fill
        fill._sids.append(sid)
        if tx not in fill.txs:
            fill.txs.append(tx)
            slot = (tx, fill.group)
            self._slots.setdefault(slot, []).append(fill)
            fill._slots.append(slot)
        fill.seen_ns.setdefault(kind, signal.seen_at_ns)
        fill.sighted.add((kind, tx))
        if kind == MEMPOOL:
            fill.position = signal.sub_index
        if signal.seen_at_ns < fill.first.seen_at_ns and fill.copied == 0:
            fill.first = signal
        fill.tokens = max(fill.tokens, signal.size)
        if order_hash is not None and fill.order_hash is None:
            fill.order_hash = bytes(order_hash)
            self._orders.setdefault(fill.order_hash, []).append(fill)
        if kind == LOG:
            fill.log = signal
            fill.log_index = signal.log_index
            fill.retracted = False
            self._open.pop(fill.key, None)
            self._recent[fill.key] = fill
            self._logged[tx] = self._logged.get(tx, 0) + 1
            while len(self._logged) > self.limit:
                self._logged.popitem(last=False)

    def retract(self, signal: Signal, *, block: int = 0) -> Fill | None:
        """A reorg removed this log row: its fill has no log again (a re-mined row confirms it anew)."""
        tx = bytes(signal.tx_hash)
        sid = (tx, group_of(signal), LOG, (signal.log_index,))
        fill = self._seen.pop(sid, None)
        if fill is None or fill.log is None:
            return fill
        fill.log = None
        fill.retracted = True
        fill.seen_ns.pop(LOG, None)
        fill.sighted.discard((LOG, tx))
        self._recent.pop(fill.key, None)
        fill.created_block = block
        fill._sids.remove(sid)
        left = self._logged.get(tx, 0) - 1
        if left > 0:
            self._logged[tx] = left
        else:
            self._logged.pop(tx, None)
        self._open[fill.key] = fill
        return fill

    def expire(self, head: int, blocks: int) -> list[Fill]:
        """Fills still without a log `blocks` blocks after they were first seen: marked `unconfirmed` and
        no longer joined across transactions (a log of one of their own transactions still confirms)."""
        for f in chain(self._open.values(), self._recent.values()):
            if not f.created_block:
                # Seen before any block was known (logged since or not): the window starts now.
                f.created_block = head
        gone = [f for f in self._open.values() if head - f.created_block >= blocks]
        for f in gone:
            f.unconfirmed = True
            del self._open[f.key]
        for f in [f for f in self._recent.values() if head - f.created_block >= blocks]:
            del self._recent[f.key]
        return gone

    def open_fills(self) -> list[Fill]:
        """Fills without a log still inside their confirmation window."""
        return list(self._open.values())

    def _forget(self, fill: Fill) -> None:
        if fill.order_hash is not None:
            same = self._orders.get(fill.order_hash)
            if same is not None:
                same.remove(fill)
                if not same:
                    del self._orders[fill.order_hash]
        self._fills.pop(fill.key, None)
        self._open.pop(fill.key, None)
        self._recent.pop(fill.key, None)
        for sid in fill._sids:
            self._seen.pop(sid, None)
        for key in fill._slots:
            slot = self._slots.get(key)
            if slot is not None:
                slot.remove(fill)
                if not slot:
                    del self._slots[key]
