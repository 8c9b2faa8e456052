"""What the detector remembers of the last blocks it processed, to find a reorg's fork point and undo it.

A node sends `removed: true` for the logs of replaced blocks only to a subscription that is open when the
reorg happens (anvil 1.x never does); a reorg during a disconnect, or one the node does not report, is
found by comparing the hashes of the blocks we processed with the chain's: the highest block whose hash is
still the chain's is the fork point, and every log we handed over from a block above it is retracted (the
same log with `removed: true`, which cancels or flags what it caused) before the new blocks are read.

Only the last `depth` blocks are kept (Polygon has had reorgs of 30+ blocks; a few hundred is ample), with
the raw logs of ours each one held, so memory stays bounded by the leaders' activity over that window.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DEPTH = 512

#: The hash of block `number` on the node's canonical chain now, or None when it has no such block.
CanonicalHash = Callable[[int], Awaitable[str | None]]


def _quoted(text: str, name: str) -> str | None:
    """The string value of `"name":"…"` in compact JSON (what nodes send), or None."""
    marker = f'"{name}":"'
    start = text.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = text.find('"', start)
    return text[start:end] if end > start else None


@dataclass
class RecentBlocks:
    """For the last `depth` block numbers: each block hash seen at that number (two after a reorg seen
    live), with the logs we handed over from that block."""

    depth: int = DEFAULT_DEPTH
    blocks: dict[int, dict[str, list[str | dict[str, Any]]]] = field(default_factory=dict)
    top: int = -1

    def saw_block(self, number: int, block_hash: str) -> list[str | dict[str, Any]]:
        """A block we processed (from its header or one of its logs); returns its list of logs."""
        if number > self.top:
            self.top = number
            self._prune()
        return self.blocks.setdefault(number, {}).setdefault(block_hash.lower(), [])

    def saw_notification(self, text: str) -> None:
        """A log notification handed over as it is (its fields are read only if it must be retracted)."""
        if '"removed":true' in text:
            return  # the node retracted it itself: nothing left to undo
        number_hex = _quoted(text, "blockNumber")
        block_hash = _quoted(text, "blockHash")
        if number_hex is None or block_hash is None:
            # Not compact JSON (a proxy re-encoded it): parse it rather than forget it.
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self._keep(json.loads(text)["params"]["result"])
            return
        number = int(number_hex, 16)
        if number > self.top - self.depth:
            self.saw_block(number, block_hash).append(text)

    def saw_batch(self, raw: bytes) -> None:
        """An `eth_getLogs` reply handed over (backfill): each of its logs."""
        try:
            result = json.loads(raw).get("result")
        except (ValueError, AttributeError):
            return
        if isinstance(result, list):
            for log in result:
                self._keep(log)

    def _keep(self, log: Any) -> None:
        if not isinstance(log, dict) or log.get("removed"):
            return
        try:
            number = int(log["blockNumber"], 16)
            block_hash = str(log["blockHash"])
        except (KeyError, TypeError, ValueError):
            return
        if number > self.top - self.depth:
            self.saw_block(number, block_hash).append(log)

    def _prune(self) -> None:
        cutoff = self.top - self.depth
        if self.blocks and min(self.blocks) <= cutoff:
            for number in [n for n in self.blocks if n <= cutoff]:
                del self.blocks[number]

    async def find_replaced(self, canonical: CanonicalHash) -> tuple[int, dict[int, str | None]] | None:
        """None while every block we hold at our newest number is the chain's; else the fork point (the
        highest number where all we processed is still the chain's, or the lowest kept - 1 when the reorg
        is deeper than our memory) and the chain's hash at each number above it that we hold.

        One call in the usual case; a reorg of d blocks costs d + 1 calls.
        """
        chain: dict[int, str | None] = {}
        for number in sorted(self.blocks, reverse=True):
            now = await canonical(number)
            if set(self.blocks[number]) <= {now}:
                return None if not chain else (number, chain)
            chain[number] = now
        return (min(chain) - 1, chain) if chain else None

    def drop_replaced(self, chain: dict[int, str | None]) -> list[dict[str, Any]]:
        """Forgets the blocks that are no longer the chain's (`chain`: number → the chain's hash now);
        returns the logs we handed over from them as `removed: true` logs (what a node would have sent),
        oldest first. Logs of blocks still on the chain stay as they are."""
        replaced: list[dict[str, Any]] = []
        for number in sorted(chain):
            seen = self.blocks.get(number, {})
            for block_hash in [h for h in seen if h != chain[number]]:
                for item in seen.pop(block_hash):
                    log = dict(item) if isinstance(item, dict) else json.loads(item)["params"]["result"]
                    log["removed"] = True
                    replaced.append(log)
            if not seen:
                self.blocks.pop(number, None)
        self.top = max(self.blocks, default=min(chain, default=0) - 1)
        return replaced
