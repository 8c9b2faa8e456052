"""Per-wallet nonce allocation: a local counter with several transactions in flight, resynced from the chain.

`reserve()` hands out the next nonce without a round trip. A reserved nonce is then either broadcast
(`sent`), or given up (`abandon`: signing or sending failed for good) — a hole that would keep every later
nonce of the wallet out of a block, so the engine fills it with a no-op self-transfer (`gaps()`). `resync`
takes the chain's view after an error: nonces below the mined count are done, and a counter behind the
chain (another sender, a restart) jumps forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NonceAllocator:
    """The nonces of one wallet: the next free one, those in flight, and holes to fill."""

    wallet: str
    next_nonce: int = 0
    in_flight: set[int] = field(default_factory=set)
    abandoned: set[int] = field(default_factory=set)

    def reserve(self) -> int:
        """The next nonce, now in flight."""
        nonce = self.next_nonce
        self.next_nonce += 1
        self.in_flight.add(nonce)
        return nonce

    def done(self, nonce: int) -> None:
        """`nonce` is consumed on chain (by our transaction or a filler)."""
        self.in_flight.discard(nonce)
        self.abandoned.discard(nonce)

    def abandon(self, nonce: int) -> None:
        """`nonce` was reserved but its transaction will never be broadcast: a gap until filled."""
        self.in_flight.discard(nonce)
        if nonce < self.next_nonce:
            self.abandoned.add(nonce)

    def gaps(self) -> list[int]:
        """Abandoned nonces still to fill, lowest first."""
        return sorted(self.abandoned)

    def resync(self, mined: int, pending: int | None = None) -> None:
        """Align with the chain: `mined` = transactions mined (`latest` count), `pending` = the node's
        `pending` count. Everything below `mined` is done; a counter behind the chain moves up to it."""
        for nonce in [n for n in self.in_flight | self.abandoned if n < mined]:
            self.done(nonce)
        floor = max(mined, pending or 0)
        if self.next_nonce < floor:
            self.next_nonce = floor
        elif not self.in_flight and pending is not None and self.next_nonce > pending:
            # Nothing of ours is in flight, yet the node has fewer: the tail was lost (dropped, never
            # arrived). Hand those nonces out again rather than filling them.
            self.abandoned = {n for n in self.abandoned if n < pending}
            self.next_nonce = pending
