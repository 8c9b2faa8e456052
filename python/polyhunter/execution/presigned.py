"""Orders signed ahead of their job: a bounded cache of CLOB orders built and signed from an early sighting of
a leader's fill (a pending order, a feed frame), taken by the job that the fill's log makes when its order is
the same one.

An entry is stored under the fill it was signed for, the configs whose copies it covers (one config, or all
the configs of the fill when their jobs would go out as one coalesced order), the wallet that signed it and
every input that decides the signed bytes except the salt and the timestamp (`SignInputs`: exchange, token,
side, amount, limit price, tick, minimum, fee data). Salt and timestamp are free choices of ours (the V2
order has no expiry; the timestamp only makes hashes unique), so an order signed a few seconds early is
the very order that signing at the log would give, with other salt and timestamp.

Nothing here posts. An entry is found only through the job keys its fill's log bound to it (`bind`): under
`SUPERVISOR_ACT_ON=log` only the log makes jobs, so a pre-signed order can only be posted by its log's job.
Each entry is taken once (two posts of the same bytes would be one order at the venue). Entries go when
taken, when their fill's confirmation window passes (`drop`, `expire`), or oldest first past `limit`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from polyhunter._core import SignedMarketOrder


@dataclass(frozen=True, slots=True)
class SignInputs:
    """Everything that decides a market order's signed content apart from salt and timestamp."""

    exchange: str
    token_id: int
    side: str
    amount: int
    price_ppm: int
    tick_ppm: int
    min_shares: int | None
    fee_rate_bps: int
    fee_exponent: int


@dataclass(frozen=True, slots=True)
class _Entry:
    fill: bytes
    configs: frozenset[int]
    wallet: str
    inputs: SignInputs
    signed: SignedMarketOrder
    until_block: int


@dataclass
class PresignStats:
    made: int = 0
    """Orders signed ahead and stored."""
    used: int = 0
    """Jobs whose order was a pre-signed one (not signed again)."""
    missed: int = 0
    """Jobs bound to a fill with pre-signed orders whose order differed (signed again)."""
    dropped: int = 0
    """Entries dropped unused: their fill's window passed, or the cache was full."""


@dataclass
class PresignedOrders:
    """The cache (see the module docstring). Not thread-safe: one event loop uses it."""

    limit: int = 10_000
    stats: PresignStats = field(default_factory=PresignStats)
    _entries: OrderedDict[int, _Entry] = field(default_factory=OrderedDict, init=False, repr=False)
    _by_fill: dict[bytes, set[int]] = field(default_factory=dict, init=False, repr=False)
    _bound: OrderedDict[bytes, tuple[bytes, int]] = field(default_factory=OrderedDict, init=False, repr=False)
    """job key -> (fill, config id), set when the fill's log made the job."""
    _next: int = field(default=0, init=False, repr=False)

    def __len__(self) -> int:
        return len(self._entries)

    def put(
        self,
        fill: bytes,
        configs: Collection[int],
        wallet: str,
        inputs: SignInputs,
        signed: SignedMarketOrder,
        until_block: int,
    ) -> None:
        """Stores `signed`, the order of `configs`' copies of `fill` from `wallet`, until the chain's head
        reaches `until_block` (the fill's confirmation window)."""
        self._next += 1
        entry = _Entry(bytes(fill), frozenset(configs), wallet.lower(), inputs, signed, until_block)
        self._entries[self._next] = entry
        self._by_fill.setdefault(entry.fill, set()).add(self._next)
        self.stats.made += 1
        while len(self._entries) > self.limit:
            self._remove(next(iter(self._entries)))
            self.stats.dropped += 1

    def bind(self, fill: bytes, copies: Mapping[bytes, int]) -> None:
        """The fill's log made jobs: `copies` maps each job key to its config id."""
        for key, config_id in copies.items():
            self._bound[bytes(key)] = (bytes(fill), config_id)
        while len(self._bound) > self.limit:
            self._bound.popitem(last=False)

    def take(self, copies: Sequence[bytes], wallet: str, inputs: SignInputs) -> SignedMarketOrder | None:
        """The pre-signed order for the jobs `copies` traded together from `wallet`, when one was signed
        with exactly `inputs`; removed (it is taken once). None: sign now."""
        owners = [self._bound.get(bytes(k)) for k in copies]
        if not owners or any(o is None for o in owners):
            return None
        fills = {o[0] for o in owners if o is not None}
        if len(fills) != 1:
            return None
        (fill,) = fills
        configs = frozenset(o[1] for o in owners if o is not None)
        wallet = wallet.lower()
        ids = self._by_fill.get(fill, set())
        for n in sorted(ids):
            entry = self._entries[n]
            if entry.configs == configs and entry.wallet == wallet and entry.inputs == inputs:
                self._remove(n)
                for key in copies:
                    self._bound.pop(bytes(key), None)
                self.stats.used += 1
                return entry.signed
        if ids:
            self.stats.missed += 1
        return None

    def drop(self, fill: bytes) -> int:
        """Forgets every order signed for `fill` (its window passed without a log); how many."""
        ids = list(self._by_fill.get(bytes(fill), ()))
        for n in ids:
            self._remove(n)
        self.stats.dropped += len(ids)
        return len(ids)

    def expire(self, head: int) -> int:
        """Forgets the orders whose fill's window ended at or before `head`; how many."""
        gone = [n for n, e in self._entries.items() if e.until_block <= head]
        for n in gone:
            self._remove(n)
        self.stats.dropped += len(gone)
        return len(gone)

    def fills(self) -> list[bytes]:
        """The fills that have orders held."""
        return list(self._by_fill)

    def orders_of(self, fill: bytes) -> list[SignedMarketOrder]:
        """The orders held for `fill` (oldest first)."""
        return [self._entries[n].signed for n in sorted(self._by_fill.get(bytes(fill), ()))]

    def _remove(self, n: int) -> None:
        entry = self._entries.pop(n)
        ids = self._by_fill.get(entry.fill)
        if ids is not None:
            ids.discard(n)
            if not ids:
                del self._by_fill[entry.fill]
