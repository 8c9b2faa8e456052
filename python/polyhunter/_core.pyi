"""Type stub of `polyhunter._core`, the Rust extension (the hot path)."""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypeVar, final, overload

_T = TypeVar("_T")

__all__ = [
    "DEDUP_KEY_LEN",
    "EXCHANGE_DOMAIN_NAME",
    "FLEET_ACCOUNT_PATH",
    "MATCH_ORDERS_SELECTOR",
    "NO_LOG_INDEX",
    "POLY1271_WRAP_LEN",
    "TOPIC_ADAPTER_PAYOUT_REDEMPTION",
    "TOPIC_ADAPTER_POSITIONS_MERGE",
    "TOPIC_ORDER_FILLED_V1",
    "TOPIC_ORDER_FILLED_V2",
    "TOPIC_PAYOUT_REDEMPTION",
    "TOPIC_POSITIONS_MERGE",
    "TOPIC_TRANSFER_BATCH",
    "TOPIC_TRANSFER_SINGLE",
    "ActivityParser",
    "ActivityTrade",
    "CopyIntent",
    "DecodedLogs",
    "DedupCache",
    "Eip1559Tx",
    "ExchangeDomain",
    "FanoutIndex",
    "Intents",
    "IntentsIter",
    "LeaderExit",
    "LogDecoder",
    "MarketOrderAmounts",
    "MarketOrderBuilder",
    "MatchCall",
    "MatchDecoder",
    "OrderFill",
    "OrderV1",
    "OrderV2",
    "PendingMatch",
    "PendingTransactions",
    "Reject",
    "Signal",
    "SignedMarketOrder",
    "SignedTx",
    "SignedTypedData",
    "Signer",
    "TtlLru",
    "__version__",
    "dedup_key",
    "derive_signers",
    "keccak256",
    "market_order_amounts",
    "recover_address",
    "recover_poly1271_owner",
    "shard_of",
]

__version__: str
DEDUP_KEY_LEN: int

def keccak256(data: bytes) -> bytes:
    """Keccak-256 of `data` (Ethereum's hash)."""

def dedup_key(tx_hash: bytes | str, log_index: int, sub_index: int = 0) -> bytes:
    """The 32-byte key keccak256(tx_hash ‖ be64(log_index) ‖ be32(sub_index)).

    `tx_hash` is 32 raw bytes or "0x" + 64 hex digits; anything else raises `InvalidInputError`
    (bytes of the wrong length) or `DecodeError` (bad hex).
    """

# ---------------------------------------------------------------------------------------------------------
# Log decoding (issue 3, item 1). Amounts are uint256 base units; addresses come out lower-case.

TOPIC_ORDER_FILLED_V1: str
"""topic0 of V1 `OrderFilled`, "0x" + 64 hex digits (for `eth_subscribe` / `eth_getLogs` filters)."""
TOPIC_ORDER_FILLED_V2: str
"""topic0 of V2 `OrderFilled` (also LocalExchange's)."""
TOPIC_TRANSFER_SINGLE: str
"""topic0 of ERC-1155 `TransferSingle`."""
TOPIC_TRANSFER_BATCH: str
"""topic0 of ERC-1155 `TransferBatch`."""
TOPIC_POSITIONS_MERGE: str
"""topic0 of the CTF's `PositionsMerge` (topic 1 = the stakeholder)."""
TOPIC_PAYOUT_REDEMPTION: str
"""topic0 of the CTF's `PayoutRedemption` (topic 1 = the redeemer)."""
TOPIC_ADAPTER_POSITIONS_MERGE: str
"""topic0 of the adapters' `PositionsMerge(address indexed, bytes32 indexed, uint256)`."""
TOPIC_ADAPTER_PAYOUT_REDEMPTION: str
"""topic0 of the adapters' `PayoutRedemption(address indexed, bytes32 indexed, uint256[], uint256)`."""

@final
class Signal:
    """One leader fill, whatever detected it (docs/seams.md). Immutable; equal when every field is equal.

    The decoder builds these; other sources (mempool, activity feed) and tests build them with the
    keyword-only constructor. `price_num / price_den` is the exact price (collateral ÷ tokens, not reduced),
    0/0 when unknown; `usd` is the collateral moved, 0 when unknown.
    """

    def __new__(
        cls,
        *,
        leader: str,
        token_id: int,
        side: Literal["BUY", "SELL"],
        size: int,
        tx_hash: bytes | str,
        log_index: int,
        sub_index: int = 0,
        price_num: int | None = None,
        price_den: int | None = None,
        usd: int | None = None,
        block_number: int | None = None,
        block_hash: bytes | str | None = None,
        exchange: str | None = None,
        source: Literal["v1", "v2", "ctf", "mempool", "activity"] = "activity",
        removed: bool = False,
        seen_at_ns: int | None = None,
        order_hash: bytes | str | None = None,
    ) -> Signal: ...
    @property
    def leader(self) -> str: ...
    @property
    def token_id(self) -> int: ...
    @property
    def side(self) -> Literal["BUY", "SELL"]: ...
    @property
    def size(self) -> int:
        """Outcome tokens traded, base units."""
    @property
    def price_num(self) -> int: ...
    @property
    def price_den(self) -> int: ...
    @property
    def usd(self) -> int:
        """Collateral moved, base units; 0 when unknown (CTF transfers)."""
    @property
    def tx_hash(self) -> bytes: ...
    @property
    def log_index(self) -> int: ...
    @property
    def sub_index(self) -> int:
        """Position inside a `TransferBatch`, else 0."""
    @property
    def block_number(self) -> int | None: ...
    @property
    def block_hash(self) -> bytes | None: ...
    @property
    def exchange(self) -> str:
        """The emitting exchange, or the CTF for transfers."""
    @property
    def source(self) -> Literal["v1", "v2", "ctf", "mempool", "activity"]: ...
    @property
    def removed(self) -> bool:
        """True for a log retracted by a reorg: undo what the original caused."""
    @property
    def seen_at_ns(self) -> int:
        """Wall-clock nanoseconds since the epoch when the signal was decoded."""
    @property
    def order_hash(self) -> bytes | None:
        """The order's EIP-712 hash: an `OrderFilled` row's topic 1 (`v1`, `v2`), a pending order's digest
        (`mempool`); None for `ctf` transfers and `activity` frames. Part of equality, not of `dedup_key`."""
    @property
    def dedup_key(self) -> bytes:
        """`dedup_key(tx_hash, log_index, sub_index)`; for a `ctf` signal keccak256(tx_hash ‖ be64(log_index)
        ‖ be32(sub_index) ‖ leader), so both leaders of one transfer keep their fill."""
    def to_dict(self) -> dict[str, Any]:
        """Every field above as a dict."""

@final
class Reject:
    """A log of a batch that could not be decoded."""

    @property
    def index(self) -> int:
        """Its position in the batch."""
    @property
    def reason(self) -> str: ...

@final
class LeaderExit:
    """A tracked leader's merge or redemption: a position left without a trade (never a SELL signal)."""

    @property
    def leader(self) -> str: ...
    @property
    def kind(self) -> Literal["merge", "redeem"]: ...
    @property
    def condition_id(self) -> bytes: ...
    @property
    def amount(self) -> int:
        """Merge: full sets merged (tokens of each outcome). Redeem: collateral paid out."""
    @property
    def via(self) -> str:
        """The contract that emitted the event: the CTF, or the adapter the leader went through."""
    @property
    def tx_hash(self) -> bytes: ...
    @property
    def log_index(self) -> int: ...
    @property
    def block_number(self) -> int | None: ...
    @property
    def block_hash(self) -> bytes | None: ...
    @property
    def removed(self) -> bool: ...
    @property
    def seen_at_ns(self) -> int: ...

@final
class DecodedLogs:
    """What `LogDecoder.decode` returns."""

    @property
    def signals(self) -> list[Signal]: ...
    @property
    def exits(self) -> list[LeaderExit]:
        """Tracked leaders' merges and redemptions (CTF or adapter events)."""
    @property
    def rejects(self) -> list[Reject]:
        """Malformed logs of a batch (a single malformed log raises instead)."""

@final
class LogDecoder:
    """Turns JSON-RPC bytes into leader signals; built once with the addresses it watches.

    Rules: `OrderFilled` (V1, V2) yields a signal for its maker (topic 2) when tracked, including a taker
    order's row whose topic 3 is the exchange; a leader only in topic 3 yields nothing. CTF `TransferSingle`
    / `TransferBatch` yield one signal per id (sub index = position): SELL for a tracked sender, BUY for a
    tracked receiver, price unknown; nothing when the operator is a watched exchange, for mints/burns (zero
    address), self-transfers and zero values. `non_trading` (Polymarket's adapters and ramps): a transfer
    one of them operates, sends or receives is a split, merge, conversion, redemption or a V1 neg-risk fill
    already in its `OrderFilled`, never a trade. A tracked leader's `PositionsMerge` / `PayoutRedemption`
    (the CTF's, or a `non_trading` adapter's) is a `LeaderExit` in `exits`, never a signal.
    `leaders=None` tracks every address.
    """

    def __new__(
        cls,
        *,
        ctf: str,
        v1_exchanges: Iterable[str] | None = None,
        v2_exchanges: Iterable[str] | None = None,
        leaders: Iterable[str] | None = None,
        non_trading: Iterable[str] | None = None,
    ) -> LogDecoder:
        """An address may hold one role only, else `InvalidInputError`."""
    def decode(self, raw: bytes | str) -> DecodedLogs:
        """Decodes, with the GIL released, one of:

        - an `eth_subscription` notification or one bare log object: a malformed log raises `DecodeError`;
        - an `eth_getLogs` JSON-RPC response or a bare JSON array of logs: malformed logs become `rejects`
          and the rest still decode.

        A log from an unwatched address or with an unknown topic0 is malformed. A JSON-RPC error response
        or input that is none of the above raises `DecodeError`.
        """
    def set_leaders(self, leaders: Iterable[str] | None) -> None:
        """Replaces the tracked leaders (`None`: everyone); a decode in flight keeps its own set."""
    @property
    def leaders(self) -> list[str] | None:
        """The tracked leaders, lower-case and sorted, or `None` when everyone is tracked."""

# ---------------------------------------------------------------------------------------------------------
# Dedup, shards, caches (issue 3, items 2, 3, 5). `now_ms` overrides the process's monotonic clock (in
# milliseconds): for tests and replays; production code leaves it out.

@final
class DedupCache:
    """The local TTL set of dedup keys (32-byte `dedup_key`s), bounded in time and memory; thread-safe.

    Each key lives `ttl_ms` from its first sighting. At `capacity` the oldest key is evicted (it may then
    be seen as new again), so size `capacity` above the keys one TTL window brings.
    """

    def __new__(cls, ttl_ms: int = 60_000, capacity: int = 1_000_000) -> DedupCache:
        """Both bounds must be > 0, else `InvalidInputError`."""
    def check_and_insert(self, keys: Iterable[bytes], *, now_ms: int | None = None) -> list[bool]:
        """For each key in order: True on its first sighting within the TTL (and remembers it), else False.

        A key repeated within one batch is True once. Runs with the GIL released.
        """
    def contains(self, key: bytes, *, now_ms: int | None = None) -> bool:
        """Whether `key` is live, without inserting it."""
    def __contains__(self, key: bytes, /) -> bool: ...
    def __len__(self) -> int: ...
    def clear(self) -> None: ...
    @property
    def ttl_ms(self) -> int: ...
    @property
    def capacity(self) -> int: ...

def shard_of(address: str, shard_count: int) -> int:
    """The shard in `range(shard_count)` that owns `address`, by rendezvous hashing.

    The weight of shard i is the first 8 bytes, big-endian, of keccak256(address (20 bytes) ‖ be32(i)); the
    highest weight wins, the lowest index on a tie. Growing the count from n to n + 1 moves only addresses
    to the new shard n. `shard_count` must be >= 1, else `InvalidInputError`.
    """

@final
class TtlLru:
    """A thread-safe LRU cache of Python values under str / bytes / int keys; entries expire `ttl_ms` after
    they were set (reads refresh recency, not the TTL). Used for quotes (5 s, 500) and preflight (2 s, 1,000).
    """

    def __new__(cls, capacity: int, ttl_ms: int) -> TtlLru:
        """Both bounds must be > 0, else `InvalidInputError`."""
    def get(self, key: str | bytes | int, default: Any = None, *, now_ms: int | None = None) -> Any:
        """The live value of `key` (now most recently used), else `default`."""
    def set(self, key: str | bytes | int, value: Any, *, now_ms: int | None = None) -> None:
        """Sets `key` with a fresh TTL; when full, evicts the least recently used entry."""
    def pop(self, key: str | bytes | int, default: Any = None, *, now_ms: int | None = None) -> Any:
        """Removes `key`; returns its live value, else `default`."""
    def contains(self, key: str | bytes | int, *, now_ms: int | None = None) -> bool:
        """Whether `key` holds a live value (recency unchanged)."""
    def __contains__(self, key: str | bytes | int, /) -> bool: ...
    def __len__(self) -> int:
        """Entries held, including expired ones not yet read or purged (never more than `capacity`)."""
    def purge_expired(self, *, now_ms: int | None = None) -> int:
        """Drops expired entries; returns how many."""
    def clear(self) -> None: ...
    @property
    def capacity(self) -> int: ...
    @property
    def ttl_ms(self) -> int: ...

# ---------------------------------------------------------------------------------------------------------
# Fan-out (issue 3, item 4). Units of docs/seams.md: amounts in base units (6 decimals), prices and
# multipliers in ppm, percentages in bps.

@final
class CopyIntent:
    """One copy to make (docs/seams.md); immutable.

    `amount` is collateral to spend for a BUY, tokens to sell for a SELL. `limit_price_ppm` is the
    leader's price in ppm (a BUY's rounded up, a SELL's down), `None` when the signal has no price.
    """

    @property
    def config_id(self) -> int: ...
    @property
    def follower(self) -> str: ...
    @property
    def proxy(self) -> str: ...
    @property
    def leader(self) -> str: ...
    @property
    def token_id(self) -> int: ...
    @property
    def side(self) -> Literal["BUY", "SELL"]: ...
    @property
    def amount(self) -> int: ...
    @property
    def limit_price_ppm(self) -> int | None: ...
    @property
    def tx_hash(self) -> bytes: ...
    @property
    def log_index(self) -> int: ...
    @property
    def sub_index(self) -> int: ...
    @property
    def signal_index(self) -> int:
        """Position of the signal in the `match` call's input."""
    @property
    def dedup_key(self) -> bytes:
        """The signal's `dedup_key(tx_hash, log_index, sub_index)`."""
    @property
    def idempotency_key(self) -> bytes:
        """The copy job's key: keccak256(dedup_key ‖ be64(config_id))."""
    def to_dict(self) -> dict[str, Any]:
        """The fields above except the two keys, as a dict."""

_JobFields: TypeAlias = tuple[
    bytes, int, str, str, str, int, Literal["BUY", "SELL"], int, int, bytes, int, int, int, int | None, int
]
"""`CopyJob`'s fields in order: key, config_id, follower, proxy, leader, token_id, side, amount,
limit_price_ppm, tx_hash, log_index, sub_index, leader_size, leader_price_ppm, block_number."""

@final
class Intents(Sequence[CopyIntent]):
    """The intents of one `FanoutIndex.match` call: a read-only sequence, each `CopyIntent` built on access
    (the matching itself is done)."""

    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int, /) -> CopyIntent: ...
    @overload
    def __getitem__(self, index: slice, /) -> list[CopyIntent]: ...
    def __iter__(self) -> Iterator[CopyIntent]: ...
    def to_list(self) -> list[CopyIntent]:
        """Every intent, built now."""
    def jobs(self) -> tuple[list[_JobFields], list[bytes], list[int]]:
        """Every intent as the copy job it becomes, in one pass: `(jobs, payloads, signal_indexes)`. Each job
        is `CopyJob`'s fields in order (`CopyJob(*job)`), each payload the exact bytes of
        `CopyJob.to_bytes()`, each signal index the intent's position in the `match` input. Keys are
        computed once per batch (cached)."""
    def jobs_as(self, cls: type[_T]) -> list[_T]:
        """Every intent's job as an instance of `cls`, a frozen slotted dataclass with `CopyJob`'s fields in
        order (`polyhunter.models.CopyJob`), equal to `cls(*job)` for each of `jobs()`'s tuples, built
        without a Python `__init__` per job; `TypeError` for a class with other slots, another base than
        `object` or a `__new__` of its own."""
    def rows(
        self, created_at: int, expires_at: int, intake: str | None = None, claimer: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Every intent as a new PENDING row in the order of `polyhunter.store.base.INSERT_COLUMNS` (a new
        trade's columns with `token_id` as decimal text, the intake token, then claimed_by, claimed_at and
        attempts: `claimer`, `created_at`, 1 when claimed, else None, None, 0), ready for `executemany`."""
    @property
    def skipped(self) -> list[tuple[int, int, str]]:
        """Enabled configs of the signals' leaders that gave no intent: `(signal_index, config_id, reason)`.

        Reasons: `filtered` (token, side, leader size bounds, price band, no matching tier), `no_price`
        (the rule needs a price the signal lacks, e.g. a CTF transfer), `no_balance` (percent sizing
        without a balance), `below_min_size`, `zero_amount` (rounds down to 0), `overflow`.
        """

@final
class IntentsIter(Iterator[CopyIntent]):
    def __iter__(self) -> IntentsIter: ...
    def __next__(self) -> CopyIntent: ...

@final
class FanoutIndex:
    """Follower configs indexed by leader; turns signals into copy intents. Thread-safe.

    A config is a mapping (or any object with these attributes) in the shape of docs/seams.md:
    `config_id` (int > 0), `follower`, `proxy`, `leader` (addresses), `mode` ("fixed" | "ratio" |
    "percent" | "tiered") with `fixed_usd` / `ratio_ppm` / `percent_bps` (1..10000) / `tiers` (a list of
    `(min_leader_usd, max_leader_usd | None, multiplier_ppm)`, or mappings with those keys); optional:
    `token_allow`, `token_deny` (token ids as int or decimal str; empty allow = all), `side_filter`
    ("BUY" | "SELL" | None), `min_leader_usd`, `max_leader_usd`, `min_price_ppm`, `max_price_ppm` (all
    inclusive), `max_per_trade_usd`, `min_size_policy` ("skip" default | "bump"), `enabled` (default
    True), `updated_at`. Other keys are ignored. A bad config raises `InvalidInputError` naming it.

    Sizing (BUY amount = collateral, SELL amount = tokens; "at the leader's price" = price_num/price_den):
    - fixed: BUY `fixed_usd`; SELL `fixed_usd` worth of tokens at the leader's price.
    - ratio: BUY leader collateral * ratio_ppm / 1e6; SELL leader tokens * ratio_ppm / 1e6.
    - percent: `balances[proxy]` * percent_bps / 1e4 of collateral (a SELL converts it to tokens at the
      leader's price); no balance → skipped `no_balance` (see `set_balances`).
    - tiered: the first tier with min_leader_usd <= leader collateral < max_leader_usd gives the
      multiplier, applied as in ratio; none → skipped `filtered`.
    Every computed amount rounds down. Then `max_per_trade_usd` caps it (a SELL's cap is converted to
    tokens at the leader's price, rounded down; a SELL cap without a price skips `no_price`). Then the
    venue minimum (`min_size`, in tokens; a BUY's token count is amount at the leader's price, unchecked
    without a price): below it, "skip" skips `below_min_size` and "bump" raises the amount to the minimum
    (a BUY's collateral rounded up) unless that passes the cap. An amount of 0 is skipped `zero_amount`.
    So no amount is ever negative or above a cap.
    """

    def __new__(cls) -> FanoutIndex: ...
    def upsert(self, config: Mapping[str, Any] | object) -> None:
        """Inserts or replaces one config (by `config_id`)."""
    def upsert_many(self, configs: Iterable[Mapping[str, Any] | object]) -> int:
        """Inserts or replaces many; all are checked before any is applied. Returns how many."""
    def remove(self, config_id: int) -> bool:
        """Removes a config; False when it was not there."""
    def set_balances(self, balances: Mapping[str, int]) -> None:
        """Records Proxy address → collateral balance (base units) for percent sizing, merged into those
        already recorded; convert them once here rather than on every `match`."""
    def clear_balances(self) -> None:
        """Forgets every recorded balance."""
    def __len__(self) -> int: ...
    def __contains__(self, config_id: int, /) -> bool: ...
    def leaders(self) -> list[str]:
        """Leaders with at least one config, lower-case and sorted."""
    def match(
        self,
        signals: Iterable[Signal],
        balances: Mapping[str, int] | None = None,
        min_size: int | Mapping[int | str, int] | None = None,
    ) -> Intents:
        """Copy intents for every enabled config of each signal's leader, with the GIL released.

        `balances`: Proxy address → collateral balance (base units) for this call only, over those
        recorded with `set_balances`; read by percent sizing (a missing balance skips `no_balance`).
        Converted on every call, so pass few.
        `min_size`: the venue's minimum order size in tokens, one int for every token or a mapping token
        id → minimum (others: none).
        Signals with `removed=True` give no intents (the caller cancels what their originals caused).
        """

# --- Signing and the fleet (issue 3, items 6-7) -------------------------------------------------------------

EXCHANGE_DOMAIN_NAME: str
FLEET_ACCOUNT_PATH: str
POLY1271_WRAP_LEN: int
"""Length of a POLY_1271 order signature (the deposit wallet's wrap): 317 bytes."""

@final
class Signer:
    """One private key that signs transactions, CLOB orders and ClobAuth; the key is never shown and is
    erased when the signer is dropped. `repr`/`str` show the address only; errors never contain the key."""

    def __new__(cls, private_key: str | bytes) -> Signer:
        """`private_key`: "0x" + 64 hex digits (prefix optional) or 32 raw bytes."""

    @property
    def address(self) -> str:
        """`0x` + 40 lower-case hex digits."""

    @property
    def checksum_address(self) -> str:
        """The EIP-55 mixed-case address."""

    def sign_hash(self, digest: bytes | str) -> bytes:
        """Signs a 32-byte digest: r ‖ s ‖ v (65 bytes, v = 27/28), RFC 6979, low s."""

    def sign_transaction(self, tx: Eip1559Tx) -> SignedTx:
        """Signs one EIP-1559 transaction (GIL released)."""

    def sign_transactions(self, txs: Sequence[Eip1559Tx]) -> list[SignedTx]:
        """Signs many transactions in one call, in order, the GIL released throughout."""

    def sign_order(self, domain: ExchangeDomain, order: OrderV1 | OrderV2) -> SignedTypedData:
        """Signs a CLOB order under `domain` (whose version must match the order's).

        A V2 order of signature type 3 (POLY_1271) is a deposit wallet's: this key is the wallet's owner,
        `order.signer == order.maker ==` the wallet (else `InvalidInputError`), and the signature is the
        ERC-7739 wrap py-clob-client-v2 makes (`POLY1271_WRAP_LEN` bytes); `hash` stays the order hash."""

    def sign_orders(
        self, domain: ExchangeDomain, orders: Sequence[OrderV1 | OrderV2]
    ) -> list[SignedTypedData]:
        """Signs many orders in one call (type 3 wrapped as in `sign_order`), the GIL released throughout;
        one bad order fails the batch."""

    def sign_clob_auth(
        self, chain_id: int, timestamp: int | str, nonce: int | None = None
    ) -> SignedTypedData:
        """Signs Polymarket's L1 `ClobAuth` (domain "ClobAuthDomain" v1, no contract) for this address;
        `timestamp` is the decimal seconds the struct carries as a string, `nonce` defaults to 0."""

@final
class Eip1559Tx:
    """An unsigned EIP-1559 (type 2) transaction. `to=None` is a contract creation and must be explicit.
    Fees and value are ints in wei; `access_list` items are `(address, [32-byte keys])` or
    eth-account's `{"address": ..., "storageKeys": [...]}`."""

    def __new__(
        cls,
        *,
        chain_id: int,
        nonce: int,
        max_fee_per_gas: int,
        max_priority_fee_per_gas: int,
        gas: int,
        to: str | None,
        value: int | None = None,
        data: bytes | None = None,
        access_list: Sequence[tuple[str, Sequence[bytes | str]] | Mapping[str, object]] | None = None,
    ) -> Eip1559Tx: ...
    @property
    def chain_id(self) -> int: ...
    @property
    def nonce(self) -> int: ...
    @property
    def gas(self) -> int: ...
    @property
    def max_fee_per_gas(self) -> int: ...
    @property
    def max_priority_fee_per_gas(self) -> int: ...
    @property
    def to(self) -> str | None: ...
    @property
    def value(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @property
    def access_list(self) -> list[tuple[str, list[bytes]]]: ...
    def with_fees(self, max_fee_per_gas: int, max_priority_fee_per_gas: int) -> Eip1559Tx:
        """The same transaction with other fees (a replacement under the same nonce)."""

@final
class SignedTx:
    """A signed transaction."""

    @property
    def raw(self) -> bytes:
        """The EIP-2718 bytes for `eth_sendRawTransaction`."""

    @property
    def hash(self) -> bytes:
        """keccak256(raw), 32 bytes."""

@final
class ExchangeDomain:
    """One exchange's EIP-712 domain, its separator precomputed: build once per (exchange, chain id)."""

    def __new__(cls, exchange: str, chain_id: int, version: int = 2, name: str = ...) -> ExchangeDomain:
        """`version` 1 or 2 (also selects `OrderV1` / `OrderV2`); `name` defaults to EXCHANGE_DOMAIN_NAME."""

    @property
    def exchange(self) -> str: ...
    @property
    def chain_id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def separator(self) -> bytes:
        """The EIP-712 domain separator, 32 bytes."""

    def order_hash(self, order: OrderV1 | OrderV2) -> bytes:
        """The order's EIP-712 digest: the `orderHash` the exchange emits."""

@final
class OrderV2:
    """A CLOB V2 order. Amounts, salt, token id and timestamp (ms) are uint256 ints; `side` is "BUY" or
    "SELL"; `signer` defaults to `maker`; `metadata` and `builder` are bytes32 (default zero)."""

    def __new__(
        cls,
        *,
        salt: int,
        maker: str,
        token_id: int,
        maker_amount: int,
        taker_amount: int,
        side: str,
        timestamp: int,
        signer: str | None = None,
        signature_type: int = 0,
        metadata: bytes | str | None = None,
        builder: bytes | str | None = None,
    ) -> OrderV2: ...
    @property
    def salt(self) -> int: ...
    @property
    def maker(self) -> str: ...
    @property
    def signer(self) -> str: ...
    @property
    def token_id(self) -> int: ...
    @property
    def maker_amount(self) -> int: ...
    @property
    def taker_amount(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def signature_type(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def metadata(self) -> bytes: ...
    @property
    def builder(self) -> bytes: ...

@final
class OrderV1:
    """A CLOB V1 order. `signer` defaults to `maker`, `taker` to the zero address, the rest to 0."""

    def __new__(
        cls,
        *,
        salt: int,
        maker: str,
        token_id: int,
        maker_amount: int,
        taker_amount: int,
        side: str,
        signer: str | None = None,
        taker: str | None = None,
        expiration: int | None = None,
        nonce: int | None = None,
        fee_rate_bps: int | None = None,
        signature_type: int = 0,
    ) -> OrderV1: ...
    @property
    def salt(self) -> int: ...
    @property
    def maker(self) -> str: ...
    @property
    def signer(self) -> str: ...
    @property
    def taker(self) -> str: ...
    @property
    def token_id(self) -> int: ...
    @property
    def maker_amount(self) -> int: ...
    @property
    def taker_amount(self) -> int: ...
    @property
    def expiration(self) -> int: ...
    @property
    def nonce(self) -> int: ...
    @property
    def fee_rate_bps(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def signature_type(self) -> int: ...

@final
class SignedTypedData:
    """A signed EIP-712 message (an order or a ClobAuth)."""

    @property
    def hash(self) -> bytes:
        """The digest signed (for an order, its order hash), 32 bytes."""

    @property
    def signature(self) -> bytes:
        """r ‖ s ‖ v, 65 bytes, v = 27/28; for a POLY_1271 order the wallet's wrap, 317 bytes."""

    @property
    def signature_hex(self) -> str:
        """`0x` + hex digits (130, or 634 for a POLY_1271 wrap), as the CLOB API takes it."""

def recover_address(digest: bytes | str, signature: bytes) -> str:
    """The lower-case address whose key made `signature` (65 bytes, v = 0/1/27/28) over `digest`."""

def recover_poly1271_owner(wrap: bytes, wallet: str, chain_id: int, order_hash: bytes | str) -> str:
    """The lower-case address that signed a POLY_1271 `wrap` for `order_hash`, checked the way the deposit
    wallet `wallet` on `chain_id` checks it in `isValidSignature`; compare it with the wallet's owner.

    A malformed wrap (length, type string, length suffix) raises `DecodeError`; a wrap made for another
    order hash (another order, exchange or chain) or a signature no key recovers from raises
    `InvalidInputError`. A wrap signed for another wallet or chain id recovers to another address."""

def derive_signers(mnemonic: str, count: int, *, passphrase: str = "", start: int = 0) -> list[Signer]:
    """Signers at m/44'/60'/0'/0/start … start+count-1 of an English BIP-39 mnemonic (+ passphrase), GIL
    released. A bad phrase raises `InvalidInputError` that never contains it."""

# --- CLOB V2 market orders (issue 12) ---

_AmountRule = Literal["cents", "lots", "legacy"]

@final
class MarketOrderAmounts:
    """A market order's amounts in 6-decimal base units. BUY: maker = collateral paid, taker = shares
    received; SELL: maker = shares sold, taker = collateral received."""

    @property
    def side(self) -> Literal["BUY", "SELL"]: ...
    @property
    def maker_amount(self) -> int: ...
    @property
    def taker_amount(self) -> int: ...
    @property
    def shares(self) -> int:
        """Shares the order trades in full."""

    @property
    def usd(self) -> int:
        """Collateral the order trades in full, before the fee."""

    @property
    def price_ppm(self) -> int:
        """The worst acceptable price the amounts were built for."""

    @property
    def fee(self) -> int:
        """The taker fee if the whole order fills at the limit (BUY: paid on top, within the budget; SELL:
        out of the proceeds), rounded half up to 10 base units as the operator rounds it."""

    @property
    def below_minimum(self) -> bool:
        """Nothing tradeable survives rounding, or less than `min_usd` (BUY) / `min_shares` (SELL)."""

    @property
    def rule(self) -> _AmountRule: ...

def market_order_amounts(
    side: Literal["BUY", "SELL"],
    amount: int,
    price_ppm: int,
    tick_ppm: int,
    *,
    rule: _AmountRule = "cents",
    min_usd: int | None = None,
    min_shares: int | None = None,
    fee_rate_bps: int | None = None,
    fee_exponent: int | None = None,
) -> MarketOrderAmounts:
    """A market order's amounts: `amount` is the BUY budget (the taker fee included) or the shares a SELL
    may sell; `price_ppm` the worst acceptable price, on the tick (`tick_ppm`, e.g. 10_000 for 0.01).

    Amounts round down: a BUY's `usd + fee` never exceeds `amount`, a SELL's `shares` never does.
    `rule` is `CLOB_AMOUNT_RULE`: "cents" (maker ≤ 2 decimals, taker ≤ 4, exact price ratio), "lots"
    (exact ratio, any base unit), "legacy" (2/4 decimals, price rounded within a tick). `min_usd`
    defaults to $1 (1_000_000), `min_shares` to 0, `fee_rate_bps` to 0, `fee_exponent` to 1 (1..3).
    A price off the tick or outside (0, 1), or a bad tick, raises `InvalidInputError`."""

@final
class SignedMarketOrder:
    """A market order built and signed in one call."""

    @property
    def order(self) -> OrderV2: ...
    @property
    def signed(self) -> SignedTypedData:
        """The order hash and the signature (65 bytes for type 0, the 317-byte wrap for type 3)."""

    @property
    def amounts(self) -> MarketOrderAmounts: ...

@final
class MarketOrderBuilder:
    """Builds and signs one wallet's market orders on one exchange: build once per (key, wallet,
    exchange, rule), then `build` per order.

    `signature_type` 0: the signer's own orders (`maker` omitted or the signer's address). 3 (POLY_1271):
    `maker` is the deposit wallet the signer owns (order.signer = order.maker = wallet). Anything else
    raises `InvalidInputError`."""

    def __new__(
        cls,
        signer: Signer,
        domain: ExchangeDomain,
        *,
        maker: str | None = None,
        signature_type: int = 0,
        rule: _AmountRule = "cents",
        metadata: bytes | str | None = None,
        builder: bytes | str | None = None,
    ) -> MarketOrderBuilder: ...
    @property
    def maker(self) -> str: ...
    @property
    def signature_type(self) -> int: ...
    @property
    def rule(self) -> _AmountRule: ...
    def build(
        self,
        *,
        token_id: int,
        side: Literal["BUY", "SELL"],
        amount: int,
        price_ppm: int,
        tick_ppm: int,
        salt: int,
        timestamp: int,
        min_usd: int | None = None,
        min_shares: int | None = None,
        fee_rate_bps: int | None = None,
        fee_exponent: int | None = None,
    ) -> SignedMarketOrder:
        """`market_order_amounts` + the `OrderV2` + its signature, in one call with the GIL released.

        `timestamp` is in ms. Below the minimum raises `GuardrailRejected` with reason "below_min_size"
        (nothing is signed); bad input raises `InvalidInputError`."""

# ---------------------------------------------------------------------------------------------------------
# Pending matchOrders calls (issue 13). Amounts are uint256 base units; addresses come out lower-case.

MATCH_ORDERS_SELECTOR: str
"""`"0x3c2b4399"`: `matchOrders` of Polymarket's V2 exchanges."""
NO_LOG_INDEX: int
"""The log index of a pending fill's signal (2**64 - 1): it has no log yet."""

_SignatureStatus = Literal["valid", "needs_owner", "invalid", "unsupported", "unchecked"]

@final
class OrderFill:
    """One order of a `matchOrders` call: the order, its EIP-712 hash under the exchange's domain, what it
    executes (as its `OrderFilled` row will report it) and the check of its signature."""

    @property
    def position(self) -> int:
        """Emission order: makers 0..n-1 in calldata order, the taker n."""
    @property
    def is_taker(self) -> bool: ...
    @property
    def match_type(self) -> Literal["COMPLEMENTARY", "MINT", "MERGE"] | None:
        """How a maker meets the taker; None for the taker."""
    @property
    def maker(self) -> str: ...
    @property
    def signer(self) -> str: ...
    @property
    def token_id(self) -> int: ...
    @property
    def side(self) -> Literal["BUY", "SELL"]: ...
    @property
    def maker_amount(self) -> int: ...
    @property
    def taker_amount(self) -> int: ...
    @property
    def salt(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def metadata(self) -> bytes: ...
    @property
    def builder(self) -> bytes: ...
    @property
    def signature_type(self) -> int: ...
    @property
    def signature(self) -> bytes: ...
    @property
    def order_hash(self) -> bytes: ...
    @property
    def fill_amount(self) -> int:
        """The fill the calldata names, in maker-amount terms (`makerFillAmounts[i]` / `takerFillAmount`)."""
    @property
    def making(self) -> int:
        """What the order executes in maker-amount terms (its `OrderFilled.makerAmountFilled`)."""
    @property
    def taking(self) -> int:
        """What the order receives (its `OrderFilled.takerAmountFilled`)."""
    @property
    def fee(self) -> int: ...
    @property
    def size(self) -> int:
        """Outcome tokens the fill moves."""
    @property
    def usd(self) -> int:
        """Collateral the fill moves, before fees."""
    @property
    def price(self) -> tuple[int, int]:
        """The fill's exact price (collateral, tokens), not reduced."""
    @property
    def limit_price(self) -> tuple[int, int]:
        """The order's own limit (collateral, tokens), not reduced."""
    @property
    def signature_status(self) -> _SignatureStatus:
        """`valid`: an EOA order the maker signed (ecrecover as the exchange does it); `needs_owner`: a
        well-formed POLY_1271 wrap for this order, valid if `wrap_signer` owns the maker wallet; `invalid`
        (see `signature_error`); `unsupported` (proxy and Safe wallets); `unchecked` (maker not watched)."""
    @property
    def wrap_signer(self) -> str | None: ...
    @property
    def signature_error(self) -> str | None: ...
    @property
    def watched(self) -> bool:
        """Whether the maker is a tracked leader."""
    def signal(self) -> Signal:
        """The `mempool` signal of this fill: leader = maker, its side, token, size, exact price, the
        transaction's hash, `log_index = NO_LOG_INDEX`, `sub_index = position`, no block."""

@final
class MatchCall:
    """A decoded `matchOrders` call."""

    @property
    def exchange(self) -> str: ...
    @property
    def condition_id(self) -> bytes: ...
    @property
    def taker_fill_amount(self) -> int: ...
    @property
    def fills(self) -> list[OrderFill]:
        """Makers in calldata order, then the taker (the order of the `OrderFilled` rows)."""

@final
class PendingMatch:
    """A pending transaction calling `matchOrders` on a watched exchange."""

    @property
    def tx_hash(self) -> bytes: ...
    @property
    def sender(self) -> str: ...
    @property
    def nonce(self) -> int | None: ...
    @property
    def call(self) -> MatchCall: ...
    @property
    def seen_at_ns(self) -> int: ...

@final
class PendingTransactions:
    """What `MatchDecoder.decode_transactions` returns."""

    @property
    def matches(self) -> list[PendingMatch]: ...
    @property
    def rejects(self) -> list[tuple[int, str]]:
        """(index in the input, reason) of matchOrders calls that do not decode or would revert."""
    @property
    def ignored(self) -> int:
        """Transactions that are not matchOrders calls to a watched exchange."""
    @property
    def hashes(self) -> list[bytes]:
        """Entries that carried only a transaction hash (fetch them by hash)."""

@final
class MatchDecoder:
    """Decodes `matchOrders` calls to Polymarket's V2 exchanges on one chain; built once."""

    def __new__(
        cls, *, chain_id: int, exchanges: Iterable[str], leaders: Iterable[str] | None = None
    ) -> MatchDecoder:
        """`leaders=None` tracks every maker; no exchange raises `InvalidInputError`."""
    def decode_call(self, exchange: str, data: bytes, *, tx_hash: bytes | str | None = None) -> MatchCall:
        """One call's input (selector included). Calldata that does not decode raises `DecodeError`; one
        that would revert (zero amounts, overflow, prices that do not cross, taker fill exceeded) raises
        `InvalidInputError`."""
    def decode_transactions(self, raw: bytes | str) -> PendingTransactions:
        """Pending transactions as JSON, with the GIL released: one transaction, an `eth_subscription`
        notification (full object or hash), an array, a JSON-RPC response (transaction, null, array or
        `txpool_content`) or a batch of responses. Input of none of these shapes raises `DecodeError`."""
    def set_leaders(self, leaders: Iterable[str] | None) -> None: ...
    @property
    def leaders(self) -> list[str] | None: ...
    @property
    def exchanges(self) -> list[str]: ...
    @property
    def chain_id(self) -> int: ...

# ---------------------------------------------------------------------------------------------------------
# The activity feed's frames (issue 13).

@final
class ActivityTrade:
    """One trade of a watched wallet from the activity feed (topic `activity`): its signal and what joins it
    to its fill (no order hash: wallet, asset, side, size, price, transaction)."""

    @property
    def signal(self) -> Signal:
        """Source `activity`, leader = the wallet, `log_index = NO_LOG_INDEX`, sub index 0, price =
        `price[0] / 10**6` exactly, `usd = floor(size * price)`, no block, no exchange."""
    @property
    def wallet(self) -> str:
        """The order's maker (`proxyWallet`), lower-case: the leader."""
    @property
    def asset(self) -> int: ...
    @property
    def side(self) -> Literal["BUY", "SELL"]: ...
    @property
    def size(self) -> int:
        """Shares in base units (6 decimals)."""
    @property
    def price(self) -> tuple[int, int]:
        """`(price in base units, 10**6)`."""
    @property
    def usd(self) -> int: ...
    @property
    def tx_hash(self) -> bytes: ...
    @property
    def frame_type(self) -> Literal["trades", "orders_matched"]: ...
    @property
    def timestamp_ms(self) -> int:
        """The trade's time (the payload's, in s or ms, else the envelope's), in ms."""
    @property
    def pushed_ms(self) -> int | None:
        """The envelope's timestamp: when the service pushed the frame."""
    @property
    def seen_at_ns(self) -> int: ...

@final
class ActivityParser:
    """Parses activity-feed frames for a set of watched wallets; built once, leaders replaceable."""

    def __new__(cls, leaders: Iterable[str] | None) -> ActivityParser:
        """`leaders=None` keeps every wallet's trades."""
    def parse_frames(
        self, frames: Iterable[bytes | str]
    ) -> tuple[list[ActivityTrade], list[tuple[int, str]]]:
        """One batch, GIL released: the trades of watched wallets, and `(index, reason)` of each frame that
        is not a well-formed trade frame (not JSON, no payload, another topic or type, a bad field: a zero
        size, a price outside (0, 1), more than 6 decimals, a sign or exponent). Frames of other wallets
        are in neither list. Never raises on frame content; a frame that is neither bytes nor str raises
        TypeError."""
    def set_leaders(self, leaders: Iterable[str] | None) -> None: ...
    @property
    def leaders(self) -> list[str] | None: ...
