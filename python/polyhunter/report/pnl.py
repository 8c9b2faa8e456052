"""Profit and loss by average cost, holdings reconciled with the chain, and equity curves.

Rules (docs/seams.md "Holdings and PnL"):
- a book is kept per (follower, leader, token): the copies of one leader build its positions, so that a
  leader's figures are its copies' alone; amounts are exact rationals of collateral base units
  (`fractions.Fraction`) and only a figure shown is rounded, toward −∞ (a gain is never overstated);
- a BUY adds its tokens and their cost (tokens × price, plus its fee) to the book; a SELL realises its
  proceeds (tokens × price, less its fee) minus the average cost of the tokens sold (cost × sold / held);
  tokens sold beyond those held (moved in from outside polyhunter) carry no cost;
- a redemption (`Redemption`: a Proxy redeems a resolved condition for `payout`) closes the condition's
  tokens in every book of the Proxy, each book taking the payout in proportion to the tokens it held (the
  redeemer merges matched YES + NO first, so a Proxy redeems one side); a losing position redeems for 0
  and realises minus its cost. A merge takes `merged` tokens of each outcome from the books (by tokens held,
  the odd units to the first books), each outcome's side taking half the payout, by tokens taken;
- the chain wins: a Proxy's balance of a token on chain is what is valued at the midpoint, shared between the
  books of that token in proportion to their tokens; tokens beyond the copies' carry no cost, tokens moved
  out take their share of the cost with them (not a loss). The difference is shown per holding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from polyhunter.models import CopyQuality, Side, TradeRecord, TradeStatus

PPM = 1_000_000
ZERO = Fraction(0)


def floor_units(value: Fraction) -> int:
    """A figure shown or summed as base units: rounded toward −∞."""
    return value.numerator // value.denominator


@dataclass(frozen=True, slots=True)
class Redemption:
    """A Proxy's redemption or merge of one condition, as the books take it (the redeemer's records,
    `polyhunter.store.redemptions`, map onto it: `report.sources.StoreRedemptions`)."""

    proxy: str
    token_ids: tuple[int, ...]
    """The condition's outcome tokens (YES, NO): whichever of them the Proxy's books hold."""
    payout: int
    """Collateral received, base units (0 for a losing position)."""
    at_ms: int
    merged: int | None = None
    """A merge: the tokens of each outcome merged back to `payout`; None: a redemption of every token held."""


@dataclass(slots=True)
class Book:
    """One (follower, leader, token) position by average cost, with its realised PnL over time."""

    qty: int = 0
    cost: Fraction = ZERO
    realised_fills: Fraction = ZERO
    realised_redemptions: Fraction = ZERO
    curve: list[tuple[int, Fraction, Fraction]] = field(default_factory=list)
    """(ms, realised from fills so far, realised from redemptions so far) after each event."""

    @property
    def realised(self) -> Fraction:
        return self.realised_fills + self.realised_redemptions

    def realised_before(self, at_ms: int) -> tuple[Fraction, Fraction]:
        """(fills, redemptions) realised by events before `at_ms`."""
        before = [(f, r) for at, f, r in self.curve if at < at_ms]
        return before[-1] if before else (ZERO, ZERO)

    def buy(self, at_ms: int, size: int, price: Fraction, fee: int = 0) -> None:
        self.qty += size
        self.cost += size * price + fee
        self.curve.append((at_ms, self.realised_fills, self.realised_redemptions))

    def _basis(self, size: int) -> Fraction:
        """The cost leaving with `size` tokens sold or redeemed (those beyond the holding have none)."""
        held = min(size, self.qty)
        if held <= 0:
            return ZERO
        basis = self.cost * held / self.qty
        self.cost -= basis
        self.qty -= held
        return basis

    def sell(self, at_ms: int, size: int, price: Fraction, fee: int = 0) -> None:
        basis = self._basis(size)
        self.realised_fills += size * price - fee - basis
        self.curve.append((at_ms, self.realised_fills, self.realised_redemptions))

    def redeem(self, at_ms: int, size: int, payout: Fraction) -> None:
        basis = self._basis(size)
        self.realised_redemptions += payout - basis
        self.curve.append((at_ms, self.realised_fills, self.realised_redemptions))


BookKey = tuple[str, str, int]
"""(follower, leader, token id)."""


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill as a book takes it: ours from a copy, or the leader's from the copy's signal."""

    at_ms: int
    token_id: int
    side: Side
    size: int
    price: Fraction
    fee: int = 0


def our_fills(
    records: Iterable[TradeRecord], quality: Mapping[bytes, CopyQuality]
) -> list[tuple[TradeRecord, Fill]]:
    """The EXECUTED copies with a fill, oldest first: at their quality row's time and fee when stored, else
    at the record's last update with no fee."""
    out: list[tuple[TradeRecord, Fill]] = []
    for r in records:
        if r.status is not TradeStatus.EXECUTED or not r.copy_size or r.copy_price_ppm is None:
            continue
        q = quality.get(r.key)
        at = q.filled_at if q is not None else r.updated_at
        fee = q.fee if q is not None else 0
        out.append((r, Fill(at, r.token_id, r.side, r.copy_size, Fraction(r.copy_price_ppm, PPM), fee)))
    out.sort(key=lambda pair: (pair[1].at_ms, pair[0].key))
    return out


def leader_fills(records: Iterable[TradeRecord]) -> list[Fill]:
    """The leader's priced fills behind these copies, each once (one signal may have many copies), at the
    time its first copy was recorded, in the chain's order."""
    seen: dict[tuple[int, bytes, int, int], Fill] = {}
    for r in records:
        if r.leader_price_ppm is None or r.leader_size <= 0:
            continue
        signal = (r.block_number, r.tx_hash, r.log_index, r.sub_index)
        fill = Fill(r.created_at, r.token_id, r.side, r.leader_size, Fraction(r.leader_price_ppm, PPM))
        if signal not in seen or fill.at_ms < seen[signal].at_ms:
            seen[signal] = fill
    # The chain's order (block, transaction, log), not our clock's: copies of one block share a millisecond.
    return [seen[s] for s in sorted(seen)]


@dataclass(slots=True)
class Ledger:
    """Every book of a period, and which Proxy each follower trades from."""

    books: dict[BookKey, Book] = field(default_factory=lambda: defaultdict(Book))
    proxies: dict[str, str] = field(default_factory=dict)
    """follower → Proxy."""

    def apply(self, follower: str, leader: str, fill: Fill) -> None:
        book = self.books[(follower, leader, fill.token_id)]
        if fill.side == "BUY":
            book.buy(fill.at_ms, fill.size, fill.price, fill.fee)
        else:
            book.sell(fill.at_ms, fill.size, fill.price, fill.fee)

    def redeem(self, redemption: Redemption) -> None:
        """Apply a redemption or a merge to the books of the Proxy's followers (rules above)."""
        followers = {f for f, p in self.proxies.items() if p == redemption.proxy.lower()}
        sides = [
            [b for (f, _, t), b in sorted(self.books.items()) if f in followers and t == token and b.qty]
            for token in redemption.token_ids
        ]
        if redemption.merged is None:
            books = [b for side in sides for b in side]
            held = sum(b.qty for b in books)
            for book in books:
                book.redeem(redemption.at_ms, book.qty, Fraction(redemption.payout * book.qty, held))
            return
        half = Fraction(redemption.payout, 2)
        for side in sides:
            held = sum(b.qty for b in side)
            want = min(redemption.merged, held)
            takes = [want * b.qty // held for b in side] if held else []
            for n in range(want - sum(takes)):
                takes[n] += 1
            for book, take in zip(side, takes, strict=True):
                if take:
                    book.redeem(redemption.at_ms, take, half * take / want)

    def held(self) -> dict[tuple[str, int], int]:
        """(Proxy, token) → tokens the copies hold."""
        out: dict[tuple[str, int], int] = defaultdict(int)
        for (follower, _, token), book in self.books.items():
            if book.qty:
                out[(self.proxies[follower], token)] += book.qty
        return dict(out)


def build_ledger(
    records: Sequence[TradeRecord],
    quality: Mapping[bytes, CopyQuality],
    redemptions: Sequence[Redemption] = (),
) -> Ledger:
    """Our books from the period's copies and the Proxies' redemptions, applied in time order (a redemption
    after the fills of the same ms)."""
    ledger = Ledger()
    for r in records:
        ledger.proxies.setdefault(r.follower, r.proxy.lower())
    fills = our_fills(records, quality)
    # A redemption after the fills of the same ms: (time, kind, index).
    order = [(f.at_ms, 0, n) for n, (_, f) in enumerate(fills)]
    order += [(x.at_ms, 1, n) for n, x in enumerate(redemptions)]
    for _, kind, n in sorted(order):
        if kind:
            ledger.redeem(redemptions[n])
        else:
            record, fill = fills[n]
            ledger.apply(record.follower, record.leader, fill)
    return ledger


@dataclass(frozen=True, slots=True)
class Holding:
    """A Proxy's tokens of one outcome: on chain (None when the chain was not asked), by the copies, and
    what moved outside polyhunter (chain − copies)."""

    proxy: str
    token_id: int
    chain: int | None
    copies: int

    @property
    def difference(self) -> int | None:
        return None if self.chain is None else self.chain - self.copies

    def to_json(self) -> dict[str, object]:
        return {
            "proxy": self.proxy,
            "token_id": str(self.token_id),
            "chain": self.chain,
            "copies": self.copies,
            "difference": self.difference,
        }


def reconcile(
    held: Mapping[tuple[str, int], int], chain: Mapping[tuple[str, int], int] | None
) -> list[Holding]:
    """One `Holding` per (Proxy, token) the copies or the chain hold, sorted."""
    keys = set(held) | (set(k for k, v in chain.items() if v) if chain is not None else set())
    return [
        Holding(
            proxy, token, None if chain is None else chain.get((proxy, token), 0), held.get((proxy, token), 0)
        )
        for proxy, token in sorted(keys)
    ]


def unrealised(
    ledger: Ledger,
    mids: Mapping[int, Fraction | None],
    chain: Mapping[tuple[str, int], int] | None,
) -> tuple[dict[BookKey, Fraction], dict[str, Fraction], set[int]]:
    """Unrealised PnL at the midpoint: per book, plus per follower the value of tokens no copy holds (moved
    in from outside, no cost); and the tokens left unvalued for want of a midpoint."""
    per_book: dict[BookKey, Fraction] = {}
    outside: dict[str, Fraction] = defaultdict(Fraction)
    unpriced: set[int] = set()
    held = ledger.held()
    for key, book in ledger.books.items():
        follower, _, token = key
        if not book.qty:
            continue
        proxy = ledger.proxies[follower]
        total = held.get((proxy, token), 0)
        on_chain = total if chain is None else chain.get((proxy, token), 0)
        share = Fraction(on_chain * book.qty, total)
        mid = mids.get(token)
        if mid is None:
            unpriced.add(token)
            continue
        kept = min(share, Fraction(book.qty))
        per_book[key] = share * mid - book.cost * kept / book.qty
    if chain is not None:
        for follower, proxy in ledger.proxies.items():
            for (p, token), amount in chain.items():
                if p != proxy or amount <= 0 or held.get((p, token), 0):
                    continue
                mid = mids.get(token)
                if mid is None:
                    unpriced.add(token)
                else:
                    outside[follower] += amount * mid
    return per_book, dict(outside), unpriced


def curve_of(books: Iterable[Book]) -> list[tuple[int, Fraction]]:
    """The summed realised PnL of `books` over time (each book's last figure carried forward)."""
    events: list[tuple[int, int, Fraction]] = []
    for n, book in enumerate(books):
        events += [(at, n, f + r) for at, f, r in book.curve]
    events.sort(key=lambda e: (e[0], e[1]))
    last: dict[int, Fraction] = {}
    out: list[tuple[int, Fraction]] = []
    for at, n, value in events:
        last[n] = value
        total = sum(last.values(), ZERO)
        if out and out[-1][0] == at:
            out[-1] = (at, total)
        else:
            out.append((at, total))
    return out


def leader_curve(records: Sequence[TradeRecord], follower: str) -> list[tuple[int, Fraction]]:
    """The curve of `follower`'s leaders next to its own: each leader's priced fills behind the follower's
    copies (since the follow started: its first copy), by average cost, scaled to the follower's size (the
    follower's BUY notional over that leader's, 1 when either is zero)."""
    mine = [r for r in records if r.follower == follower]
    books: list[Book] = []
    for leader in sorted({r.leader for r in mine}):
        pair = [r for r in mine if r.leader == leader]
        fills = leader_fills(pair)
        ours = sum((f.size * f.price for _, f in our_fills(pair, {}) if f.side == "BUY"), ZERO)
        theirs = sum((f.size * f.price for f in fills if f.side == "BUY"), ZERO)
        scale = ours / theirs if ours and theirs else Fraction(1)
        per_token: dict[int, Book] = defaultdict(Book)
        for fill in fills:
            book = per_token[fill.token_id]
            if fill.side == "BUY":
                book.buy(fill.at_ms, fill.size, fill.price)
            else:
                book.sell(fill.at_ms, fill.size, fill.price)
        books += [
            Book(curve=[(at, f * scale, r * scale) for at, f, r in b.curve]) for b in per_token.values()
        ]
    return curve_of(books)
