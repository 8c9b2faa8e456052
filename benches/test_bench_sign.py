"""Signing: ours beside eth-account (and Polymarket's V2 order builder, POLY_1271 included) in the same run.

Each of ours starts from the same plain fields the reference gets, so the conversion into Rust is timed too.
eth-account runs on coincurve (a dev dependency), its fastest backend, as in DESIGN.md §6's reference timings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from py_clob_client_v2.clob_types import CreateOrderOptions, MarketOrderArgsV2
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2 as RefOrderV2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer as RefSigner

from polyhunter._core import (
    POLY1271_WRAP_LEN,
    Eip1559Tx,
    ExchangeDomain,
    MarketOrderBuilder,
    OrderV2,
    Signer,
    derive_signers,
)

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
TOKEN_ID = 71321045679252212594626385532706912750332728571942532289631379312455583992563
SIGNER = Signer(KEY)
DOMAIN = ExchangeDomain(EXCHANGE, 137)
BATCH = 100

TX_FIELDS: dict[str, Any] = {
    "chain_id": 137,
    "nonce": 42,
    "max_fee_per_gas": 150 * 10**9,
    "max_priority_fee_per_gas": 30 * 10**9,
    "gas": 250_000,
    "to": "0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E",
    "value": 0,
    "data": bytes.fromhex("a9059cbb")
    + bytes(12)
    + bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")
    + bytes(31)
    + b"\x01",
}
ETH_ACCOUNT_TX: dict[str, Any] = {
    "type": 2,
    "chainId": TX_FIELDS["chain_id"],
    "nonce": TX_FIELDS["nonce"],
    "maxFeePerGas": TX_FIELDS["max_fee_per_gas"],
    "maxPriorityFeePerGas": TX_FIELDS["max_priority_fee_per_gas"],
    "gas": TX_FIELDS["gas"],
    "to": TX_FIELDS["to"],
    "value": TX_FIELDS["value"],
    "data": TX_FIELDS["data"],
}

ORDER_FIELDS: dict[str, Any] = {
    "salt": 479249096354,
    "maker": SIGNER.checksum_address,
    "token_id": TOKEN_ID,
    "maker_amount": 100_000_000,
    "taker_amount": 50_000_000,
    "side": "BUY",
    "timestamp": 1_714_000_000_000,
}
REF_BUILDER = ExchangeOrderBuilderV2(EXCHANGE, 137, RefSigner(KEY, 137))
REF_ORDER = RefOrderV2(
    salt=str(ORDER_FIELDS["salt"]),
    maker=SIGNER.checksum_address,
    signer=SIGNER.checksum_address,
    tokenId=str(TOKEN_ID),
    makerAmount="100000000",
    takerAmount="50000000",
    side=Side.BUY,
    signatureType=SignatureTypeV2.EOA,
    timestamp=str(ORDER_FIELDS["timestamp"]),
    metadata="0x" + "00" * 32,
    builder="0x" + "00" * 32,
)


def _ours_eip1559() -> bytes:
    return SIGNER.sign_transaction(Eip1559Tx(**TX_FIELDS)).raw


def _eth_account_eip1559() -> bytes:
    return bytes(Account.sign_transaction(ETH_ACCOUNT_TX, KEY).raw_transaction)


def test_sign_eip1559_ours(benchmark: Any, ratios: Any) -> None:
    assert benchmark(_ours_eip1559) == _eth_account_eip1559()
    ratios.record("sign_eip1559_ours", benchmark)


def test_sign_eip1559_eth_account(benchmark: Any, ratios: Any) -> None:
    benchmark(_eth_account_eip1559)
    ratios.record("sign_eip1559_eth_account", benchmark)
    ratios.pair("sign_eip1559_vs_eth_account", "sign_eip1559_eth_account", "sign_eip1559_ours")


def _ours_order_v2() -> bytes:
    return SIGNER.sign_order(DOMAIN, OrderV2(**ORDER_FIELDS)).signature


def _eth_account_order_v2() -> bytes:
    # What py-clob-client-v2's builder does per order: typed data → encode_typed_data → sign_message.
    typed_data = REF_BUILDER.build_order_typed_data(REF_ORDER)
    return bytes(Account.sign_message(encode_typed_data(full_message=typed_data), private_key=KEY).signature)


def test_sign_order_v2_ours(benchmark: Any, ratios: Any) -> None:
    assert benchmark(_ours_order_v2) == _eth_account_order_v2()
    ratios.record("sign_order_v2_ours", benchmark)


def test_sign_order_v2_eth_account(benchmark: Any, ratios: Any) -> None:
    benchmark(_eth_account_order_v2)
    ratios.record("sign_order_v2_eth_account", benchmark)
    ratios.pair("sign_order_v2_vs_eth_account", "sign_order_v2_eth_account", "sign_order_v2_ours")


# POLY_1271: the same order made by a deposit wallet, this key its owner; the signature is the ERC-7739 wrap.
WALLET = "0x1111111111111111111111111111111111111111"
POLY_1271_FIELDS: dict[str, Any] = {**ORDER_FIELDS, "maker": WALLET, "signer": WALLET, "signature_type": 3}
REF_POLY_1271_ORDER = dataclasses.replace(
    REF_ORDER, maker=WALLET, signer=WALLET, signatureType=SignatureTypeV2.POLY_1271
)


def _ours_order_v2_poly_1271() -> str:
    return SIGNER.sign_order(DOMAIN, OrderV2(**POLY_1271_FIELDS)).signature_hex


def _py_clob_client_v2_order_v2_poly_1271() -> str:
    # What py-clob-client-v2's builder does per order: typed data → the nested TypedDataSign wrap.
    return str(REF_BUILDER.build_order_signature(REF_BUILDER.build_order_typed_data(REF_POLY_1271_ORDER)))


def test_sign_order_v2_poly_1271_ours(benchmark: Any, ratios: Any) -> None:
    assert benchmark(_ours_order_v2_poly_1271) == _py_clob_client_v2_order_v2_poly_1271()
    ratios.record("sign_order_v2_poly_1271_ours", benchmark)


def test_sign_order_v2_poly_1271_py_clob_client_v2(benchmark: Any, ratios: Any) -> None:
    benchmark(_py_clob_client_v2_order_v2_poly_1271)
    ratios.record("sign_order_v2_poly_1271_py_clob_client_v2", benchmark)
    ratios.pair(
        "sign_order_v2_poly_1271_vs_py_clob_client_v2",
        "sign_order_v2_poly_1271_py_clob_client_v2",
        "sign_order_v2_poly_1271_ours",
    )


ORDERS = [OrderV2(**{**ORDER_FIELDS, "salt": i}) for i in range(BATCH)]
TXS = [Eip1559Tx(**{**TX_FIELDS, "nonce": i}) for i in range(BATCH)]


def test_sign_orders_batch_100_ours(benchmark: Any, ratios: Any) -> None:
    assert len(benchmark(SIGNER.sign_orders, DOMAIN, ORDERS)) == BATCH
    ratios.record("sign_orders_batch_100_ours", benchmark)


def test_sign_transactions_batch_100_ours(benchmark: Any, ratios: Any) -> None:
    assert len(benchmark(SIGNER.sign_transactions, TXS)) == BATCH
    ratios.record("sign_transactions_batch_100_ours", benchmark)


MNEMONIC = "test test test test test test test test test test test junk"


def test_derive_fleet_10_ours(benchmark: Any, ratios: Any) -> None:
    assert len(benchmark(derive_signers, MNEMONIC, 10)) == 10
    ratios.record("derive_fleet_10_ours", benchmark)


def _eth_account_fleet_10() -> list[str]:
    return [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address for i in range(10)]


def test_derive_fleet_10_eth_account(benchmark: Any, ratios: Any) -> None:
    Account.enable_unaudited_hdwallet_features()
    benchmark.pedantic(_eth_account_fleet_10, rounds=5, iterations=1)
    ratios.record("derive_fleet_10_eth_account", benchmark)
    ratios.pair("derive_fleet_10_vs_eth_account", "derive_fleet_10_eth_account", "derive_fleet_10_ours")


# A market order from its inputs (budget, worst price, tick) to its signed bytes: amounts, struct, signature.
# Ours under the "legacy" rule, which rounds as py-clob-client-v2 does, so both build the same order.
MARKET_BUILDER = MarketOrderBuilder(SIGNER, DOMAIN, maker=WALLET, signature_type=3, rule="legacy")
REF_MARKET_BUILDER = OrderBuilder(RefSigner(KEY, 137), SignatureTypeV2.POLY_1271, WALLET)
REF_MARKET_ARGS = MarketOrderArgsV2(token_id=str(TOKEN_ID), amount=25.0, side="BUY", price=0.5)
REF_MARKET_OPTIONS = CreateOrderOptions(tick_size="0.01", neg_risk=False)


def _ours_market_order() -> tuple[int, int, str]:
    built = MARKET_BUILDER.build(
        token_id=TOKEN_ID,
        side="BUY",
        amount=25_000_000,
        price_ppm=500_000,
        tick_ppm=10_000,
        salt=479249096354,
        timestamp=1_714_000_000_000,
    )
    return built.order.maker_amount, built.order.taker_amount, built.signed.signature_hex


def _py_clob_client_market_order() -> tuple[int, int, str]:
    signed = REF_MARKET_BUILDER.build_market_order(REF_MARKET_ARGS, REF_MARKET_OPTIONS)
    return int(signed.makerAmount), int(signed.takerAmount), str(signed.signature)


def test_build_and_sign_market_order_ours(benchmark: Any, ratios: Any) -> None:
    maker, taker, signature = benchmark(_ours_market_order)
    ref_maker, ref_taker, ref_signature = _py_clob_client_market_order()
    assert (maker, taker) == (ref_maker, ref_taker) == (25_000_000, 50_000_000)
    assert len(signature) == len(ref_signature) == 2 + 2 * POLY1271_WRAP_LEN
    ratios.record("build_and_sign_market_order_ours", benchmark)


def test_build_and_sign_market_order_py_clob_client(benchmark: Any, ratios: Any) -> None:
    benchmark(_py_clob_client_market_order)
    ratios.record("build_and_sign_market_order_py_clob_client", benchmark)
    ratios.pair(
        "build_and_sign_market_order_vs_py_clob_client",
        "build_and_sign_market_order_py_clob_client",
        "build_and_sign_market_order_ours",
    )
