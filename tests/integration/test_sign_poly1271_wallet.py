"""Our Rust POLY_1271 signer against the deposit-wallet contract and the V2 exchange on anvil: the wallet
accepts the wrap `polyhunter._core` makes, the exchange settles an order carrying it, and every forged
variant (another owner, another wallet, another chain id, another exchange, a flipped byte) is refused."""

from __future__ import annotations

import pytest
from v2_helpers import INVALID, MAGIC, SELL, USD, V2World, as_tuple, cs, sign, v2_reverts

from polyhunter._core import ExchangeDomain, OrderV2, Signer, recover_poly1271_owner
from polyhunter.chain.tx import contract, send

pytestmark = pytest.mark.integration


@pytest.fixture
def world(v2_world: V2World) -> V2World:
    """The V2 world (tests/integration/conftest.py), reverted after each test."""
    return v2_world


def _order(world: V2World, wallet: str, side: str, maker_amount: int, taker_amount: int) -> OrderV2:
    return OrderV2(
        salt=424242,
        maker=wallet,
        signer=wallet,
        token_id=world.yes,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        side=side,
        timestamp=1_767_225_600_000,
        signature_type=3,
    )


def _rust_sign(
    world: V2World, owner: str, order: OrderV2, *, exchange: str | None = None, chain_id: int | None = None
) -> tuple[bytes, bytes]:
    key = Signer(bytes(world.owners[owner].key))
    domain = ExchangeDomain(
        exchange or world.pm.exchange, world.w3.eth.chain_id if chain_id is None else chain_id
    )
    signed = key.sign_order(domain, order)
    return signed.hash, signed.signature


def _is_valid(world: V2World, wallet: str, digest: bytes, signature: bytes) -> bytes:
    return bytes(
        contract(world.w3, "DepositWallet", wallet).functions.isValidSignature(digest, signature).call()
    )


def _tuple(order: OrderV2, signature: bytes) -> tuple[object, ...]:
    return (
        order.salt,
        cs(order.maker),
        cs(order.signer),
        order.token_id,
        order.maker_amount,
        order.taker_amount,
        0 if order.side == "BUY" else 1,
        order.signature_type,
        order.timestamp,
        order.metadata,
        order.builder,
        signature,
    )


def test_the_wallet_accepts_our_wrap_and_the_exchange_settles_it(world: V2World) -> None:
    alice = world.wallets["alice"]
    order = _order(world, alice, "BUY", 40 * USD, 100 * USD)
    order_hash, signature = _rust_sign(world, "alice", order)
    assert len(signature) == 317
    assert order_hash == bytes(world.exchange.functions.hashOrder(_tuple(order, signature)).call())
    assert _is_valid(world, alice, order_hash, signature) == MAGIC
    assert recover_poly1271_owner(signature, alice, world.w3.eth.chain_id, order_hash) == (
        world.owners["alice"].address.lower()
    )

    # Bob's sell, signed by the official client, fills Alice's Rust-signed buy: 100 YES for $40.
    bob_sell = sign(
        world,
        world.owners["bob"],
        maker=world.wallets["bob"],
        token=world.yes,
        side=SELL,
        maker_amount=100 * USD,
        taker_amount=40 * USD,
        signature_type=3,
    )
    before = (
        world.pusd.functions.balanceOf(cs(alice)).call(),
        world.ctf.functions.balanceOf(cs(alice), world.yes).call(),
    )
    send(
        world.w3,
        world.operator,
        world.exchange.functions.matchOrders(
            world.condition, _tuple(order, signature), [as_tuple(bob_sell)], 40 * USD, [100 * USD], 0, [0]
        ),
    )
    after = (
        world.pusd.functions.balanceOf(cs(alice)).call(),
        world.ctf.functions.balanceOf(cs(alice), world.yes).call(),
    )
    assert (before[0] - after[0], after[1] - before[1]) == (40 * USD, 100 * USD)


def test_forged_variants_of_our_wrap_are_refused(world: V2World) -> None:
    alice = world.wallets["alice"]
    order = _order(world, alice, "BUY", 40 * USD, 100 * USD)
    order_hash, genuine = _rust_sign(world, "alice", order)

    # Carol's key for Alice's wallet.
    _, by_carol = _rust_sign(world, "carol", order)
    assert _is_valid(world, alice, order_hash, by_carol) == INVALID
    # Alice's wrap for her wallet, presented to Bob's wallet (whose owner is not Alice).
    assert _is_valid(world, world.wallets["bob"], order_hash, genuine) == INVALID
    # Bound to another chain id, or signed for the neg-risk exchange: the order hash differs.
    other_chain_hash, other_chain = _rust_sign(world, "alice", order, chain_id=137)
    assert _is_valid(world, alice, order_hash, other_chain) == INVALID
    assert (
        _is_valid(world, alice, other_chain_hash, other_chain) == INVALID
    )  # the wallet's domain is chain-bound
    neg_hash, for_neg = _rust_sign(world, "alice", order, exchange=world.pm.neg_risk_exchange)
    assert neg_hash != order_hash
    assert _is_valid(world, alice, order_hash, for_neg) == INVALID
    # Any flipped byte of the signature part.
    for index in (0, 40, 64):
        tampered = bytearray(genuine)
        tampered[index] ^= 0x01
        assert _is_valid(world, alice, order_hash, bytes(tampered)) == INVALID
    # And the exchange refuses the order carrying a forged wrap.
    bob_sell = sign(
        world,
        world.owners["bob"],
        maker=world.wallets["bob"],
        token=world.yes,
        side=SELL,
        maker_amount=100 * USD,
        taker_amount=40 * USD,
        signature_type=3,
    )
    with v2_reverts("InvalidSignature"):
        send(
            world.w3,
            world.operator,
            world.exchange.functions.matchOrders(
                world.condition, _tuple(order, by_carol), [as_tuple(bob_sell)], 40 * USD, [100 * USD], 0, [0]
            ),
        )
