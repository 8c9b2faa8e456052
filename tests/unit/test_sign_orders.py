"""CLOB V2/V1 orders and ClobAuth signed in Rust, checked against Polymarket's own Python tooling.

References: py-clob-client-v2's `ExchangeOrderBuilderV2` / `ExchangeOrderBuilderV1` (eth-account's
`encode_typed_data` underneath), py-order-utils' `OrderBuilder` for V1 (its own EIP-712 encoder,
poly_eip712_structs), and py-clob-client-v2's `sign_clob_auth_message`.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from py_clob_client_v2.order_utils.exchange_order_builder_v1 import ExchangeOrderBuilderV1
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v1 import OrderV1 as RefOrderV1
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2 as RefOrderV2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.order_utils.model.signature_type_v1 import SignatureTypeV1
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer as RefSigner
from py_clob_client_v2.signing.eip712 import sign_clob_auth_message
from py_order_utils.builders import OrderBuilder
from py_order_utils.model.order import OrderData
from py_order_utils.signer import Signer as OrderUtilsSigner

from polyhunter import InvalidInputError
from polyhunter._core import (
    EXCHANGE_DOMAIN_NAME,
    ExchangeDomain,
    OrderV1,
    OrderV2,
    SignedTypedData,
    Signer,
    recover_address,
)

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ADDR_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
V2_EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
V2_NEG_RISK_EXCHANGE = "0xe2222d279d744050d28e00520010520000310F59"

keys = st.integers(min_value=1, max_value=CURVE_ORDER - 1).map(lambda k: "0x" + k.to_bytes(32, "big").hex())
u256 = st.integers(min_value=0, max_value=2**256 - 1)
chain_ids = st.integers(min_value=1, max_value=2**63)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
sides = st.sampled_from(["BUY", "SELL"])
REF_SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}


def ref_signer(key: str, chain_id: int) -> RefSigner:
    return RefSigner(key, chain_id)


@given(
    keys,
    chain_ids,
    addresses,
    st.fixed_dictionaries(
        {
            "salt": u256,
            "maker": addresses,
            "token_id": u256,
            "maker_amount": u256,
            "taker_amount": u256,
            "side": sides,
            "signature_type": st.integers(min_value=0, max_value=2),
            "timestamp": u256,
            "metadata": st.binary(min_size=32, max_size=32),
            "builder": st.binary(min_size=32, max_size=32),
        }
    ),
)
def test_v2_order_equals_py_clob_client_v2(
    key: str, chain_id: int, exchange: str, fields: dict[str, Any]
) -> None:
    signer = Signer(key)
    order = OrderV2(**fields, signer=signer.checksum_address)
    signed = signer.sign_order(ExchangeDomain(exchange, chain_id), order)

    builder = ExchangeOrderBuilderV2(exchange, chain_id, ref_signer(key, chain_id))
    ref_order = RefOrderV2(
        salt=str(fields["salt"]),
        maker=fields["maker"],
        signer=signer.checksum_address,
        tokenId=str(fields["token_id"]),
        makerAmount=str(fields["maker_amount"]),
        takerAmount=str(fields["taker_amount"]),
        side=REF_SIDE[fields["side"]],
        signatureType=SignatureTypeV2(fields["signature_type"]),
        timestamp=str(fields["timestamp"]),
        metadata="0x" + fields["metadata"].hex(),
        builder="0x" + fields["builder"].hex(),
    )
    typed_data = builder.build_order_typed_data(ref_order)
    assert signed.signature_hex == builder.build_order_signature(typed_data)
    assert "0x" + signed.hash.hex() == builder.build_order_hash(typed_data)
    assert recover_address(signed.hash, signed.signature) == signer.address
    assert Account._recover_hash(signed.hash, signature=signed.signature) == signer.checksum_address


def v1_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "salt": u256,
            "maker": addresses,
            "taker": addresses,
            "token_id": u256,
            "maker_amount": u256,
            "taker_amount": u256,
            "expiration": u256,
            "nonce": u256,
            "fee_rate_bps": u256,
            "side": sides,
            "signature_type": st.integers(min_value=0, max_value=2),
        }
    )


@given(keys, chain_ids, addresses, v1_fields())
def test_v1_order_equals_py_clob_client_v2(
    key: str, chain_id: int, exchange: str, fields: dict[str, Any]
) -> None:
    signer = Signer(key)
    signed = signer.sign_order(
        ExchangeDomain(exchange, chain_id, version=1), OrderV1(**fields, signer=signer.checksum_address)
    )
    builder = ExchangeOrderBuilderV1(exchange, chain_id, ref_signer(key, chain_id))
    ref_order = RefOrderV1(
        salt=str(fields["salt"]),
        maker=fields["maker"],
        signer=signer.checksum_address,
        taker=fields["taker"],
        tokenId=str(fields["token_id"]),
        makerAmount=str(fields["maker_amount"]),
        takerAmount=str(fields["taker_amount"]),
        expiration=str(fields["expiration"]),
        nonce=str(fields["nonce"]),
        feeRateBps=str(fields["fee_rate_bps"]),
        side=REF_SIDE[fields["side"]],
        signatureType=SignatureTypeV1(fields["signature_type"]),
    )
    typed_data = builder.build_order_typed_data(ref_order)
    assert signed.signature_hex == builder.build_order_signature(typed_data)
    assert "0x" + signed.hash.hex() == builder.build_order_hash(typed_data)
    assert recover_address(signed.hash, signed.signature) == signer.address


@given(keys, chain_ids, addresses, v1_fields())
def test_v1_order_equals_py_order_utils(
    key: str, chain_id: int, exchange: str, fields: dict[str, Any]
) -> None:
    """A second, independent EIP-712 encoder (poly_eip712_structs) for the V1 struct."""
    signer = Signer(key)
    builder = OrderBuilder(exchange, chain_id, OrderUtilsSigner(key), lambda: fields["salt"])
    ref = builder.build_order(
        OrderData(
            maker=fields["maker"],
            taker=fields["taker"],
            tokenId=str(fields["token_id"]),
            makerAmount=str(fields["maker_amount"]),
            takerAmount=str(fields["taker_amount"]),
            side=0 if fields["side"] == "BUY" else 1,
            feeRateBps=str(fields["fee_rate_bps"]),
            nonce=str(fields["nonce"]),
            signer=signer.checksum_address,
            expiration=str(fields["expiration"]),
            signatureType=fields["signature_type"],
        )
    )
    ours = signer.sign_order(
        ExchangeDomain(exchange, chain_id, version=1), OrderV1(**fields, signer=signer.checksum_address)
    )
    assert "0x" + ours.hash.hex() == builder._create_struct_hash(ref)
    assert ours.signature_hex == builder.build_order_signature(ref)
    assert recover_address(ours.hash, ours.signature) == signer.address


@given(keys, chain_ids, st.integers(min_value=0, max_value=2**64 - 1), u256)
def test_clob_auth_equals_py_clob_client_v2(key: str, chain_id: int, timestamp: int, nonce: int) -> None:
    signer = Signer(key)
    signed = signer.sign_clob_auth(chain_id, timestamp, nonce)
    assert signed.signature_hex == sign_clob_auth_message(ref_signer(key, chain_id), timestamp, nonce)
    assert recover_address(signed.hash, signed.signature) == signer.address
    assert signer.sign_clob_auth(chain_id, str(timestamp), nonce).signature == signed.signature


def test_known_answers_from_polymarkets_own_tests() -> None:
    """Literal vectors from py-clob-client's test suite (Amoy, chain 80002), not computed by this repo."""
    signer = Signer(ANVIL_KEY_0)
    auth = signer.sign_clob_auth(80002, 10000000, 23)
    assert auth.signature_hex == (
        "0xf62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1"
        "682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
    )
    order = OrderV1(
        salt=479249096354,
        maker=ANVIL_ADDR_0,
        token_id=1234,
        maker_amount=100_000_000,
        taker_amount=50_000_000,
        side="BUY",
        fee_rate_bps=100,
    )
    domain = ExchangeDomain("0xdFE02Eb6733538f8Ea35D585af8DE5958AD99E40", 80002, version=1)
    signed = signer.sign_order(domain, order)
    assert signed.hash.hex() == "02ca1d1aa31103804173ad1acd70066cb6c1258a4be6dada055111f9a7ea4e55"
    assert signed.signature_hex == (
        "0x302cd9abd0b5fcaa202a344437ec0b6660da984e24ae9ad915a592a90facf5a5"
        "1bb8a873cd8d270f070217fea1986531d5eec66f1162a81f66e026db653bf7ce1c"
    )
    assert domain.order_hash(order) == signed.hash


@given(keys, st.lists(st.tuples(u256, sides), max_size=6))
def test_batch_equals_one_by_one(key: str, salts_sides: list[tuple[int, str]]) -> None:
    signer = Signer(key)
    domain = ExchangeDomain(V2_NEG_RISK_EXCHANGE, 137)
    orders = [
        OrderV2(
            salt=salt,
            maker=signer.address,
            token_id=salt // 3,
            maker_amount=1_000_000,
            taker_amount=2_000_000,
            side=side,
            timestamp=1_714_000_000_000,
        )
        for salt, side in salts_sides
    ]
    batch = signer.sign_orders(domain, orders)
    assert all(isinstance(s, SignedTypedData) for s in batch)
    assert [s.signature for s in batch] == [signer.sign_order(domain, o).signature for o in orders]
    assert [s.signature for s in signer.sign_orders(domain, tuple(orders))] == [s.signature for s in batch]
    assert [s.hash for s in signer.sign_orders(domain, iter(orders))] == [
        domain.order_hash(o) for o in orders
    ]


def test_order_fields_read_back_and_defaults() -> None:
    order = OrderV2(
        salt=1,
        maker=ANVIL_ADDR_0,
        token_id=2**255 + 7,
        maker_amount=5,
        taker_amount=6,
        side="SELL",
        timestamp=9,
        signature_type=1,
    )
    assert order.signer == order.maker == ANVIL_ADDR_0.lower()
    assert (order.token_id, order.maker_amount, order.taker_amount, order.timestamp) == (2**255 + 7, 5, 6, 9)
    assert (order.side, order.signature_type, order.metadata, order.builder) == (
        "SELL",
        1,
        bytes(32),
        bytes(32),
    )
    v1 = OrderV1(salt=1, maker=ANVIL_ADDR_0, token_id=3, maker_amount=4, taker_amount=5, side="BUY")
    assert v1.taker == "0x" + "00" * 20
    assert (v1.expiration, v1.nonce, v1.fee_rate_bps, v1.side) == (0, 0, 0, "BUY")
    domain = ExchangeDomain(V2_EXCHANGE, 137)
    assert (domain.exchange, domain.chain_id, domain.version, domain.name) == (
        V2_EXCHANGE.lower(),
        137,
        2,
        EXCHANGE_DOMAIN_NAME,
    )
    assert len(domain.separator) == 32


def test_refusals_name_the_problem() -> None:
    signer = Signer(ANVIL_KEY_0)
    common: dict[str, Any] = {
        "salt": 1,
        "maker": ANVIL_ADDR_0,
        "token_id": 1,
        "maker_amount": 1,
        "taker_amount": 1,
    }
    with pytest.raises(InvalidInputError, match="side"):
        OrderV2(**common, side="buy", timestamp=1)
    with pytest.raises(InvalidInputError, match="signature_type"):
        OrderV2(**common, side="BUY", timestamp=1, signature_type=4)
    with pytest.raises(InvalidInputError, match="uint256"):
        OrderV2(**{**common, "maker_amount": -1}, side="BUY", timestamp=1)
    with pytest.raises(TypeError):
        OrderV2(**{**common, "maker_amount": 1.0}, side="BUY", timestamp=1)
    with pytest.raises(InvalidInputError, match="version"):
        ExchangeDomain(V2_EXCHANGE, 137, version=3)
    v1_order = OrderV1(**common, side="BUY")
    with pytest.raises(InvalidInputError, match="V1 order"):
        signer.sign_order(ExchangeDomain(V2_EXCHANGE, 137), v1_order)
    poly_1271 = OrderV2(**common, side="BUY", timestamp=1, signature_type=3)
    with pytest.raises(InvalidInputError, match="POLY_1271"):
        signer.sign_order(ExchangeDomain(V2_EXCHANGE, 137), poly_1271)
    with pytest.raises(TypeError, match="OrderV1 or OrderV2"):
        signer.sign_orders(ExchangeDomain(V2_EXCHANGE, 137), [object()])  # type: ignore[list-item]
