"""POLY_1271 (deposit-wallet) V2 orders signed in Rust, checked byte for byte against py-clob-client-v2.

The reference is `ExchangeOrderBuilderV2` of py-clob-client-v2 1.2.1 (its `_build_poly_1271_order_signature`),
with its own test vector; the verifier `recover_poly1271_owner` is the check a deposit wallet makes.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import (
    ORDER_TYPE_STRING,
    ExchangeOrderBuilderV2,
)
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer as RefSigner

from polyhunter import DecodeError, InvalidInputError
from polyhunter._core import (
    POLY1271_WRAP_LEN,
    ExchangeDomain,
    OrderV2,
    Signer,
    recover_poly1271_owner,
)

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
# py-clob-client-v2's config for Amoy (80002) names the Polygon V2 exchange address.
AMOY = 80002
V2_EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
DEPOSIT_WALLET = "0x1111111111111111111111111111111111111111"

# Verbatim from py-clob-client-v2's tests/order_utils/test_exchange_order_builder_v2.py.
EXPECTED_POLY_1271_SIGNATURE = (
    "0xa3a093c83b6c20c83355c16ce94c92e6e9fcbdeb840618cc74f6c57a42ad145b"
    "2b98db73d2c73cbf1f2b6af288566ae81960ddbc3a13921027358a8bff3be6ff1c"
    "a440cbd865bc0c6243d7a8df9a8bf48a8827b0a4abbb61c30e96d305423af148"
    "d23d42d3ad94e65d78258cecaf8dcbaddac0f73dc085040f2c12bb595dd83804"
    "4f726465722875696e743235362073616c742c61646472657373206d616b65722c"
    "61646472657373207369676e65722c75696e7432353620746f6b656e49642c75"
    "696e74323536206d616b6572416d6f756e742c75696e743235362074616b6572"
    "416d6f756e742c75696e743820736964652c75696e7438207369676e61747572"
    "65547970652c75696e743235362074696d657374616d702c6279746573333220"
    "6d657461646174612c62797465733332206275696c6465722900ba"
)
EXPECTED_ORDER_HASH = "0x2afca94626db91b2d556c351584a4cd93e13da32e377dc48c7983e43afa5ab47"

keys = st.integers(min_value=1, max_value=CURVE_ORDER - 1).map(lambda k: "0x" + k.to_bytes(32, "big").hex())
u256 = st.integers(min_value=0, max_value=2**256 - 1)
chain_ids = st.integers(min_value=1, max_value=2**63)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
sides = st.sampled_from(["BUY", "SELL"])
REF_SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}


def vector_order(**changes: Any) -> OrderV2:
    """py-clob-client-v2's `_poly_1271_order_data()` with its fixed salt and timestamp."""
    fields: dict[str, Any] = {
        "salt": 479249096354,
        "maker": DEPOSIT_WALLET,
        "signer": DEPOSIT_WALLET,
        "token_id": 1234,
        "maker_amount": 100_000_000,
        "taker_amount": 50_000_000,
        "side": "BUY",
        "signature_type": 3,
        "timestamp": 1_710_000_000_000,
    }
    return OrderV2(**{**fields, **changes})


def test_vector_byte_for_byte() -> None:
    owner = Signer(ANVIL_KEY_0)
    domain = ExchangeDomain(V2_EXCHANGE, AMOY)
    signed = owner.sign_order(domain, vector_order())
    assert signed.signature_hex == EXPECTED_POLY_1271_SIGNATURE
    assert len(signed.signature_hex) == 636
    assert len(signed.signature) == POLY1271_WRAP_LEN == 65 + 32 + 32 + len(ORDER_TYPE_STRING) + 2
    assert "0x" + signed.hash.hex() == EXPECTED_ORDER_HASH
    assert signed.hash == domain.order_hash(vector_order())
    assert recover_poly1271_owner(signed.signature, DEPOSIT_WALLET, AMOY, signed.hash) == owner.address
    [batched] = owner.sign_orders(domain, [vector_order()])
    assert (batched.hash, batched.signature) == (signed.hash, signed.signature)


def test_a_batch_mixes_the_owners_own_orders_and_its_wallets() -> None:
    owner = Signer(ANVIL_KEY_0)
    domain = ExchangeDomain(V2_EXCHANGE, AMOY)
    own = vector_order(maker=owner.address, signer=owner.address, signature_type=0)
    signed_own, signed_wallet = owner.sign_orders(domain, [own, vector_order()])
    assert len(signed_own.signature) == 65
    assert signed_own.signature == owner.sign_hash(domain.order_hash(own))
    assert signed_wallet.signature_hex == EXPECTED_POLY_1271_SIGNATURE


@given(
    keys,
    chain_ids,
    addresses,
    addresses,
    st.fixed_dictionaries(
        {
            "salt": u256,
            "token_id": u256,
            "maker_amount": u256,
            "taker_amount": u256,
            "side": sides,
            "timestamp": u256,
            "metadata": st.binary(min_size=32, max_size=32),
            "builder": st.binary(min_size=32, max_size=32),
        }
    ),
)
def test_equals_py_clob_client_v2(
    key: str, chain_id: int, exchange: str, wallet: str, fields: dict[str, Any]
) -> None:
    owner = Signer(key)
    domain = ExchangeDomain(exchange, chain_id)
    order = OrderV2(**fields, maker=wallet, signer=wallet, signature_type=3)
    signed = owner.sign_order(domain, order)

    builder = ExchangeOrderBuilderV2(
        exchange, chain_id, RefSigner(key, chain_id), generate_salt=lambda: str(fields["salt"])
    )
    ref = builder.build_signed_order(
        OrderDataV2(
            maker=wallet,
            signer=wallet,
            tokenId=str(fields["token_id"]),
            makerAmount=str(fields["maker_amount"]),
            takerAmount=str(fields["taker_amount"]),
            side=REF_SIDE[fields["side"]],
            signatureType=SignatureTypeV2.POLY_1271,
            timestamp=str(fields["timestamp"]),
            metadata="0x" + fields["metadata"].hex(),
            builder="0x" + fields["builder"].hex(),
        )
    )
    assert signed.signature_hex == ref.signature
    assert "0x" + signed.hash.hex() == builder.build_order_hash(builder.build_order_typed_data(ref))
    assert recover_poly1271_owner(signed.signature, wallet, chain_id, signed.hash) == owner.address


@pytest.fixture(scope="module")
def wrap() -> tuple[bytes, bytes]:
    """The vector's wrap and order hash."""
    signed = Signer(ANVIL_KEY_0).sign_order(ExchangeDomain(V2_EXCHANGE, AMOY), vector_order())
    return signed.signature, signed.hash


def test_another_owner_recovers_as_someone_else(wrap: tuple[bytes, bytes]) -> None:
    _, order_hash = wrap
    intruder = Signer(ANVIL_KEY_1)
    forged = intruder.sign_order(ExchangeDomain(V2_EXCHANGE, AMOY), vector_order())
    assert forged.hash == order_hash
    recovered = recover_poly1271_owner(forged.signature, DEPOSIT_WALLET, AMOY, order_hash)
    assert recovered == intruder.address != Signer(ANVIL_KEY_0).address


@pytest.mark.parametrize(
    ("wallet", "chain_id"),
    [("0x2222222222222222222222222222222222222222", AMOY), (DEPOSIT_WALLET, 137)],
    ids=["another wallet", "another chain id"],
)
def test_another_wallet_or_chain_recovers_as_someone_else(
    wrap: tuple[bytes, bytes], wallet: str, chain_id: int
) -> None:
    signature, order_hash = wrap
    assert recover_poly1271_owner(signature, wallet, chain_id, order_hash) != Signer(ANVIL_KEY_0).address


def test_a_wrap_for_another_order_hash_is_refused(wrap: tuple[bytes, bytes]) -> None:
    signature, _ = wrap
    other_exchange = ExchangeDomain("0x" + "09" * 20, AMOY).order_hash(vector_order())
    other_chain = ExchangeDomain(V2_EXCHANGE, 137).order_hash(vector_order())
    other_order = ExchangeDomain(V2_EXCHANGE, AMOY).order_hash(vector_order(salt=1))
    for order_hash in (other_exchange, other_chain, other_order):
        with pytest.raises(InvalidInputError, match="order hash") as raised:
            recover_poly1271_owner(signature, DEPOSIT_WALLET, AMOY, order_hash)
        assert not isinstance(raised.value, DecodeError)


def _with_suffix(signature: bytes, length: int) -> bytes:
    return signature[:-2] + length.to_bytes(2, "big")


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: s[:-1],
        lambda s: s[: 65 + 64],
        lambda s: b"",
        lambda s: s + b"\x00",
        lambda s: s[:65] + s[65 + 64 :],
        lambda s: _with_suffix(s, len(ORDER_TYPE_STRING) + 1),
        lambda s: _with_suffix(s, len(ORDER_TYPE_STRING) - 1),
        lambda s: s.replace(b"uint8 side", b"uint8 Side"),
    ],
    ids=[
        "truncated by one",
        "no type string",
        "empty",
        "extended",
        "no separator or contents",
        "suffix too long",
        "suffix too short",
        "another type string",
    ],
)
def test_malformed_wraps_are_refused(wrap: tuple[bytes, bytes], forge: Any) -> None:
    signature, order_hash = wrap
    forged = forge(signature)
    assert forged != signature
    with pytest.raises(DecodeError, match="POLY_1271 wrap"):
        recover_poly1271_owner(forged, DEPOSIT_WALLET, AMOY, order_hash)


def test_a_bad_v_or_unrecoverable_signature_is_refused(wrap: tuple[bytes, bytes]) -> None:
    signature, order_hash = wrap
    with pytest.raises(InvalidInputError, match="signature v"):
        recover_poly1271_owner(signature[:64] + b"\x05" + signature[65:], DEPOSIT_WALLET, AMOY, order_hash)
    with pytest.raises(InvalidInputError, match="out of range"):
        recover_poly1271_owner(b"\xff" * 64 + signature[64:], DEPOSIT_WALLET, AMOY, order_hash)


def test_orders_that_cannot_be_wrapped_are_refused() -> None:
    owner = Signer(ANVIL_KEY_0)
    domain = ExchangeDomain(V2_EXCHANGE, AMOY)
    with pytest.raises(InvalidInputError, match="signer must be its maker"):
        owner.sign_order(domain, vector_order(signer="0x" + "22" * 20))
    with pytest.raises(InvalidInputError, match="not its owner"):
        owner.sign_order(domain, vector_order(maker=owner.address, signer=owner.address))
    with pytest.raises(InvalidInputError, match="not its owner"):
        owner.sign_orders(domain, [vector_order(), vector_order(maker=owner.address, signer=owner.address)])


def test_verifier_arguments_are_checked(wrap: tuple[bytes, bytes]) -> None:
    signature, order_hash = wrap
    with pytest.raises(InvalidInputError, match="address"):
        recover_poly1271_owner(signature, "0x1234", AMOY, order_hash)
    with pytest.raises(InvalidInputError, match="order_hash"):
        recover_poly1271_owner(signature, DEPOSIT_WALLET, AMOY, order_hash[:31])
    with pytest.raises(InvalidInputError, match="chain_id"):
        recover_poly1271_owner(signature, DEPOSIT_WALLET, -1, order_hash)
    assert recover_poly1271_owner(signature, DEPOSIT_WALLET, AMOY, "0x" + order_hash.hex()) == (
        Signer(ANVIL_KEY_0).address
    )
