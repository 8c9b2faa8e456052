"""Deposit wallets (ERC-1271, the ERC-7739 nested wrap), their CREATE2 factory, pUSD and its ramps on anvil:
what each accepts, and the signatures, callers and withdrawals each must refuse."""

from __future__ import annotations

import pytest
from chain_helpers import events
from eth_abi.abi import decode
from eth_account import Account
from v2_helpers import (
    BUY,
    INVALID,
    MAGIC,
    POLY_1271,
    SELL,
    USD,
    V2World,
    as_tuple,
    client_hash,
    cs,
    nested_wrap,
    order_struct_hash,
    sign,
    v2_error_names,
    v2_reverts,
)

from polyhunter.chain import polymarket
from polyhunter.chain.accounts import derive
from polyhunter.chain.tx import ContractReverted, contract, deploy, send

pytestmark = pytest.mark.integration


@pytest.fixture
def world(v2_world: V2World) -> V2World:
    """The V2 world (tests/integration/conftest.py), reverted after each test."""
    return v2_world


def alice_order(world: V2World, signer_name: str = "alice") -> object:
    return sign(
        world,
        world.owners[signer_name],
        maker=world.wallets["alice"],
        token=world.yes,
        side=BUY,
        maker_amount=40 * USD,
        taker_amount=100 * USD,
        signature_type=POLY_1271,
    )


def is_valid(world: V2World, wallet: str, digest: bytes, signature: bytes) -> bytes:
    handle = contract(world.w3, "DepositWallet", wallet)
    return bytes(handle.functions.isValidSignature(digest, signature).call())


def app_separator(world: V2World) -> bytes:
    return bytes(world.exchange.functions.domainSeparator().call())


# --- factory -----------------------------------------------------------------------------------------------


def test_wallet_address_is_predictable_and_bound_to_its_owner(world: V2World) -> None:
    factory = contract(world.w3, "DepositWalletFactory", world.pm.wallet_factory)
    dave = derive(520)
    predicted = polymarket.deposit_wallet_address(
        world.pm.wallet_factory, dave.address, world.pm.wallet_init_code_hash
    )
    assert factory.functions.predict(dave.address).call().lower() == predicted
    assert "0x" + bytes(factory.functions.walletInitCodeHash().call()).hex() == world.pm.wallet_init_code_hash
    assert world.w3.eth.get_code(cs(predicted)) == b""
    # Anyone may pay for the deployment: the wallet belongs to Dave all the same.
    receipt = send(world.w3, world.operator, factory.functions.deploy(dave.address))
    [row] = events(factory, "WalletDeployed", receipt)
    assert (row["owner"], row["wallet"].lower()) == (dave.address, predicted)
    wallet = contract(world.w3, "DepositWallet", predicted)
    assert wallet.functions.owner().call() == dave.address
    assert wallet.functions.factory().call().lower() == world.pm.wallet_factory
    with v2_reverts("AlreadyDeployed"):
        send(world.w3, world.operator, factory.functions.deploy(dave.address))
    with v2_reverts("ZeroOwner"):
        send(world.w3, world.operator, factory.functions.deploy(cs("0x" + "00" * 20)))
    assert polymarket.create_deposit_wallet(world.w3, world.pm, dave) == predicted  # idempotent helper


def test_execute_is_owner_only_atomic_and_names_the_failing_call(world: V2World) -> None:
    alice, wallet = world.owners["alice"], world.wallets["alice"]
    pay = world.pusd.encode_abi("transfer", [cs(world.trader.address), 10 * USD])
    too_much = world.pusd.encode_abi("transfer", [cs(world.trader.address), 10_000 * USD])
    with v2_reverts("NotOwner"):
        send(
            world.w3,
            world.owners["bob"],
            world.wallet("alice").functions.execute([(cs(world.pm.pusd), 0, b"")]),
        )
    batch = [(world.pm.pusd, 0, bytes.fromhex(pay[2:])), (world.pm.pusd, 0, bytes.fromhex(too_much[2:]))]
    with pytest.raises(ContractReverted) as info:
        polymarket.wallet_execute(world.w3, alice, wallet, batch)
    data = info.value.data
    index, reason = decode(["uint256", "bytes"], data[4:])
    assert (v2_error_names()[data[:4]], index, v2_error_names()[reason[:4]]) == (
        "CallFailed",
        1,
        "InsufficientBalance",
    )
    assert world.usd(wallet) == 1_000 * USD  # the first transfer was rolled back with the batch
    polymarket.wallet_execute(world.w3, alice, wallet, [(world.pm.pusd, 0, bytes.fromhex(pay[2:]))])
    assert world.usd(wallet) == 990 * USD
    send(world.w3, world.admin, {"to": cs(wallet), "value": 10**18})
    assert world.w3.eth.get_balance(cs(wallet)) == 10**18
    handle = world.wallet("alice")
    for interface in ("01ffc9a7", "4e2312e0", "1626ba7e"):
        assert handle.functions.supportsInterface(bytes.fromhex(interface)).call() is True
    assert handle.functions.supportsInterface(bytes.fromhex("ffffffff")).call() is False


# --- ERC-1271 --------------------------------------------------------------------------------------------


def test_eip712_domain_is_the_wallets_own(world: V2World) -> None:
    domain = world.wallet("alice").functions.eip712Domain().call()
    assert domain[0] == b"\x0f"
    assert tuple(domain[1:]) == (
        "DepositWallet",
        "1",
        world.w3.eth.chain_id,
        cs(world.wallets["alice"]),
        bytes(32),
        [],
    )


def test_the_clients_wrap_is_accepted_and_our_builder_matches_it_byte_for_byte(world: V2World) -> None:
    order = alice_order(world)
    signature = bytes.fromhex(order.signature[2:])  # type: ignore[attr-defined]
    assert len(order.signature) == 636  # type: ignore[attr-defined]  # "0x" + 317 bytes, as production's
    assert is_valid(world, world.wallets["alice"], client_hash(world, order), signature) == MAGIC
    ours = nested_wrap(
        world.owners["alice"],
        app_domain_separator=app_separator(world),
        contents_hash=order_struct_hash(order),  # type: ignore[arg-type]
        wallet=cs(world.wallets["alice"]),
        chain_id=world.w3.eth.chain_id,
    )
    assert ours == signature
    # The same signature vouches for nothing else.
    assert is_valid(world, world.wallets["alice"], b"\x01" * 32, signature) == INVALID


def test_signatures_of_another_owner_wallet_or_chain_are_refused(world: V2World) -> None:
    order = alice_order(world)
    digest = client_hash(world, order)
    contents = order_struct_hash(order)  # type: ignore[arg-type]
    chain_id = world.w3.eth.chain_id

    # Carol's key signing for Alice's wallet (through the official client).
    forged = alice_order(world, signer_name="carol")
    assert is_valid(world, world.wallets["alice"], digest, bytes.fromhex(forged.signature[2:])) == INVALID  # type: ignore[attr-defined]

    # Alice's signature for her wallet, replayed on another wallet of hers (a second factory's).
    other_factory = deploy(world.w3, world.admin, "DepositWalletFactory")
    send(
        world.w3,
        world.admin,
        contract(world.w3, "DepositWalletFactory", other_factory).functions.deploy(
            world.owners["alice"].address
        ),
    )
    second = (
        contract(world.w3, "DepositWalletFactory", other_factory)
        .functions.predict(world.owners["alice"].address)
        .call()
    )
    genuine = bytes.fromhex(order.signature[2:])  # type: ignore[attr-defined]
    assert is_valid(world, second, digest, genuine) == INVALID
    for_second = nested_wrap(
        world.owners["alice"],
        app_domain_separator=app_separator(world),
        contents_hash=contents,
        wallet=second,
        chain_id=chain_id,
    )
    assert (
        is_valid(world, second, digest, for_second) == MAGIC
    )  # the builder is right: only the binding differs

    # Bound to another chain id.
    other_chain = nested_wrap(
        world.owners["alice"],
        app_domain_separator=app_separator(world),
        contents_hash=contents,
        wallet=cs(world.wallets["alice"]),
        chain_id=137,
    )
    assert is_valid(world, world.wallets["alice"], digest, other_chain) == INVALID

    # A wallet-refused signature makes the exchange refuse the order too.
    bob_sell = sign(
        world,
        world.owners["bob"],
        maker=world.wallets["bob"],
        token=world.yes,
        side=SELL,
        maker_amount=100 * USD,
        taker_amount=40 * USD,
        signature_type=POLY_1271,
    )
    for bad in (forged, as_tuple(order, signature=other_chain)):
        tuple_ = bad if isinstance(bad, tuple) else as_tuple(bad)
        with v2_reverts("InvalidSignature"):
            send(
                world.w3,
                world.operator,
                world.exchange.functions.matchOrders(
                    world.condition, tuple_, [as_tuple(bob_sell)], 40 * USD, [100 * USD], 0, [0]
                ),
            )


def test_malleable_and_malformed_signatures_return_invalid_without_reverting(world: V2World) -> None:
    order = alice_order(world)
    digest = client_hash(world, order)
    wallet = world.wallets["alice"]
    base = {
        "app_domain_separator": app_separator(world),
        "contents_hash": order_struct_hash(order),  # type: ignore[arg-type]
        "wallet": cs(wallet),
        "chain_id": world.w3.eth.chain_id,
    }
    assert is_valid(world, wallet, digest, nested_wrap(world.owners["alice"], **base)) == MAGIC  # type: ignore[arg-type]
    refused = [
        nested_wrap(world.owners["alice"], high_s=True, **base),  # type: ignore[arg-type]
        nested_wrap(world.owners["alice"], v_offset=2, **base),  # type: ignore[arg-type]
        # Contents names Solady refuses, each correctly signed: only the name rule can refuse them.
        nested_wrap(world.owners["alice"], contents_type="order(uint256 salt)", **base),  # type: ignore[arg-type]
        nested_wrap(world.owners["alice"], contents_type="(uint256 salt)", **base),  # type: ignore[arg-type]
        nested_wrap(world.owners["alice"], contents_type="Or der(uint256 salt)", **base),  # type: ignore[arg-type]
        nested_wrap(world.owners["alice"], contents_type="Or,der(uint256 salt)", **base),  # type: ignore[arg-type]
    ]
    genuine = bytes.fromhex(order.signature[2:])  # type: ignore[attr-defined]
    garbage = [
        b"",
        b"\x00" * 64,
        b"\x00" * 65,
        b"\xff" * 131,
        genuine[:-2] + (len(genuine)).to_bytes(2, "big"),  # the length field points past the data
        genuine[:-1],
        bytes(range(256)) * 3,
    ]
    for signature in refused + garbage:
        assert is_valid(world, wallet, digest, signature) == INVALID, signature.hex()


def test_plain_owner_signature_only_with_the_factory_switch(world: V2World) -> None:
    factory = contract(world.w3, "DepositWalletFactory", world.pm.wallet_factory)
    order = alice_order(world)
    digest = client_hash(world, order)
    plain = bytes(Account._sign_hash(digest, private_key=world.owners["alice"].key).signature)
    assert len(plain) == 65
    assert factory.functions.plainSignaturesAccepted().call() is False
    assert is_valid(world, world.wallets["alice"], digest, plain) == INVALID
    with v2_reverts("NotOwner"):
        send(world.w3, world.owners["alice"], factory.functions.setPlainSignaturesAccepted(True))
    send(world.w3, world.admin, factory.functions.setPlainSignaturesAccepted(True))
    assert is_valid(world, world.wallets["alice"], digest, plain) == MAGIC
    assert is_valid(world, world.wallets["bob"], digest, plain) == INVALID  # still only the wallet's owner

    # With the switch on, an order carrying the plain signature settles.
    bob_sell = sign(
        world,
        world.owners["bob"],
        maker=world.wallets["bob"],
        token=world.yes,
        side=SELL,
        maker_amount=100 * USD,
        taker_amount=40 * USD,
        signature_type=POLY_1271,
    )
    call = world.exchange.functions.matchOrders(
        world.condition, as_tuple(order, signature=plain), [as_tuple(bob_sell)], 40 * USD, [100 * USD], 0, [0]
    )
    send(world.w3, world.operator, call)
    assert world.tokens(world.wallets["alice"], world.yes) == 600 * USD
    send(world.w3, world.admin, factory.functions.setPlainSignaturesAccepted(False))
    assert is_valid(world, world.wallets["alice"], digest, plain) == INVALID


# --- pUSD and the ramps ------------------------------------------------------------------------------------


def test_wrap_and_unwrap_are_one_to_one(world: V2World) -> None:
    usdce = contract(world.w3, "MockCollateral", world.pm.usdce)
    offramp = contract(world.w3, "CollateralOfframp", world.pm.offramp)
    payer, dave = world.trader, derive(521)
    reserve = usdce.functions.balanceOf(cs(world.pm.onramp)).call()
    supply = world.pusd.functions.totalSupply().call()
    polymarket.wrap_usdce(world.w3, world.pm, world.admin, payer, dave.address, 7 * USD)
    assert world.usd(dave.address) == 7 * USD
    assert usdce.functions.balanceOf(cs(world.pm.onramp)).call() == reserve + 7 * USD
    assert world.pusd.functions.totalSupply().call() == supply + 7 * USD

    send(world.w3, world.admin, {"to": dave.address, "value": 10**18})
    send(world.w3, dave, world.pusd.functions.approve(cs(world.pm.offramp), 3 * USD))
    send(world.w3, dave, offramp.functions.unwrap(cs(world.pm.usdce), cs(world.trader.address), 3 * USD))
    assert world.usd(dave.address) == 4 * USD
    assert usdce.functions.balanceOf(cs(world.pm.onramp)).call() == reserve + 4 * USD
    assert world.pusd.functions.totalSupply().call() == supply + 4 * USD
    assert usdce.functions.balanceOf(cs(world.trader.address)).call() == 3 * USD
    assert (world.pusd.functions.name().call(), world.pusd.functions.symbol().call()) == (
        "Polymarket USD",
        "pUSD",
    )
    assert world.pusd.functions.decimals().call() == 6


def test_unknown_assets_and_pauses_are_refused(world: V2World) -> None:
    onramp = contract(world.w3, "CollateralOnramp", world.pm.onramp)
    offramp = contract(world.w3, "CollateralOfframp", world.pm.offramp)
    stranger = deploy(world.w3, world.admin, "MockCollateral")
    trader = world.trader
    send(
        world.w3,
        world.admin,
        contract(world.w3, "MockCollateral", stranger).functions.mint(trader.address, USD),
    )
    send(
        world.w3,
        trader,
        contract(world.w3, "MockCollateral", stranger).functions.approve(cs(world.pm.onramp), USD),
    )
    with v2_reverts("AssetNotAllowed"):
        send(world.w3, trader, onramp.functions.wrap(cs(stranger), trader.address, USD))
    with v2_reverts("AssetNotAllowed"):
        send(world.w3, trader, offramp.functions.unwrap(cs(stranger), trader.address, USD))
    with v2_reverts("NotOwner"):
        send(world.w3, trader, onramp.functions.setAsset(cs(stranger), True))
    send(world.w3, world.admin, onramp.functions.setPaused(True))
    with v2_reverts("RampPaused"):
        send(world.w3, trader, onramp.functions.wrap(cs(world.pm.usdce), trader.address, USD))
    send(world.w3, world.admin, offramp.functions.setPaused(True))
    with v2_reverts("RampPaused"):
        send(world.w3, trader, offramp.functions.unwrap(cs(world.pm.usdce), trader.address, USD))


def test_no_one_can_drain_the_reserve(world: V2World) -> None:
    usdce = contract(world.w3, "MockCollateral", world.pm.usdce)
    onramp = contract(world.w3, "CollateralOnramp", world.pm.onramp)
    offramp = contract(world.w3, "CollateralOfframp", world.pm.offramp)
    reserve = usdce.functions.balanceOf(cs(world.pm.onramp)).call()
    assert reserve == 6_000 * USD  # four holders wrapped 1,500 each
    attacker = world.trader
    for caller in (attacker, world.admin):  # not even the owner can release
        with v2_reverts("NotOfframp"):
            send(world.w3, caller, onramp.functions.release(cs(world.pm.usdce), caller.address, reserve))
    with v2_reverts("OfframpAlreadySet"):
        send(world.w3, world.admin, onramp.functions.setOfframp(world.admin.address))
    # Unwrapping more pUSD than one holds fails when the offramp pulls it.
    send(world.w3, attacker, world.pusd.functions.approve(cs(world.pm.offramp), 2**256 - 1))
    with v2_reverts("TokenTransferFailed"):
        send(world.w3, attacker, offramp.functions.unwrap(cs(world.pm.usdce), attacker.address, reserve))
    # Nobody mints unbacked pUSD to unwrap against the reserve: not a stranger, not the deployer (whose
    # minter role deploy_polymarket revokes); the onramp is the only minter.
    for caller in (attacker, world.admin):
        with v2_reverts("NotMinter"):
            send(world.w3, caller, world.pusd.functions.mint(caller.address, reserve))
    assert not world.pusd.functions.isMinter(world.admin.address).call()
    assert world.pusd.functions.isMinter(cs(world.pm.onramp)).call()
    with v2_reverts("NotOwner"):
        send(world.w3, attacker, world.pusd.functions.setMinter(attacker.address, True))
    assert usdce.functions.balanceOf(cs(world.pm.onramp)).call() == reserve
