"""A small local Polymarket V2 world for the CLOB tests, and the CLOB run in a thread of its own.

Deployed once per module on its own anvil: USDC.e (MockCollateral), the real ConditionalTokens, pUSD, both
V2 exchanges, two markets (a standard one with a taker fee and a neg-risk one), and traders: a deposit-wallet
trader, an allowlisted EOA trader, an EOA that is not allowlisted, and the market maker's wallet. The official
client's contract table knows only Polygon and Amoy, so `client_contracts` points it at this chain's
exchanges for the local chain id (its code is not modified).
"""

from __future__ import annotations

import asyncio
import copy
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_abi.abi import decode
from eth_account.signers.local import LocalAccount
from py_clob_client_v2 import ClobClient
from py_clob_client_v2.clob_types import ContractConfig, TradeParams
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.order_builder import builder as client_builder
from web3 import Web3

from polyhunter._core import keccak256
from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain.accounts import OWNER_INDEX, derive
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.deploy import fund_eth
from polyhunter.chain.polymarket import (
    PolymarketContracts,
    approve_for_trading,
    create_deposit_wallet,
    deploy_polymarket,
    register_market,
    wrap_usdce,
)
from polyhunter.chain.tx import contract, deploy, send
from polyhunter.localpoly import ClobMarket, ClobSettings, ClobWorld, LocalClob

USD = 10**6
TRADER_PUSD = 1_000 * USD
MM_PUSD = 5_000 * USD
FEE_BPS = 200  # the second market charges takers 2 %·p(1−p)


@dataclass
class World:
    node: Anvil
    w3: Web3
    pm: PolymarketContracts
    clob_world: ClobWorld
    admin: LocalAccount
    trader: LocalAccount  # owns a deposit wallet
    trader_wallet: str
    eoa: LocalAccount  # allowlisted EOA maker
    outsider: LocalAccount  # EOA maker, not allowlisted
    mm_wallet: str

    @property
    def market(self) -> ClobMarket:
        return self.clob_world.markets[0]

    @property
    def fee_market(self) -> ClobMarket:
        return self.clob_world.markets[1]

    def pusd(self, owner: str) -> int:
        handle = contract(self.w3, "PolyUSD", self.pm.pusd)
        return int(handle.functions.balanceOf(Web3.to_checksum_address(owner)).call())

    def tokens(self, owner: str, token_id: int) -> int:
        handle = contract(self.w3, "ConditionalTokens", self.pm.ctf)
        return int(handle.functions.balanceOf(Web3.to_checksum_address(owner), token_id).call())


def build_world(node: Anvil) -> World:
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    admin = derive(OWNER_INDEX)
    operator, mm = derive(101), derive(102)
    trader, eoa, outsider = derive(500), derive(501), derive(502)
    fund_eth(w3, [a.address for a in (admin, operator, mm, trader, eoa, outsider)], 10**21)
    usdce = deploy(w3, admin, "MockCollateral")
    ctf = deploy(w3, admin, "ConditionalTokens")
    pm = deploy_polymarket(w3, admin, usdce=usdce, ctf=ctf, operators=[operator.address])
    ctf_c = contract(w3, "ConditionalTokens", ctf)
    markets = []
    for i, (neg_risk, fee) in enumerate(((False, 0), (False, FEE_BPS), (True, 0))):
        question = keccak256(f"localpoly test market {i}".encode())
        send(w3, admin, ctf_c.functions.prepareCondition(admin.address, question, 2))
        condition = ctf_ids.condition_id(admin.address, question)
        yes, no = ctf_ids.binary_token_ids(pm.pusd, condition)
        exchange = pm.neg_risk_exchange if neg_risk else pm.exchange
        register_market(w3, pm, admin, exchange, "0x" + condition.hex(), yes, no)
        markets.append(
            ClobMarket(
                condition_id="0x" + condition.hex(),
                yes_token_id=yes,
                no_token_id=no,
                neg_risk=neg_risk,
                taker_fee_rate_bps=fee,
                question_id="0x" + question.hex(),
            )
        )
    wallets = {}
    for owner, amount in ((trader, TRADER_PUSD), (mm, MM_PUSD)):
        wallet = create_deposit_wallet(w3, pm, owner)
        approve_for_trading(w3, pm, owner, wallet)
        wrap_usdce(w3, pm, admin, admin, wallet, amount)
        wallets[owner.address] = wallet
    pusd = contract(w3, "PolyUSD", pm.pusd)
    for account in (eoa, outsider):
        wrap_usdce(w3, pm, admin, admin, account.address, TRADER_PUSD)
        for exchange in pm.exchanges:
            send(w3, account, pusd.functions.approve(Web3.to_checksum_address(exchange), 2**256 - 1))
            send(w3, account, ctf_c.functions.setApprovalForAll(Web3.to_checksum_address(exchange), True))
    world = ClobWorld(
        chain_id=w3.eth.chain_id,
        rpc_url=node.rpc_url,
        pusd=pm.pusd,
        ctf=pm.ctf,
        exchange=pm.exchange,
        neg_risk_exchange=pm.neg_risk_exchange,
        wallet_factory=pm.wallet_factory,
        markets=markets,
        market_maker_wallet=wallets[mm.address],
    )
    return World(
        node, w3, pm, world, admin, trader, wallets[trader.address], eoa, outsider, wallets[mm.address]
    )


@contextmanager
def client_contracts(world: World) -> Iterator[None]:
    """Lets py-clob-client-v2 sign for this chain's exchanges (its table knows only 137 and 80002)."""
    original = client_builder.get_contract_config
    pm = world.pm

    def local_config(chain_id: int) -> ContractConfig:
        if chain_id != world.clob_world.chain_id:
            return original(chain_id)
        cs = Web3.to_checksum_address
        return ContractConfig(
            exchange=cs(pm.exchange),
            neg_risk_adapter=cs(pm.neg_risk_exchange),
            neg_risk_exchange=cs(pm.neg_risk_exchange),
            collateral=cs(pm.pusd),
            conditional_tokens=cs(pm.ctf),
            exchange_v2=cs(pm.exchange),
            neg_risk_exchange_v2=cs(pm.neg_risk_exchange),
            exchange_v3=cs(pm.exchange),
        )

    client_builder.get_contract_config = local_config  # type: ignore[assignment]
    try:
        yield
    finally:
        client_builder.get_contract_config = original  # type: ignore[assignment]


class ClobThread:
    """A `LocalClob` on an event loop in a background thread (the official client blocks)."""

    def __init__(self, clob: LocalClob) -> None:
        self.clob = clob
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="localclob", daemon=True)

    def run(self, coro: Any, timeout: float = 60) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(
                f"the CLOB did not answer in {timeout} s; its tasks:\n{self.task_stacks()}"
            ) from None

    def task_stacks(self) -> str:
        """Where every task of the CLOB's loop is waiting (what a hang is stuck on)."""
        out = io.StringIO()
        for task in asyncio.all_tasks(self.loop):
            task.print_stack(file=out)
        return out.getvalue()

    def __enter__(self) -> LocalClob:
        self._thread.start()
        self.run(self.clob.start())
        return self.clob

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.clob.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


_THREADS: dict[int, ClobThread] = {}


def run_on(clob: LocalClob, coro: Any, timeout: float = 60) -> Any:
    """Runs `coro` on the CLOB's own event loop (where its engine lives) and returns its result."""
    return _THREADS[id(clob)].run(coro, timeout)


def wait_settled(clob: LocalClob) -> None:
    """Blocks until the CLOB has settled every match so far (its trades MINED/CONFIRMED or FAILED)."""
    _THREADS[id(clob)].run(clob.settled())


def wait_drained(clob: LocalClob) -> None:
    """Blocks until every queued match went through the settlement worker (mined or failed)."""
    _THREADS[id(clob)].run(clob.engine.settlements.join())


@contextmanager
def running_clob(
    world: World, settings: ClobSettings | None = None, feed: Any = None, **options: Any
) -> Iterator[LocalClob]:
    """A fresh CLOB on the world (`options` go to `LocalClob`), its chain state reverted afterwards."""
    snapshot = world.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        # A copy of the world: a live tick-size change stays with this CLOB, not the next test's.
        thread = ClobThread(LocalClob(copy.deepcopy(world.clob_world), settings, feed=feed, **options))
        with thread as clob:
            _THREADS[id(clob)] = thread
            try:
                yield clob
            finally:
                del _THREADS[id(clob)]
    finally:
        world.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- helpers the CLOB tests share

ORDER_FILLED = keccak256(
    b"OrderFilled(bytes32,address,address,uint8,uint256,uint256,uint256,uint256,bytes32,bytes32)"
)
ORDERS_MATCHED = keccak256(b"OrdersMatched(bytes32,address,uint8,uint256,uint256,uint256)")


def make_client(clob: LocalClob, account: LocalAccount, wallet: str | None = None) -> ClobClient:
    """The official client for `account`: a deposit-wallet trader (type 3) when `wallet`, else an EOA."""
    sig_type, funder = (3, wallet) if wallet else (0, account.address)
    client = ClobClient(
        clob.url, clob.world.chain_id, key=account.key.hex(), signature_type=sig_type, funder=funder
    )
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def refused(call: Any) -> tuple[int | None, Any]:
    """(status, body) of the refusal `call` must raise."""
    with pytest.raises(PolyApiException) as info:
        call()
    return info.value.status_code, info.value.error_msg


def admin(clob: LocalClob, **changes: Any) -> None:
    resp = httpx.post(f"{clob.url}/_local/settings", json=changes)
    assert resp.status_code == 200, resp.text


def fills_of(world: World, tx_hash: str) -> list[dict[str, Any]]:
    """The OrderFilled rows (maker, taker, side, token, making, taking, fee) and OrdersMatched of a tx."""
    receipt = world.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    for log in receipt["logs"]:
        topics = [bytes(t) for t in log["topics"]]
        if topics[0] == ORDER_FILLED:
            side, token, making, taking, fee, _b, _m = decode(
                ["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"],
                bytes(log["data"]),
            )
            rows.append(
                {
                    "maker": "0x" + topics[2][12:].hex(),
                    "taker": "0x" + topics[3][12:].hex(),
                    "side": side,
                    "token": token,
                    "making": making,
                    "taking": taking,
                    "fee": fee,
                }
            )
        elif topics[0] == ORDERS_MATCHED:
            rows.append({"matched": "0x" + topics[2][12:].hex()})
    return rows


def trade_after_settlement(clob: LocalClob, client: ClobClient, trade_id: str) -> dict[str, Any]:
    """The trade as `/data/trades` shows it once the CLOB has settled everything so far."""
    wait_settled(clob)
    trades = client.get_trades(TradeParams(id=trade_id))
    assert len(trades) == 1
    return dict(trades[0])
