"""The local CLOB's protocol pieces against the official client's own code: L1/L2 auth, order hashes and
the POLY_1271 wrap byte for byte, order parsing, the book's order, fees and settings."""

from __future__ import annotations

import base64
from decimal import Decimal
from fractions import Fraction

import pytest
from eth_account import Account
from py_clob_client_v2 import ClobClient
from py_clob_client_v2.constants import ORDER_VERSION_MISMATCH_ERROR
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.side import Side as ClientSide
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer as ClientSigner
from py_clob_client_v2.signing.hmac import build_hmac_signature

from polyhunter._core import Signer
from polyhunter.clobauth import ApiCreds
from polyhunter.clobauth import hmac_signature as shared_hmac
from polyhunter.errors import ConfigError
from polyhunter.localpoly import errors as e
from polyhunter.localpoly.auth import Authenticator, IssuedCreds, hmac_signature
from polyhunter.localpoly.book import OrderBook, RestingOrder
from polyhunter.localpoly.config import ClobSettings
from polyhunter.localpoly.errors import ClobApiError
from polyhunter.localpoly.orders import (
    MarketRules,
    SignedOrder,
    check_rules,
    exchange_domain_separator,
    parse_order_request,
    poly1271_digest,
    poly1271_wrap,
)
from polyhunter.localpoly.trades import capped_fee, taker_fee

KEY = "0x" + "11" * 32
CHAIN = 31337
EXCHANGE = "0x" + "ab" * 20
WALLET = "0x" + "cd" * 20


def client_order(signature_type: int, salt: int = 7) -> tuple[dict[str, object], str]:
    signer = ClientSigner(KEY, CHAIN)
    builder = ExchangeOrderBuilderV2(EXCHANGE, CHAIN, signer, generate_salt=lambda: salt)
    maker = WALLET if signature_type == 3 else signer.address()
    data = OrderDataV2(
        maker=maker,
        tokenId="1234567890",
        makerAmount="5100000",
        takerAmount="10000000",
        side=ClientSide.BUY,
        signer=maker,
        signatureType=SignatureTypeV2(signature_type),
        timestamp="1700000000000",
    )
    order = builder.build_signed_order(data)
    digest = builder.build_order_hash(builder.build_order_typed_data(builder.build_order(data)))
    return order_to_json_v2(order, "key", "GTC"), digest


@pytest.mark.parametrize("signature_type", [0, 3])
def test_order_hash_and_signature_agree_with_the_client(signature_type: int) -> None:
    payload, client_hash = client_order(signature_type)
    req = parse_order_request(payload)
    domain = exchange_domain_separator(EXCHANGE, CHAIN)
    assert "0x" + req.order.order_hash(domain).hex() == client_hash
    if signature_type == 3:
        sig65 = Signer(KEY).sign_hash(poly1271_digest(req.order, domain, CHAIN))
        wrap = poly1271_wrap(sig65, req.order, domain)
        assert wrap == req.order.signature
        assert len("0x" + wrap.hex()) == 636
    else:
        recovered = Account._recover_hash(bytes.fromhex(client_hash[2:]), signature=req.order.signature)
        assert recovered == Account.from_key(KEY).address


def test_l1_headers_from_the_client_verify_and_a_stale_timestamp_does_not() -> None:
    auth = Authenticator(CHAIN)
    headers = create_level_1_headers(ClientSigner(KEY, CHAIN), nonce=5)
    created = auth.create(headers)
    assert auth.derive(headers) == created
    assert created.address == Account.from_key(KEY).address.lower()
    stale = create_level_1_headers(ClientSigner(KEY, CHAIN), nonce=5, timestamp=1_000)
    with pytest.raises(ClobApiError) as info:
        auth.create(stale)
    assert (info.value.status, info.value.message) == (401, e.UNAUTHORIZED)
    other_chain = create_level_1_headers(ClientSigner(KEY, 1), nonce=5)
    with pytest.raises(ClobApiError):
        auth.create(other_chain)


def test_hmac_matches_the_clients() -> None:
    secret = base64.urlsafe_b64encode(b"k" * 32).decode()
    body = '{"orderID":"0xab","note":"it\'s"}'
    ours = hmac_signature(secret, "1700000000", "DELETE", "/order", body)
    assert ours == build_hmac_signature(secret, "1700000000", "DELETE", "/order", body)


def _signed(side: str, maker: int, taker: int) -> SignedOrder:
    return SignedOrder(1, WALLET, WALLET, 1, maker, taker, side, 3, 1, bytes(32), bytes(32), b"")  # type: ignore[arg-type]


def test_market_rules_strings() -> None:
    rules = MarketRules(Decimal("0.01"), Decimal("5"))
    caps = (2, 4, 2, 4)

    def message(order: SignedOrder, order_type: str = "GTC") -> str:
        with pytest.raises(ClobApiError) as info:
            check_rules(
                order, order_type, rules, exact_tick_ratio=True, market_decimals=caps, limit_decimals=None
            )  # type: ignore[arg-type]
        return info.value.message

    assert (
        message(_signed("BUY", 5_050_000, 10_000_000)) == "Price (0.505) breaks minimum tick size rule: 0.01"
    )
    assert message(_signed("SELL", 3_000_000, 1_500_000)) == "Size (3) lower than the minimum: 5"
    assert message(_signed("BUY", 5_000_000, 9_746_580), "FOK") == (
        "invalid amounts, the buy orders maker amount supports a max accuracy of 2 decimals, "
        "taker amount a max of 4 decimals"
    )
    assert message(_signed("BUY", 995_000, 1_000_000)) == "Price (0.995) breaks minimum tick size rule: 0.01"


def test_book_levels_worst_first_and_price_time_priority() -> None:
    book = OrderBook(1)
    orders = []
    for seq, (side, maker, taker) in enumerate(
        [("SELL", 10, 6), ("SELL", 10, 5), ("SELL", 10, 5), ("BUY", 4, 10), ("BUY", 3, 10)]
    ):
        order = RestingOrder(
            f"o{seq}",
            _signed(side, maker * 10**6, taker * 10**6),
            "k",
            "a",
            "c",
            "GTC",
            0,
            0,
            seq,
            maker * 10**6,
        )
        book.add(order)
        orders.append(order)
    assert [p for p, _ in book.ask_levels()] == [Fraction(6, 10), Fraction(5, 10)]
    assert [p for p, _ in book.bid_levels()] == [Fraction(3, 10), Fraction(4, 10)]
    assert [o.order_id for o in book.crossing("BUY", Fraction(6, 10))] == ["o1", "o2", "o0"]
    assert [o.order_id for o in book.crossing("SELL", Fraction(35, 100))] == ["o3"]


def test_taker_fee_rounds_half_up_to_ten_base_units() -> None:
    assert taker_fee(20_000_000, Fraction(51, 100), 200) == 99_960
    # Exactly 25 base units = 2.5 quanta of 10: half up gives 30 (half-even or floor would give 20).
    assert taker_fee(1_000_000, Fraction(1, 2), 1) == 30
    # Exactly 15 = 1.5 quanta: 20; just under a half rounds down.
    assert taker_fee(600_000, Fraction(1, 2), 1) == 20
    assert taker_fee(599_999, Fraction(1, 2), 1) == 10
    assert taker_fee(1_000_000, Fraction(1, 2), 100) == 2_500
    assert taker_fee(5, Fraction(1, 2), 200) == 0
    assert taker_fee(10**6, Fraction(1, 2), 0) == 0


def test_fee_is_clamped_to_the_exchanges_cap_as_it_floors_it() -> None:
    # 500 bps of 380 base units is 19 (floored, as the exchange's `_checkFee`): a fee of 20 would revert.
    assert capped_fee(20, 380, 500) == 19
    assert capped_fee(10, 380, 500) == 10
    assert capped_fee(20, 380, 0) == 20  # a cap of 0 is no cap on chain


def test_invalid_version_carries_production_text_and_the_clients_marker() -> None:
    assert e.INVALID_VERSION.startswith("invalid order version, please use the latest clob-client")
    assert ORDER_VERSION_MISMATCH_ERROR in e.INVALID_VERSION
    client = ClobClient("http://127.0.0.1:1", CHAIN)
    assert client._is_order_version_mismatch({"error": e.INVALID_VERSION})


def test_eoa_allowlist_from_a_string_is_addresses_not_characters() -> None:
    a, b = "0x" + "Ab" * 20, "0x" + "cd" * 20
    assert ClobSettings().updated({"eoa_allowlist": a}).eoa_allowlist == frozenset({a.lower()})
    assert ClobSettings().updated({"eoa_allowlist": f"{a}, {b},"}).eoa_allowlist == frozenset({a.lower(), b})
    assert ClobSettings().updated({"eoa_allowlist": [a, b]}).eoa_allowlist == frozenset({a.lower(), b})
    for bad in ("0x12", [a, "nope"]):
        with pytest.raises(ConfigError, match="eoa_allowlist"):
            ClobSettings().updated({"eoa_allowlist": bad})


def test_shared_clob_auth_signs_like_the_client_and_hides_secrets() -> None:
    secret = base64.urlsafe_b64encode(b"s" * 32).decode()
    body = '{"note":"it\'s"}'
    assert shared_hmac(secret, "1", "POST", "/order", body) == build_hmac_signature(
        secret, "1", "POST", "/order", body
    )
    creds = ApiCreds("key-1", secret, "pass-phrase")
    issued = IssuedCreds("key-2", secret, "pass-phrase", "0x" + "ab" * 20, 0)
    for shown in (repr(creds), repr(issued), str(creds), str(issued)):
        assert secret not in shown
        assert "pass-phrase" not in shown
    assert creds.to_json() == {"apiKey": "key-1", "secret": secret, "passphrase": "pass-phrase"}


def test_settings_updates_are_typed() -> None:
    settings = ClobSettings().updated(
        {"confirmations": 3, "trading_mode": "cancel_only", "rate_limits": "production"}
    )
    assert (settings.confirmations, settings.trading_mode) == (3, "cancel_only")
    assert settings.rate_limits is not None
    assert settings.rate_limits["POST /order"] == 3500
    for bad in ({"confirmations": "3"}, {"trading_mode": "closed"}, {"nope": 1}):
        with pytest.raises(ConfigError):
            ClobSettings().updated(bad)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o["order"].pop("timestamp"), e.INVALID_VERSION),
        (lambda o: o["order"].update(side="HOLD"), "invalid order: side must be BUY or SELL"),
        (lambda o: o["order"].update(maker="0x12"), "invalid order: maker must be a 0x-prefixed address"),
        (lambda o: o.update(orderType="IOC"), "invalid order type: 'IOC'"),
        (
            lambda o: o["order"].update(takerAmount="0"),
            "invalid order: makerAmount and takerAmount must be positive",
        ),
    ],
)
def test_malformed_orders_are_400(mutate: object, message: str) -> None:
    payload, _ = client_order(0)
    mutate(payload)  # type: ignore[operator]
    with pytest.raises(ClobApiError) as info:
        parse_order_request(payload)
    assert (info.value.status, info.value.message) == (400, message)
