"""Calldata of the Executor, LocalExchange and token calls the engine makes, and decoding of our own sends.

Recovery reads the amounts a journaled transaction moved back from its input (`decode_pull`), so that an
interrupted flow is finished or undone with exactly what was pulled.

The `..._to` / `..._from` encoders are the Executor's worker-wallet variants: a pull to, or a push from, the
calling worker or its registered trading wallet (`Executor.setWorkerWallet`); `decode_pull_to` reads back
where such a pull sent the funds.

A Smart Buffer push records its debt on the Executor in the same call (`push_erc1155_with_debt`), under
`chain_debt_id(trade_key)`: one id per copy trade, derived from its key, so that the store's rows and the
chain's records name the same debt without another column; repayments pay at most what the chain recorded.
The Executor keeps it under `chain_debt_key(trade_key, recorder)` (the id hashed with the pushing worker), and
`debtOpen`, the repayments and `reassignDebt` take that key.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import decode, encode

from polyhunter._core import keccak256
from polyhunter.errors import DecodeError, InvalidInputError

SIDE_BUY, SIDE_SELL = 0, 1


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


PULL_ERC20 = selector("pullERC20(address,address,uint256)")
PULL_ERC1155 = selector("pullERC1155(address,address,uint256,uint256)")
PUSH_ERC20 = selector("pushERC20(address,address,uint256)")
PUSH_ERC1155 = selector("pushERC1155(address,address,uint256,uint256)")
PULL_ERC20_BATCH = selector("pullERC20Batch(address[],address,uint256[])")
PULL_ERC1155_BATCH = selector("pullERC1155Batch(address[],address,uint256[],uint256[])")
PUSH_ERC20_BATCH = selector("pushERC20Batch(address[],address,uint256[])")
PUSH_ERC1155_BATCH = selector("pushERC1155Batch(address[],address,uint256[],uint256[])")
REPAY_DEBT_BATCH = selector("repayDebtBatch(address[],address,uint256[],address,bytes32[])")
FILL = selector("fill(address,uint8,uint256,uint256,uint256)")
BALANCE_OF_1155 = selector("balanceOf(address,uint256)")
BALANCE_OF_20 = selector("balanceOf(address)")
IS_WORKER = selector("isWorker(address)")
REMAINING_TODAY = selector("remainingToday()")
DEBT_REPAID_TOPIC = keccak256(b"DebtRepaid(address,address,address,uint256,uint256,bytes32,address)")

PULL_ERC20_TO = selector("pullERC20To(address,address,uint256,address)")
PULL_ERC1155_TO = selector("pullERC1155To(address,address,uint256,uint256,address)")
PUSH_ERC20_FROM = selector("pushERC20From(address,address,uint256,address)")
PUSH_ERC1155_FROM = selector("pushERC1155From(address,address,uint256,uint256,address)")
PULL_ERC20_BATCH_TO = selector("pullERC20BatchTo(address[],address,uint256[],address)")
PULL_ERC1155_BATCH_TO = selector("pullERC1155BatchTo(address[],address,uint256[],uint256[],address)")
PUSH_ERC20_BATCH_FROM = selector("pushERC20BatchFrom(address[],address,uint256[],address)")
PUSH_ERC1155_BATCH_FROM = selector("pushERC1155BatchFrom(address[],address,uint256[],uint256[],address)")
REPAY_DEBT_TO = selector("repayDebtTo(address,address,uint256,address,address,bytes32)")
REPAY_DEBT_BATCH_TO = selector("repayDebtBatchTo(address[],address,uint256[],address,address,bytes32[])")
SET_WORKER_WALLET = selector("setWorkerWallet(address,address)")
PUSH_ERC1155_WITH_DEBT = selector(
    "pushERC1155WithDebt(address,address,uint256,uint256,address,uint256,bytes32)"
)
PUSH_ERC1155_FROM_WITH_DEBT = selector(
    "pushERC1155FromWithDebt(address,address,uint256,uint256,address,address,uint256,bytes32)"
)
DEBT_OPEN = selector("debtOpen(bytes32)")
WORKER_CAP = selector("workerCap(address)")
WORKER_PULLED_IN_WINDOW = selector("workerPulledInWindow(address)")
DEBT_RECORDED_TOPIC = keccak256(b"DebtRecorded(bytes32,address,address,address,uint256,address)")
_DEBT_ID_DOMAIN = b"polyhunter-debt"
WALLET_OF = selector("walletOf(address)")
# Indexed like DebtRepaid (proxy, creditor, token): a filter on [[DEBT_REPAID_TOPIC, DEBT_REPAID_TO_TOPIC],
# proxy, creditor] finds a debt's repayment whichever way it was paid.
DEBT_REPAID_TO_TOPIC = keccak256(
    b"DebtRepaidTo(address,address,address,uint256,uint256,bytes32,address,address)"
)


def pull_erc20(proxies: Sequence[str], token: str, amounts: Sequence[int]) -> bytes:
    """One Proxy: `pullERC20`; several: `pullERC20Batch` (all or nothing)."""
    if len(proxies) == 1:
        return PULL_ERC20 + encode(["address", "address", "uint256"], [proxies[0], token, amounts[0]])
    return PULL_ERC20_BATCH + encode(
        ["address[]", "address", "uint256[]"], [list(proxies), token, list(amounts)]
    )


def pull_erc1155(proxies: Sequence[str], token: str, token_id: int, amounts: Sequence[int]) -> bytes:
    if len(proxies) == 1:
        return PULL_ERC1155 + encode(
            ["address", "address", "uint256", "uint256"], [proxies[0], token, token_id, amounts[0]]
        )
    return PULL_ERC1155_BATCH + encode(
        ["address[]", "address", "uint256[]", "uint256[]"],
        [list(proxies), token, [token_id] * len(proxies), list(amounts)],
    )


def push_erc20(proxies: Sequence[str], token: str, amounts: Sequence[int]) -> bytes:
    if len(proxies) == 1:
        return PUSH_ERC20 + encode(["address", "address", "uint256"], [proxies[0], token, amounts[0]])
    return PUSH_ERC20_BATCH + encode(
        ["address[]", "address", "uint256[]"], [list(proxies), token, list(amounts)]
    )


def push_erc1155(proxies: Sequence[str], token: str, token_id: int, amounts: Sequence[int]) -> bytes:
    if len(proxies) == 1:
        return PUSH_ERC1155 + encode(
            ["address", "address", "uint256", "uint256"], [proxies[0], token, token_id, amounts[0]]
        )
    return PUSH_ERC1155_BATCH + encode(
        ["address[]", "address", "uint256[]", "uint256[]"],
        [list(proxies), token, [token_id] * len(proxies), list(amounts)],
    )


def fill(maker: str, side: int, token_id: int, tokens: int, collateral: int) -> bytes:
    """LocalExchange.fill: the caller buys (side 0) or sells (1) `tokens` for exactly `collateral`."""
    return FILL + encode(
        ["address", "uint8", "uint256", "uint256", "uint256"], [maker, side, token_id, tokens, collateral]
    )


def push_erc1155_with_debt(
    proxy: str,
    token: str,
    token_id: int,
    amount: int,
    debt_token: str,
    debt: int,
    debt_id: bytes,
    source: str | None = None,
) -> bytes:
    """A Smart Buffer push: `amount` of `token_id` into `proxy` from the worker (or, given `source`, from its
    registered wallet), recording that the Proxy owes `debt` of `debt_token` to that account as `debt_id`."""
    if source is None:
        return PUSH_ERC1155_WITH_DEBT + encode(
            ["address", "address", "uint256", "uint256", "address", "uint256", "bytes32"],
            [proxy, token, token_id, amount, debt_token, debt, debt_id],
        )
    return PUSH_ERC1155_FROM_WITH_DEBT + encode(
        ["address", "address", "uint256", "uint256", "address", "address", "uint256", "bytes32"],
        [proxy, token, token_id, amount, source, debt_token, debt, debt_id],
    )


def chain_debt_id(trade_key: bytes) -> bytes:
    """The Executor's id of the debt of copy trade `trade_key` (one debt per trade at most)."""
    return keccak256(_DEBT_ID_DOMAIN + trade_key)


def debt_key(recorder: str, debt_id: bytes) -> bytes:
    """The key under which the Executor holds the debt `recorder` recorded as `debt_id` (`Executor.debtKey`):
    `debtOpen`, the repayments and `reassignDebt` take it, so another worker cannot take an id first."""
    return keccak256(encode(["address", "bytes32"], [recorder, debt_id_bytes(debt_id)]))


def chain_debt_key(trade_key: bytes, worker: str) -> bytes:
    """The Executor's key of the debt of copy trade `trade_key` recorded by `worker`: the wallet that sent
    the push (the journal's PUSHED entry), which stays the key when the owner moves the debt elsewhere."""
    return debt_key(worker, chain_debt_id(trade_key))


def debt_open(debt_id: bytes) -> bytes:
    """The `eth_call` data of `debtOpen(debt_id)`: what is still owed of a recorded debt (one uint256)."""
    return DEBT_OPEN + encode(["bytes32"], [debt_id])


def worker_cap(worker: str) -> bytes:
    """The `eth_call` data of `workerCap(worker)` (one uint256: base units per 60-minute period)."""
    return WORKER_CAP + encode(["address"], [worker])


def worker_pulled_in_window(worker: str) -> bytes:
    """The `eth_call` data of `workerPulledInWindow(worker)` (one uint256)."""
    return WORKER_PULLED_IN_WINDOW + encode(["address"], [worker])


def repay_debt_batch(
    proxies: Sequence[str],
    token: str,
    amounts: Sequence[int],
    creditor: str,
    debt_ids: Sequence[int | bytes],
) -> bytes:
    return REPAY_DEBT_BATCH + encode(
        ["address[]", "address", "uint256[]", "address", "bytes32[]"],
        [list(proxies), token, list(amounts), creditor, [debt_id_bytes(d) for d in debt_ids]],
    )


def pull_erc20_to(proxies: Sequence[str], token: str, amounts: Sequence[int], to: str) -> bytes:
    """Proxies -> `to` (the calling worker or its wallet). One Proxy: `pullERC20To`; several: the batch."""
    if len(proxies) == 1:
        return PULL_ERC20_TO + encode(
            ["address", "address", "uint256", "address"], [proxies[0], token, amounts[0], to]
        )
    return PULL_ERC20_BATCH_TO + encode(
        ["address[]", "address", "uint256[]", "address"], [list(proxies), token, list(amounts), to]
    )


def pull_erc1155_to(
    proxies: Sequence[str], token: str, token_id: int, amounts: Sequence[int], to: str
) -> bytes:
    if len(proxies) == 1:
        return PULL_ERC1155_TO + encode(
            ["address", "address", "uint256", "uint256", "address"],
            [proxies[0], token, token_id, amounts[0], to],
        )
    return PULL_ERC1155_BATCH_TO + encode(
        ["address[]", "address", "uint256[]", "uint256[]", "address"],
        [list(proxies), token, [token_id] * len(proxies), list(amounts), to],
    )


def push_erc20_from(proxies: Sequence[str], token: str, amounts: Sequence[int], source: str) -> bytes:
    """`source` (the calling worker or its wallet, which approved the Executor) -> Proxies."""
    if len(proxies) == 1:
        return PUSH_ERC20_FROM + encode(
            ["address", "address", "uint256", "address"], [proxies[0], token, amounts[0], source]
        )
    return PUSH_ERC20_BATCH_FROM + encode(
        ["address[]", "address", "uint256[]", "address"], [list(proxies), token, list(amounts), source]
    )


def push_erc1155_from(
    proxies: Sequence[str], token: str, token_id: int, amounts: Sequence[int], source: str
) -> bytes:
    if len(proxies) == 1:
        return PUSH_ERC1155_FROM + encode(
            ["address", "address", "uint256", "uint256", "address"],
            [proxies[0], token, token_id, amounts[0], source],
        )
    return PUSH_ERC1155_BATCH_FROM + encode(
        ["address[]", "address", "uint256[]", "uint256[]", "address"],
        [list(proxies), token, [token_id] * len(proxies), list(amounts), source],
    )


def repay_debt_batch_to(
    proxies: Sequence[str],
    token: str,
    amounts: Sequence[int],
    creditor: str,
    to: str,
    debt_ids: Sequence[int | bytes],
) -> bytes:
    """Debts paid to `to`: the authorised `creditor` itself or its registered wallet."""
    return REPAY_DEBT_BATCH_TO + encode(
        ["address[]", "address", "uint256[]", "address", "address", "bytes32[]"],
        [list(proxies), token, list(amounts), creditor, to, [debt_id_bytes(d) for d in debt_ids]],
    )


def set_worker_wallet(worker: str, wallet: str) -> bytes:
    """Owner only: `wallet` becomes `worker`'s trading wallet (the zero address clears it)."""
    return SET_WORKER_WALLET + encode(["address", "address"], [worker, wallet])


def wallet_of(worker: str) -> bytes:
    """The `eth_call` data of `walletOf(worker)`; the reply is one address word (zero: none)."""
    return WALLET_OF + encode(["address"], [worker])


def debt_id_bytes(debt_id: int | bytes) -> bytes:
    """A debt id as the bytes32 the Executor takes: bytes as they are (`chain_debt_id`), an int big-endian."""
    if isinstance(debt_id, bytes):
        if len(debt_id) != 32:
            raise InvalidInputError(f"a debt id is 32 bytes, got {len(debt_id)}")
        return debt_id
    return debt_id.to_bytes(32, "big")


def decode_pull(data: bytes, proxy: str) -> int:
    """The amount a pull (single or batch, ERC-20 or ERC-1155) moved from `proxy`, from its calldata."""
    head, body = data[:4], data[4:]
    proxy = proxy.lower()
    if head in (PULL_ERC20, PULL_ERC1155):
        types = (
            ["address", "address", "uint256"]
            if head == PULL_ERC20
            else ["address", "address", "uint256", "uint256"]
        )
        values = decode(types, body)
        if str(values[0]).lower() != proxy:
            raise DecodeError(f"the pull moved from {values[0]}, not {proxy}")
        return int(values[-1])
    if head in (PULL_ERC20_BATCH, PULL_ERC1155_BATCH):
        if head == PULL_ERC20_BATCH:
            proxies, _token, amounts = decode(["address[]", "address", "uint256[]"], body)
        else:
            proxies, _token, _ids, amounts = decode(["address[]", "address", "uint256[]", "uint256[]"], body)
        total = sum(int(a) for p, a in zip(proxies, amounts, strict=True) if str(p).lower() == proxy)
        if total == 0:
            raise DecodeError(f"the batch pull did not move anything from {proxy}")
        return total
    if head in _PULL_TO_TYPES:
        return decode_pull_to(data, proxy)[0]
    raise DecodeError(f"not a pull: selector 0x{head.hex()}")


_PULL_TO_TYPES: dict[bytes, list[str]] = {
    PULL_ERC20_TO: ["address", "address", "uint256", "address"],
    PULL_ERC1155_TO: ["address", "address", "uint256", "uint256", "address"],
    PULL_ERC20_BATCH_TO: ["address[]", "address", "uint256[]", "address"],
    PULL_ERC1155_BATCH_TO: ["address[]", "address", "uint256[]", "uint256[]", "address"],
}


def decode_pull_to(data: bytes, proxy: str) -> tuple[int, str]:
    """(amount moved from `proxy`, destination) of a `...To` pull, single or batch, from its calldata;
    the destination lower-case."""
    head, body = data[:4], data[4:]
    types = _PULL_TO_TYPES.get(head)
    if types is None:
        raise DecodeError(f"not a pull to a wallet: selector 0x{head.hex()}")
    values = decode(types, body)
    proxy, to = proxy.lower(), str(values[-1]).lower()
    if head in (PULL_ERC20_TO, PULL_ERC1155_TO):
        if str(values[0]).lower() != proxy:
            raise DecodeError(f"the pull moved from {values[0]}, not {proxy}")
        return int(values[-2]), to
    total = sum(int(a) for p, a in zip(values[0], values[-2], strict=True) if str(p).lower() == proxy)
    if total == 0:
        raise DecodeError(f"the batch pull did not move anything from {proxy}")
    return total, to


def address_arg(address: str) -> bytes:
    return encode(["address"], [address])


# --- redemptions and merges (docs/seams.md "Redemptions and merges") -------------------------------------

REDEEM_BATCH = selector("redeemBatch(address[],address,address,bytes32)")
MERGE_BATCH = selector("mergeBatch(address[],address,address,bytes32,uint256[])")
PROXY_OWNER = selector("proxyOwner(address)")
PROXY_REDEEMED_TOPIC = keccak256(b"ProxyRedeemed(address,bytes32,address,uint256,address)")
PROXY_MERGED_TOPIC = keccak256(b"ProxyMerged(address,bytes32,address,uint256,address)")
CONDITION_RESOLUTION_TOPIC = keccak256(b"ConditionResolution(bytes32,address,bytes32,uint256,uint256[])")


def redeem_batch(proxies: Sequence[str], ctf: str, collateral: str, condition_id: bytes) -> bytes:
    """`Executor.redeemBatch`: each Proxy redeems all its positions of the condition over `collateral`."""
    return REDEEM_BATCH + encode(
        ["address[]", "address", "address", "bytes32"], [list(proxies), ctf, collateral, condition_id]
    )


def merge_batch(
    proxies: Sequence[str], ctf: str, collateral: str, condition_id: bytes, amounts: Sequence[int]
) -> bytes:
    """`Executor.mergeBatch`: each Proxy merges `amounts[i]` YES + NO of the condition back to collateral."""
    if len(proxies) != len(amounts):
        raise InvalidInputError(f"{len(proxies)} Proxies but {len(amounts)} amounts")
    return MERGE_BATCH + encode(
        ["address[]", "address", "address", "bytes32", "uint256[]"],
        [list(proxies), ctf, collateral, condition_id, list(amounts)],
    )


def proxy_owner(proxy: str) -> bytes:
    """`Executor.proxyOwner(proxy)`: zero for anything the Executor did not register."""
    return PROXY_OWNER + address_arg(proxy)


def balance_of_1155(holder: str, token_id: int) -> bytes:
    return BALANCE_OF_1155 + encode(["address", "uint256"], [holder, token_id])
