"""The Executor owner's reads of Executor events through an RPC that refuses `eth_getLogs` over more than
LIMIT blocks (a loopback endpoint in front of the real anvil), on a chain several times longer than that:
revoking a worker still cancels the changes queued for it far apart in the chain's history, and a rotation
still finds a debt's recorder (in neither fleet) from the Proxy's DebtRecorded events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chain_helpers import cs, reverts
from limited_rpc import LimitedRpc, limited_rpc
from web3 import Web3

from polyhunter._core import Signer
from polyhunter._core import keccak256 as keccak
from polyhunter.chain.deploy import deploy_core
from polyhunter.chain.local import LocalChain
from polyhunter.chain.tx import send
from polyhunter.commands._executor_admin import ExecutorAdmin
from polyhunter.commands._rotate import FleetRotation
from polyhunter.execution import calls
from polyhunter.models import DebtRecord

pytestmark = pytest.mark.integration

LIMIT = 100
USD = 1_000_000
YES_0 = 85582852254055604730434497073296615212033849972277199800761754422625228641162
CHANGE_QUEUED = "ChangeQueued(bytes32,bytes,uint256)"


def _mine(chain: LocalChain, blocks: int) -> None:
    chain.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


@pytest.fixture
def rpc(local_chain: LocalChain) -> Iterator[LimitedRpc]:
    with limited_rpc(local_chain.deployment.rpc_url, LIMIT) as endpoint:
        yield endpoint


def _served_within_limit(rpc: LimitedRpc) -> None:
    assert rpc.seen, "no eth_getLogs went through the limited endpoint"
    assert any(r.refused for r in rpc.seen), "nothing was refused: the test did not exercise the limit"
    assert all(r.to_block - r.from_block + 1 <= LIMIT for r in rpc.seen if not r.refused)


def test_revoking_cancels_changes_queued_far_apart_through_a_limited_rpc(
    local_chain: LocalChain, rpc: LimitedRpc
) -> None:
    chain = local_chain
    c, fleet = chain.deployment.contracts, chain.deployment.accounts.fleet
    core = deploy_core(
        chain.w3,
        chain.accounts.owner,
        collateral=c.collateral,
        ctf=c.ctf,
        fleet=fleet[:1],
        change_delay_s=3600,
        worker_cap=100 * USD,
        finish_setup=True,
    )
    deployed_at = chain.w3.eth.block_number
    admin = ExecutorAdmin(Web3(Web3.HTTPProvider(rpc.url)), core.executor, chain.accounts.owner)
    leaked, other = fleet[2], fleet[3]
    _mine(chain, 3 * LIMIT)
    assert admin.authorise(leaked, True).status == "queued"
    _mine(chain, 4 * LIMIT)
    assert admin.set_cap(leaked, 500 * USD).status == "queued"
    _mine(chain, 2 * LIMIT)
    assert admin.authorise(other, True).status == "queued"
    _mine(chain, 3 * LIMIT)
    assert chain.w3.eth.block_number - deployed_at > 10 * LIMIT
    with pytest.raises(Exception, match="exceeds limit"):  # what one fromBlock-0 request meets here
        admin.handle.events.ChangeQueued().get_logs(from_block=0)
    rpc.seen.clear()

    queued = {q["call"] for q in admin.queued_changes()}
    assert queued == {
        f"setWorker({leaked.lower()}, True)",
        f"setWorkerCap({leaked.lower()}, {500 * USD})",
        f"setWorker({other.lower()}, True)",
    }
    assert admin.first_block() <= deployed_at  # found from the Executor's code history, not block 0
    assert min(r.from_block for r in rpc.seen) == admin.first_block() > 0
    revoked = admin.authorise(leaked, False)
    assert (revoked.status, revoked.tx_hash is not None) == ("done", True)
    ready = admin.handle.functions.changeReadyAt
    for data in (
        admin.encode("setWorker", cs(leaked), True),
        admin.encode("setWorkerCap", cs(leaked), 500 * USD),
    ):
        assert ready(keccak(data)).call() == 0, "still queued after the revoke"
    assert ready(keccak(admin.encode("setWorker", cs(other), True))).call() > 0
    assert admin.known_workers() == [fleet[0].lower()]
    _served_within_limit(rpc)


def test_a_rotation_finds_a_debts_recorder_in_old_events_through_a_limited_rpc(
    local_chain: LocalChain, rpc: LimitedRpc
) -> None:
    chain = local_chain
    d = chain.deployment
    recorder, first_heir, second_heir = d.accounts.fleet[1], d.accounts.fleet[2], d.accounts.fleet[3]
    proxy = chain.proxy_of(d.accounts.followers[1])
    trade_key = b"\x78" * 32
    chain.trade(recorder, "BUY", YES_0, 4 * USD, 2 * USD)
    chain.push_tokens_with_debt(recorder, proxy, YES_0, 4 * USD, 2 * USD, calls.chain_debt_id(trade_key))
    key = calls.chain_debt_key(trade_key, recorder)
    x = chain.executor.functions
    owner = chain.accounts.owner
    args = (
        key,
        cs(proxy),
        cs(d.contracts.collateral),
        cs(recorder),
        cs(recorder),
        cs(first_heir),
        cs(first_heir),
    )
    _mine(chain, 5 * LIMIT)
    send(chain.w3, owner, x.reassignDebt(*args))  # an earlier rotation, by hand
    _mine(chain, 5 * LIMIT)

    admin = ExecutorAdmin(Web3(Web3.HTTPProvider(rpc.url)), d.contracts.executor, owner)
    signers = [Signer(bytes(chain.signer(a).key)) for a in (first_heir, second_heir)]
    rotation = FleetRotation(
        admin, 31337, signers[:1], signers[1:], collateral=d.contracts.collateral, ctf=d.contracts.ctf
    )
    debt = DebtRecord(proxy=proxy, worker=first_heir, amount=2 * USD, trade_key=trade_key, debt_id=8)
    rotation.move_debts([debt])  # no recorders: the recorder is found in the Proxy's DebtRecorded events
    assert rotation.result.moved_debts == [(8, second_heir)]
    assert x.debtOpen(key).call() == 2 * USD
    with reverts("DebtMismatch"):
        chain.repay_debt(recorder, proxy, USD, first_heir, key)
    chain.repay_debt(recorder, proxy, 2 * USD, second_heir, key)
    assert x.debtOpen(key).call() == 0
    _served_within_limit(rpc)
    debt_recorded = "0x" + calls.DEBT_RECORDED_TOPIC.hex()
    assert rpc.logs_requests(debt_recorded), "the recorder was not looked up in the events"
