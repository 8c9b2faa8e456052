"""Type stub of `polyhunter._core`, the Rust extension (the hot path)."""

from collections.abc import Mapping, Sequence
from typing import final

__all__ = [
    "DEDUP_KEY_LEN",
    "EXCHANGE_DOMAIN_NAME",
    "FLEET_ACCOUNT_PATH",
    "Eip1559Tx",
    "ExchangeDomain",
    "OrderV1",
    "OrderV2",
    "SignedTx",
    "SignedTypedData",
    "Signer",
    "__version__",
    "dedup_key",
    "derive_signers",
    "keccak256",
    "recover_address",
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

# --- Signing and the fleet (issue 3, items 6-7) -------------------------------------------------------------

EXCHANGE_DOMAIN_NAME: str
FLEET_ACCOUNT_PATH: str

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
        """Signs a CLOB order under `domain` (whose version must match the order's). V2 signature type 3
        (POLY_1271) raises `InvalidInputError`: it needs an ERC-7739 wrapper this does not make."""

    def sign_orders(
        self, domain: ExchangeDomain, orders: Sequence[OrderV1 | OrderV2]
    ) -> list[SignedTypedData]:
        """Signs many orders in one call, the GIL released throughout; one bad order fails the batch."""

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
        """r ‖ s ‖ v, 65 bytes, v = 27/28."""

    @property
    def signature_hex(self) -> str:
        """`0x` + 130 hex digits, as the CLOB API takes it."""

def recover_address(digest: bytes | str, signature: bytes) -> str:
    """The lower-case address whose key made `signature` (65 bytes, v = 0/1/27/28) over `digest`."""

def derive_signers(mnemonic: str, count: int, *, passphrase: str = "", start: int = 0) -> list[Signer]:
    """Signers at m/44'/60'/0'/0/start … start+count-1 of an English BIP-39 mnemonic (+ passphrase), GIL
    released. A bad phrase raises `InvalidInputError` that never contains it."""
