"""What the chain says of one journaled transaction: mined fine, reverted, still pending, or void.

Shared by recovery (the Executor's pulls and pushes) and LocalExchangeVenue (its fills): a transaction we
signed and journaled is `ok` or `reverted` once it has a receipt, `void` once its nonce went to another
transaction or the node has never heard of it (a crash before broadcast: only we held the bytes), and
`pending` while it may still mine.
"""

from __future__ import annotations

from typing import Literal

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.models import JournalEntry

TxState = Literal["ok", "reverted", "pending", "void"]
OK: TxState = "ok"
REVERTED: TxState = "reverted"
PENDING: TxState = "pending"
VOID: TxState = "void"


async def journaled_tx_state(rpc: AsyncRpc, entry: JournalEntry, mined_counts: dict[str, int]) -> TxState:
    """The state of `entry`'s transaction; `mined_counts` caches each wallet's mined nonce count."""
    tx = "0x" + entry.tx_hash.hex()
    receipt = await rpc.call("eth_getTransactionReceipt", [tx])
    if receipt:
        return OK if int(receipt["status"], 16) == 1 else REVERTED
    if entry.wallet not in mined_counts:
        mined_counts[entry.wallet] = int(
            await rpc.call("eth_getTransactionCount", [entry.wallet, "latest"]), 16
        )
    if mined_counts[entry.wallet] > entry.nonce:
        return VOID  # the nonce went to another transaction: this one can never mine
    if await rpc.call("eth_getTransactionByHash", [tx]) is not None:
        return PENDING
    return VOID
