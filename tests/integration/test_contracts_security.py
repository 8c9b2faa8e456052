"""The Executor's security model against anvil: who may do what, the Proxy's limits, and attacks."""

from __future__ import annotations

import pytest
from chain_helpers import cs, events, reverts
from eth_utils import keccak
from web3 import Web3

from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import ContractReverted, contract, deploy, send

pytestmark = pytest.mark.integration

YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
USD = 1_000_000


def _roles(chain: LocalChain) -> tuple[str, str, str, str]:
    """(worker, another worker, follower, follower's Proxy)."""
    accounts = chain.deployment.accounts
    return accounts.fleet[0], accounts.fleet[1], accounts.followers[0], chain.proxy_of(accounts.followers[0])


def _give_proxy_tokens(chain: LocalChain, proxy: str, amount: int) -> None:
    chain.copy_buy(chain.deployment.accounts.fleet[3], proxy, YES_0, amount // 2, amount)


# ------------------------------------------------------------------ authorisation


def test_a_non_worker_cannot_use_any_worker_operation(local_chain: LocalChain) -> None:
    _worker, _other, _follower, proxy = _roles(local_chain)
    stranger = local_chain.deployment.accounts.leaders[0]
    attempts = [
        lambda: local_chain.pull_collateral(stranger, proxy, USD),
        lambda: local_chain.pull_tokens(stranger, proxy, YES_0, 1),
        lambda: local_chain.push_collateral(stranger, proxy, USD),
        lambda: local_chain.push_tokens(stranger, proxy, YES_0, 1),
        lambda: local_chain.repay_debt(stranger, proxy, USD, stranger, bytes(32)),
    ]
    for attempt in attempts:
        with reverts("NotWorker"):
            attempt()
    batch = local_chain.executor.functions.pullERC20Batch(
        [cs(proxy)], cs(local_chain.deployment.contracts.collateral), [1]
    )
    with reverts("NotWorker"):
        send(local_chain.w3, local_chain.signer(stranger), batch)


def test_a_non_owner_cannot_administer_executor_proxy_or_treasury(local_chain: LocalChain) -> None:
    worker, _other, follower, proxy = _roles(local_chain)
    w3, signer = local_chain.w3, local_chain.signer(worker)
    executor = local_chain.executor.functions
    for call in (
        executor.setWorker(cs(worker), True),
        executor.setWorkers([cs(worker)], True),
        executor.setToken(cs(worker), 1),
        executor.setPaused(True),
        executor.setFee(cs(worker), 10),
        executor.setFactory(cs(worker)),
        executor.transferOwnership(cs(worker)),
        local_chain.treasury.functions.withdraw(
            cs(local_chain.deployment.contracts.collateral), cs(worker), 1
        ),
    ):
        with reverts("NotOwner"):
            send(w3, signer, call)
    collateral = cs(local_chain.deployment.contracts.collateral)
    owned = local_chain.proxy(follower).functions
    for call in (
        owned.setLimits(2**127, 2**127),
        owned.setPaused(True),
        owned.withdrawERC20(collateral, cs(worker), 1),
        owned.withdrawERC1155(cs(local_chain.deployment.contracts.ctf), YES_0, cs(worker), 1),
        owned.deposit(collateral, 1),
    ):
        with reverts("NotOwner"):
            send(w3, signer, call)
    # Only the Executor may ask a Proxy to send, and only the factory may register a Proxy.
    with reverts("NotExecutor"):
        send(w3, signer, owned.executorTransferERC20(collateral, cs(worker), 1, cs(worker), 0))
    with reverts("NotExecutor"):
        send(
            w3,
            signer,
            owned.executorTransferERC1155(cs(local_chain.deployment.contracts.ctf), YES_0, cs(worker), 1),
        )
    with reverts("NotFactory"):
        send(w3, signer, executor.registerProxy(cs(worker), cs(worker)))
    assert local_chain.collateral_of(proxy) == 5_000 * USD


def test_pause_blocks_every_worker_operation_until_unpaused(local_chain: LocalChain) -> None:
    worker, _other, _follower, proxy = _roles(local_chain)
    owner = local_chain.signer(local_chain.deployment.accounts.owner)
    _give_proxy_tokens(local_chain, proxy, 10 * USD)
    send(local_chain.w3, owner, local_chain.executor.functions.setPaused(True))
    for attempt in (
        lambda: local_chain.pull_collateral(worker, proxy, USD),
        lambda: local_chain.pull_tokens(worker, proxy, YES_0, USD),
        lambda: local_chain.push_collateral(worker, proxy, USD),
        lambda: local_chain.push_tokens(worker, proxy, YES_0, 0),
        lambda: local_chain.repay_debt(worker, proxy, USD, worker, bytes(32)),
    ):
        with reverts("ExecutorPaused"):
            attempt()
    send(local_chain.w3, owner, local_chain.executor.functions.setPaused(False))
    local_chain.pull_collateral(worker, proxy, USD)
    assert local_chain.collateral_of(proxy) == 5_000 * USD - 5 * USD - USD


def test_a_paused_proxy_refuses_the_executor(local_chain: LocalChain) -> None:
    worker, _other, follower, proxy = _roles(local_chain)
    _give_proxy_tokens(local_chain, proxy, 10 * USD)
    send(local_chain.w3, local_chain.signer(follower), local_chain.proxy(follower).functions.setPaused(True))
    with reverts("ProxyPaused"):
        local_chain.pull_collateral(worker, proxy, USD)
    with reverts("ProxyPaused"):
        local_chain.pull_tokens(worker, proxy, YES_0, USD)
    local_chain.push_collateral(worker, proxy, USD)  # pushing in is always welcome
    assert local_chain.collateral_of(proxy) == 5_000 * USD - 5 * USD + USD


def test_the_owner_withdraws_while_executor_and_proxy_are_paused(local_chain: LocalChain) -> None:
    _worker, _other, follower, proxy = _roles(local_chain)
    _give_proxy_tokens(local_chain, proxy, 10 * USD)
    owner = local_chain.signer(local_chain.deployment.accounts.owner)
    send(local_chain.w3, owner, local_chain.executor.functions.setPaused(True))
    signer, wallet = local_chain.signer(follower), local_chain.proxy(follower).functions
    send(local_chain.w3, signer, wallet.setPaused(True))
    cash, contracts = local_chain.collateral_of(follower), local_chain.deployment.contracts

    send(local_chain.w3, signer, wallet.withdrawERC20(cs(contracts.collateral), cs(follower), 4_995 * USD))
    send(local_chain.w3, signer, wallet.withdrawERC1155(cs(contracts.ctf), YES_0, cs(follower), 10 * USD))

    assert local_chain.collateral_of(follower) == cash + 4_995 * USD
    assert local_chain.tokens_of(follower, YES_0) == 10 * USD
    assert (local_chain.collateral_of(proxy), local_chain.tokens_of(proxy, YES_0)) == (0, 0)
    # ... and deposits again, still paused.
    send(local_chain.w3, signer, local_chain.collateral.functions.approve(cs(proxy), USD))
    send(local_chain.w3, signer, wallet.deposit(cs(contracts.collateral), USD))
    assert local_chain.collateral_of(proxy) == USD


def test_removing_a_worker_takes_effect_at_once(local_chain: LocalChain) -> None:
    worker, other, _follower, proxy = _roles(local_chain)
    owner = local_chain.signer(local_chain.deployment.accounts.owner)
    local_chain.pull_collateral(worker, proxy, USD)
    receipt = send(local_chain.w3, owner, local_chain.executor.functions.setWorker(cs(worker), False))
    assert events(local_chain.executor, "WorkerSet", receipt)[0]["authorised"] is False
    with reverts("NotWorker"):
        local_chain.pull_collateral(worker, proxy, USD)
    with reverts("NotWorker"):
        local_chain.push_collateral(worker, proxy, USD)
    with reverts("NotWorker"):  # nor can it be paid as a creditor
        local_chain.repay_debt(other, proxy, USD, worker, bytes(32))
    local_chain.pull_collateral(other, proxy, USD)  # the rest of the fleet carries on


# ------------------------------------------------------------------------ limits


def test_the_per_trade_limit_cannot_be_exceeded(local_chain: LocalChain) -> None:
    worker, _other, _follower, proxy = _roles(local_chain)
    with reverts("ExceedsMaxPerTrade"):
        local_chain.pull_collateral(worker, proxy, 1_000 * USD + 1)
    local_chain.pull_collateral(worker, proxy, 1_000 * USD)
    _give_proxy_tokens(local_chain, proxy, 2_000 * USD // 2)
    with reverts("ExceedsMaxPerTrade"):  # outcome tokens count too (one share <= $1)
        local_chain.pull_tokens(worker, proxy, YES_0, 1_000 * USD + 1)


def test_the_daily_limit_cannot_be_exceeded_and_resets_next_day(local_chain: LocalChain) -> None:
    worker, _other, follower, proxy = _roles(local_chain)
    send(
        local_chain.w3,
        local_chain.signer(follower),
        local_chain.proxy(follower).functions.setLimits(1_000 * USD, 2_500 * USD),
    )
    local_chain.pull_collateral(worker, proxy, 1_000 * USD)
    local_chain.pull_collateral(worker, proxy, 1_000 * USD)
    assert local_chain.proxy(follower).functions.remainingToday().call() == 500 * USD
    with reverts("ExceedsMaxPerDay"):
        local_chain.pull_collateral(worker, proxy, 500 * USD + 1)
    local_chain.pull_collateral(worker, proxy, 500 * USD)
    with reverts("ExceedsMaxPerDay"):
        local_chain.pull_collateral(worker, proxy, 1)
    local_chain.w3.provider.make_request("evm_increaseTime", [86_400])  # type: ignore[arg-type]
    local_chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    local_chain.pull_collateral(worker, proxy, 1_000 * USD)


def test_limits_hold_in_a_batch(local_chain: LocalChain) -> None:
    worker, _other, follower, proxy = _roles(local_chain)
    second = local_chain.proxy_of(local_chain.deployment.accounts.followers[1])
    collateral = cs(local_chain.deployment.contracts.collateral)
    signer, executor = local_chain.signer(worker), local_chain.executor.functions
    before = (local_chain.collateral_of(proxy), local_chain.collateral_of(second))

    with reverts("ExceedsMaxPerTrade"):  # one entry over the per-trade limit sinks the whole batch
        send(
            local_chain.w3,
            signer,
            executor.pullERC20Batch([cs(second), cs(proxy)], collateral, [USD, 1_001 * USD]),
        )
    send(
        local_chain.w3,
        local_chain.signer(follower),
        local_chain.proxy(follower).functions.setLimits(1_000 * USD, 1_500 * USD),
    )
    with reverts("ExceedsMaxPerDay"):  # the same Proxy twice: the entries add up against its daily limit
        send(
            local_chain.w3,
            signer,
            executor.pullERC20Batch(
                [cs(proxy), cs(second), cs(proxy)], collateral, [800 * USD, USD, 800 * USD]
            ),
        )
    assert (local_chain.collateral_of(proxy), local_chain.collateral_of(second)) == before

    send(
        local_chain.w3, signer, executor.pullERC20Batch([cs(proxy), cs(second)], collateral, [800 * USD, USD])
    )
    assert local_chain.collateral_of(proxy) == before[0] - 800 * USD
    _give_proxy_tokens(local_chain, proxy, 200 * USD)
    with reverts("ExceedsMaxPerDay"):  # 800 + 100 (the buy) spent today; 700 tokens more make 1,600 > 1,500
        send(
            local_chain.w3,
            signer,
            executor.pullERC1155Batch(
                [cs(proxy)], cs(local_chain.deployment.contracts.ctf), [YES_0], [700 * USD]
            ),
        )


def test_the_fee_goes_to_the_treasury_and_counts_against_the_limit(local_chain: LocalChain) -> None:
    worker, _other, follower, proxy = _roles(local_chain)
    owner = local_chain.signer(local_chain.deployment.accounts.owner)
    treasury = local_chain.deployment.contracts.treasury
    send(local_chain.w3, owner, local_chain.executor.functions.setFee(cs(treasury), 100))  # 1 %
    receipt = local_chain.pull_collateral(worker, proxy, 500 * USD)
    assert events(local_chain.executor, "Pulled", receipt)[0]["fee"] == 5 * USD
    assert local_chain.collateral_of(treasury) == 5 * USD
    assert local_chain.collateral_of(proxy) == 5_000 * USD - 505 * USD
    with reverts("ExceedsMaxPerTrade"):  # 1,000 + 1 % fee > 1,000
        local_chain.pull_collateral(worker, proxy, 1_000 * USD)
    with reverts("FeeTooHigh"):
        send(local_chain.w3, owner, local_chain.executor.functions.setFee(cs(treasury), 1_001))
    collateral = cs(local_chain.deployment.contracts.collateral)
    send(local_chain.w3, owner, local_chain.treasury.functions.withdraw(collateral, cs(follower), 5 * USD))
    assert local_chain.collateral_of(treasury) == 0


# ----------------------------------------------------------------------- attacks

_FORBIDDEN = {
    "approve(address,uint256)": [("address", "0x" + "11" * 20), ("uint256", 2**256 - 1)],
    "transferFrom(address,address,uint256)": [
        ("address", None),
        ("address", "0x" + "11" * 20),
        ("uint256", 1),
    ],
    "setApprovalForAll(address,bool)": [("address", "0x" + "11" * 20), ("bool", True)],
    "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)": [
        ("address", None),
        ("address", "0x" + "11" * 20),
        ("uint256", 2**256 - 1),
        ("uint256", 2**40),
        ("uint8", 27),
        ("bytes32", bytes(32)),
        ("bytes32", bytes(32)),
    ],
    "safeTransferFrom(address,address,uint256,uint256,bytes)": [
        ("address", None),
        ("address", "0x" + "11" * 20),
        ("uint256", YES_0),
        ("uint256", 1),
        ("bytes", b""),
    ],
    "execute(address,bytes)": [("address", "0x" + "11" * 20), ("bytes", b"")],
    "multicall(bytes[])": [("bytes[]", [])],
}


def _calldata(signature: str, proxy: str) -> bytes:
    from eth_abi import encode

    args = _FORBIDDEN[signature]
    values = [proxy if value is None else value for _type, value in args]
    return keccak(text=signature)[:4] + encode([t for t, _ in args], values)


@pytest.mark.parametrize("signature", sorted(_FORBIDDEN))
def test_no_approval_or_arbitrary_call_can_be_made_through_executor_or_proxy(
    local_chain: LocalChain, signature: str
) -> None:
    worker, _other, _follower, proxy = _roles(local_chain)
    data = _calldata(signature, proxy)
    name = signature.split("(")[0]
    for target in (local_chain.deployment.contracts.executor, proxy):
        with pytest.raises(ContractReverted):
            send(local_chain.w3, local_chain.signer(worker), {"to": cs(target), "data": data, "gas": 500_000})
    for artifact in ("Executor", "Proxy"):
        assert name not in {item.get("name") for item in load_artifact(artifact).abi}
    assert local_chain.collateral.functions.allowance(cs(proxy), cs(worker)).call() == 0
    assert local_chain.ctf.functions.isApprovedForAll(cs(proxy), cs(worker)).call() is False


def _opcodes(code: bytes) -> set[int]:
    seen, i = set(), 0
    while i < len(code):
        op = code[i]
        seen.add(op)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)  # skip PUSH1..PUSH32 immediates
    return seen


def test_no_delegatecall_callcode_or_selfdestruct_in_the_wallet_contracts(local_chain: LocalChain) -> None:
    _worker, _other, _follower, proxy = _roles(local_chain)
    c = local_chain.deployment.contracts
    for address in (c.executor, c.proxy_factory, c.treasury, proxy):
        code = bytes(local_chain.w3.eth.get_code(cs(address)))
        assert code
        assert not {0xF4, 0xF2, 0xFF} & _opcodes(code), address


def test_a_token_that_is_not_allowlisted_is_refused(local_chain: LocalChain) -> None:
    worker, _other, _follower, proxy = _roles(local_chain)
    owner = local_chain.signer(local_chain.deployment.accounts.owner)
    other_token = deploy(local_chain.w3, owner, "MockCollateral")
    token = contract(local_chain.w3, "MockCollateral", other_token)
    send(local_chain.w3, owner, token.functions.mint(cs(proxy), 100 * USD))
    executor = local_chain.executor.functions
    signer = local_chain.signer(worker)
    with reverts("TokenNotAllowed"):
        send(local_chain.w3, signer, executor.pullERC20(cs(proxy), cs(other_token), USD))
    with reverts("TokenNotAllowed"):  # the CTF is allowlisted as ERC-1155 only
        send(
            local_chain.w3,
            signer,
            executor.pullERC20(cs(proxy), cs(local_chain.deployment.contracts.ctf), USD),
        )
    with reverts("TokenNotAllowed"):
        send(local_chain.w3, signer, executor.pullERC1155(cs(proxy), cs(other_token), 0, USD))
    collateral = cs(local_chain.deployment.contracts.collateral)
    send(local_chain.w3, owner, executor.setToken(collateral, 0))
    with reverts("TokenNotAllowed"):
        local_chain.pull_collateral(worker, proxy, USD)
    assert token.functions.balanceOf(cs(proxy)).call() == 100 * USD


def test_a_target_that_is_not_a_registered_proxy_is_refused(local_chain: LocalChain) -> None:
    worker, other, _follower, _proxy = _roles(local_chain)
    with reverts("NotProxy"):
        local_chain.pull_collateral(worker, other, USD)
    with reverts("NotProxy"):
        local_chain.push_collateral(worker, local_chain.deployment.contracts.local_exchange or "", USD)


def test_reentrancy_through_an_erc1155_receiver_hook_reverts(local_chain: LocalChain) -> None:
    _worker, _other, _follower, proxy = _roles(local_chain)
    _give_proxy_tokens(local_chain, proxy, 20 * USD)
    owner = local_chain.signer(local_chain.deployment.accounts.owner)
    attacker_address = deploy(local_chain.w3, owner, "ReentrantWorker")
    attacker = contract(local_chain.w3, "ReentrantWorker", attacker_address)
    # The worst case: the owner authorised the attacker as a worker by mistake.
    send(local_chain.w3, owner, local_chain.executor.functions.setWorker(cs(attacker_address), True))
    ctf = cs(local_chain.deployment.contracts.ctf)

    with reverts("Reentrancy"):
        send(
            local_chain.w3,
            owner,
            attacker.functions.attack(
                cs(local_chain.deployment.contracts.executor), cs(proxy), ctf, YES_0, 5 * USD
            ),
        )

    assert local_chain.tokens_of(proxy, YES_0) == 20 * USD
    assert local_chain.tokens_of(attacker_address, YES_0) == 0


def test_pushes_spend_only_the_calling_workers_own_allowance(local_chain: LocalChain) -> None:
    worker, other, _follower, proxy = _roles(local_chain)
    # `other` approved the Executor too; `worker` cannot make the Executor move `other`'s funds: a push
    # always transfers from msg.sender, so the only balance that moves is the caller's.
    before = {a: local_chain.collateral_of(a) for a in (worker, other)}
    local_chain.push_collateral(worker, proxy, 3 * USD)
    assert local_chain.collateral_of(worker) == before[worker] - 3 * USD
    assert local_chain.collateral_of(other) == before[other]
    assert Web3.is_address(proxy)
