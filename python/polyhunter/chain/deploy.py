"""Deploying polyhunter's contracts: the core (Executor, ProxyFactory, Treasury) to any chain, and the
whole local world (mock collateral, the real CTF, markets, LocalExchange, funded test accounts) to anvil.

Used by `polyhunter deploy`, `polyhunter chain up`, the tests and the demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction

from polyhunter._core import keccak256
from polyhunter.chain import ctf as ctf_ids
from polyhunter.chain.accounts import LocalAccounts
from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.deployment import Accounts, Contracts, Deployment, Market
from polyhunter.chain.tx import contract, deploy, send
from polyhunter.errors import ChainError

KIND_ERC20 = 1
KIND_ERC1155 = 2
#: Redemption-only collateral (USDC.e) and the neg-risk WrappedCollateral: `Executor.redeemBatch/mergeBatch`.
KIND_COLLATERAL = 3
KIND_WRAPPED = 4
MAX_UINT256 = 2**256 - 1
USD = 1_000_000  # one unit of collateral (6 decimals) in base units
MAX_WORKER_CAP = 2**48 - 1  # Executor.MAX_WORKER_CAP: the charges of a sub-window are packed as uint48


@dataclass(frozen=True)
class CoreAddresses:
    """What `deploy_core` deployed."""

    executor: str
    proxy_factory: str
    treasury: str
    proxy_init_code_hash: str


@dataclass(frozen=True)
class LocalWorldConfig:
    """Sizes and balances of the local world (amounts in base units). `markets` standard markets are traded
    on the V2 exchange, then `neg_risk_markets` more on the neg-risk V2 exchange."""

    markets: int = 2
    neg_risk_markets: int = 1
    tick_size: str = "0.01"
    min_order_size: str = "5"
    taker_fee_rate_bps: int = 0
    market_maker_tokens_per_market: int = 100_000 * USD
    market_maker_collateral: int = 100_000 * USD
    leader_wallet_collateral: int = 100_000 * USD
    eth_per_account: int = 1_000 * 10**18
    maker_tokens_per_market: int = 500_000 * USD
    maker_collateral: int = 500_000 * USD
    fleet_float: int = 10_000 * USD
    leader_collateral: int = 100_000 * USD
    follower_collateral: int = 10_000 * USD
    follower_deposit: int = 5_000 * USD
    proxy_max_per_trade: int = 1_000 * USD
    proxy_max_per_day: int = 10_000 * USD
    fee_bps: int = 0
    # No delay, so that tests and the CLI re-authorise at once; no practical cap, so no benchmark throttles.
    change_delay_s: int = 0
    worker_cap: int = MAX_WORKER_CAP


def proxy_init_code_hash() -> str:
    """keccak256 of the Proxy's creation code: one constant per build (the constructor takes no arguments)."""
    return "0x" + load_artifact("Proxy").init_code_hash.hex()


def deploy_core(
    w3: Web3,
    owner: LocalAccount,
    *,
    collateral: str,
    ctf: str,
    fleet: Sequence[str],
    fee_bps: int = 0,
    change_delay_s: int | None = None,
    worker_cap: int | None = None,
    finish_setup: bool = True,
    usdce: str | None = None,
    wrapped_collateral: str | None = None,
) -> CoreAddresses:
    """Deploys Executor, Treasury and ProxyFactory owned by `owner`, binds the factory, allowlists the
    collateral (ERC-20) and the CTF (ERC-1155), authorises `fleet` and sets the fee, all during the
    Executor's setup phase, which it then ends unless `finish_setup` is false (a caller with more to set up
    calls `finish_setup` itself). `change_delay_s` and `worker_cap` (the default per-worker cap, base units
    per rolling hour) default to the settings `EXECUTOR_CHANGE_DELAY_S` and `EXECUTOR_WORKER_CAP_USD`.
    `usdce` and `wrapped_collateral` (the NegRiskAdapter's), when given, are allowlisted for redemptions
    only (`KIND_COLLATERAL`, `KIND_WRAPPED`): positions over them are then redeemed into the Proxies too."""
    if change_delay_s is None or worker_cap is None:
        from polyhunter.settings import load_settings

        settings = load_settings()
        change_delay_s = settings.executor_change_delay_s if change_delay_s is None else change_delay_s
        worker_cap = settings.executor_worker_cap_usd if worker_cap is None else worker_cap
    executor_address = deploy(w3, owner, "Executor", owner.address, change_delay_s, worker_cap)
    treasury = deploy(w3, owner, "Treasury", owner.address)
    factory = deploy(w3, owner, "ProxyFactory", Web3.to_checksum_address(executor_address))
    executor = contract(w3, "Executor", executor_address)
    send(w3, owner, executor.functions.setFactory(Web3.to_checksum_address(factory)))
    send(w3, owner, executor.functions.setToken(Web3.to_checksum_address(collateral), KIND_ERC20))
    send(w3, owner, executor.functions.setToken(Web3.to_checksum_address(ctf), KIND_ERC1155))
    for token, kind in ((usdce, KIND_COLLATERAL), (wrapped_collateral, KIND_WRAPPED)):
        if token is not None:
            send(w3, owner, executor.functions.setToken(Web3.to_checksum_address(token), kind))
    if fleet:
        send(w3, owner, executor.functions.setWorkers([Web3.to_checksum_address(a) for a in fleet], True))
    if fee_bps:
        send(w3, owner, executor.functions.setFee(Web3.to_checksum_address(treasury), fee_bps))
    if finish_setup:
        send(w3, owner, executor.functions.finishSetup())
    on_chain_hash = contract(w3, "ProxyFactory", factory).functions.proxyInitCodeHash().call()
    init_code_hash = proxy_init_code_hash()
    if "0x" + bytes(on_chain_hash).hex() != init_code_hash:
        raise ChainError(f"ProxyFactory's init code hash differs from the artifact's {init_code_hash}")
    return CoreAddresses(executor_address, factory, treasury, init_code_hash)


def fund_eth(w3: Web3, addresses: Sequence[str], wei: int) -> None:
    """Sets each address's ETH balance (anvil only)."""
    for address in addresses:
        w3.provider.make_request("anvil_setBalance", [address, hex(wei)])  # type: ignore[arg-type]


def _checksum(address: str) -> str:
    return Web3.to_checksum_address(address)


def deploy_local(
    w3: Web3,
    *,
    rpc_url: str,
    ws_url: str,
    accounts: LocalAccounts | None = None,
    config: LocalWorldConfig | None = None,
) -> Deployment:
    """Builds the local world on an anvil node and returns its `Deployment` (not saved).

    Polymarket V2 as it runs on Polygon, with our own contracts: a mock USDC.e, pUSD wrapped from it 1:1 by
    the CollateralOnramp (and unwrapped by the offramp), the real Gnosis CTF with positions over pUSD, the
    V2 exchange and the neg-risk V2 exchange (the operator account may call `matchOrders`), and the
    deposit-wallet factory. pUSD is the collateral everywhere: the Executor's allowlist, the Proxies, the
    LocalExchange on which the engine still fills copies.

    The owner deploys everything, is the markets' oracle and LocalExchange's market maker. Leaders and the
    CLOB's market maker get deposit wallets holding pUSD made through the onramp, with the wallets' own
    approvals for both exchanges; the market maker's wallet also holds both outcomes of every market (split
    from pUSD). Fleet wallets are authorised on the Executor and approve the Executor and LocalExchange.
    Leaders keep pUSD on their EOAs too, for LocalExchange. Each follower wraps USDC.e into pUSD, creates its
    Proxy with limits and deposits into it. Then come Polymarket V2's collateral adapters and the
    NegRiskAdapter, with two markets of their own beside `markets` (`adapters.local_adapter_markets`), and
    last each fleet wallet's deposit wallet (empty, approved for both exchanges and the Executor, registered
    on the Executor as the worker's trading wallet).
    """
    from polyhunter.chain import adapters, polymarket

    layout = accounts or LocalAccounts()
    cfg = config or LocalWorldConfig()
    owner = layout.owner
    fund_eth(w3, [a.address for a in layout.all()], cfg.eth_per_account)

    usdce_address = deploy(w3, owner, "MockCollateral")
    ctf_address = deploy(w3, owner, "ConditionalTokens")
    pm = polymarket.deploy_polymarket(
        w3, owner, usdce=usdce_address, ctf=ctf_address, operators=[layout.operator.address]
    )
    collateral_address = pm.pusd
    from_block = w3.eth.block_number
    core = deploy_core(
        w3,
        owner,
        collateral=collateral_address,
        ctf=ctf_address,
        fleet=[a.address for a in layout.fleet],
        fee_bps=cfg.fee_bps,
        change_delay_s=cfg.change_delay_s,
        worker_cap=cfg.worker_cap,
        finish_setup=False,
    )
    exchange_address = deploy(
        w3, owner, "LocalExchange", _checksum(collateral_address), _checksum(ctf_address)
    )
    collateral = contract(w3, "PolyUSD", collateral_address)
    ctf = contract(w3, "ConditionalTokens", ctf_address)
    exchange = contract(w3, "LocalExchange", exchange_address)
    executor = _checksum(core.executor)

    def wrap(payer: LocalAccount, to: str, amount: int) -> None:
        polymarket.wrap_usdce(w3, pm, owner, payer, to, amount)

    markets = []
    for i in range(cfg.markets + cfg.neg_risk_markets):
        neg_risk = i >= cfg.markets
        question_id = keccak256(f"polyhunter local market {i}".encode())
        send(w3, owner, ctf.functions.prepareCondition(owner.address, question_id, 2))
        condition = ctf_ids.condition_id(owner.address, question_id)
        yes, no = ctf_ids.binary_token_ids(collateral_address, condition)
        market = Market(
            "0x" + condition.hex(),
            "0x" + question_id.hex(),
            owner.address.lower(),
            yes,
            no,
            neg_risk=neg_risk,
            tick_size=cfg.tick_size,
            min_order_size=cfg.min_order_size,
            taker_fee_rate_bps=cfg.taker_fee_rate_bps,
        )
        markets.append(market)
        venue = pm.neg_risk_exchange if neg_risk else pm.exchange
        polymarket.register_market(w3, pm, owner, venue, market.condition_id, yes, no)

    # LocalExchange's market maker (the owner): tokens for every market, plus collateral to buy them back.
    split_total = cfg.maker_tokens_per_market * len(markets)
    wrap(owner, owner.address, split_total + cfg.maker_collateral)
    send(w3, owner, collateral.functions.approve(_checksum(ctf_address), MAX_UINT256))
    send(w3, owner, collateral.functions.approve(_checksum(exchange_address), MAX_UINT256))
    send(w3, owner, ctf.functions.setApprovalForAll(_checksum(exchange_address), True))
    partition = [ctf_ids.YES_INDEX_SET, ctf_ids.NO_INDEX_SET]
    for market in markets:
        send(
            w3,
            owner,
            ctf.functions.splitPosition(
                _checksum(collateral_address),
                bytes(32),
                market.condition_id,
                partition,
                cfg.maker_tokens_per_market,
            ),
        )
        for token_id in market.token_ids:
            send(w3, owner, exchange.functions.depositTokens(token_id, cfg.maker_tokens_per_market))
    send(w3, owner, exchange.functions.depositCollateral(cfg.maker_collateral))

    # Deposit wallets: the CLOB's market maker and every leader trade through one, as on Polygon.
    deposit_wallets: dict[str, str] = {}
    market_maker = layout.market_maker
    for account in (market_maker, *layout.leaders):
        wallet = polymarket.create_deposit_wallet(w3, pm, account)
        polymarket.approve_for_trading(w3, pm, account, wallet)
        deposit_wallets[account.address.lower()] = wallet.lower()
    mm_wallet = deposit_wallets[market_maker.address.lower()]
    mm_split = cfg.market_maker_tokens_per_market * len(markets)
    wrap(market_maker, mm_wallet, mm_split + cfg.market_maker_collateral)
    split_calls: list[tuple[str, int, bytes]] = [
        (collateral_address, 0, _calldata(collateral.functions.approve(_checksum(ctf_address), MAX_UINT256)))
    ]
    for market in markets:
        split_calls.append(
            (
                ctf_address,
                0,
                _calldata(
                    ctf.functions.splitPosition(
                        _checksum(collateral_address),
                        bytes(32),
                        market.condition_id,
                        partition,
                        cfg.market_maker_tokens_per_market,
                    )
                ),
            )
        )
    polymarket.wallet_execute(w3, market_maker, mm_wallet, split_calls)

    for worker in layout.fleet:
        wrap(worker, worker.address, cfg.fleet_float)
        for spender in (executor, _checksum(exchange_address)):
            send(w3, worker, collateral.functions.approve(spender, MAX_UINT256))
            send(w3, worker, ctf.functions.setApprovalForAll(spender, True))
    for leader in layout.leaders:
        wrap(leader, deposit_wallets[leader.address.lower()], cfg.leader_wallet_collateral)
        wrap(leader, leader.address, cfg.leader_collateral)
        send(w3, leader, collateral.functions.approve(_checksum(exchange_address), MAX_UINT256))
        send(w3, leader, ctf.functions.setApprovalForAll(_checksum(exchange_address), True))
    factory = contract(w3, "ProxyFactory", core.proxy_factory)
    for follower in layout.followers:
        wrap(follower, follower.address, cfg.follower_collateral)
        send(w3, follower, factory.functions.createProxy(cfg.proxy_max_per_trade, cfg.proxy_max_per_day))
        proxy_address = factory.functions.predict(follower.address).call()
        proxy = contract(w3, "Proxy", proxy_address)
        send(w3, follower, collateral.functions.approve(proxy_address, cfg.follower_deposit))
        send(w3, follower, proxy.functions.deposit(_checksum(collateral_address), cfg.follower_deposit))

    # Last, so that no address or token id above moves: the collateral adapters and their own markets.
    extra = adapters.deploy_local_adapters(w3, owner, pm)

    # The fleet's deposit wallets (CLOB_SIGNATURE_TYPE=3): each worker's own trading wallet, approved for both
    # V2 exchanges and the Executor (which pushes from it), and registered on the Executor as that worker's
    # wallet (pulls may go to it, pushes may spend from it). Empty: a copy's money comes from the Proxies.
    executor_contract = contract(w3, "Executor", core.executor)
    # Positions may be over USDC.e or the neg-risk wrapper too: the redeemer names them (docs/seams.md).
    send(w3, owner, executor_contract.functions.setToken(_checksum(pm.usdce), KIND_COLLATERAL))
    send(w3, owner, executor_contract.functions.setToken(_checksum(extra.wrapped_collateral), KIND_WRAPPED))
    for worker in layout.fleet:
        wallet = polymarket.create_deposit_wallet(w3, pm, worker)
        polymarket.approve_for_trading(w3, pm, worker, wallet)
        polymarket.wallet_execute(
            w3,
            worker,
            wallet,
            [
                (collateral_address, 0, _calldata(collateral.functions.approve(executor, MAX_UINT256))),
                (ctf_address, 0, _calldata(ctf.functions.setApprovalForAll(executor, True))),
            ],
        )
        send(w3, owner, executor_contract.functions.setWorkerWallet(worker.address, _checksum(wallet)))
        deposit_wallets[worker.address.lower()] = wallet.lower()
    send(w3, owner, executor_contract.functions.finishSetup())

    return Deployment(
        chain_id=w3.eth.chain_id,
        rpc_url=rpc_url,
        ws_url=ws_url,
        executor_from_block=from_block,
        contracts=Contracts(
            executor=core.executor,
            proxy_factory=core.proxy_factory,
            treasury=core.treasury,
            collateral=collateral_address.lower(),
            ctf=ctf_address,
            local_exchange=exchange_address,
            usdce=pm.usdce,
            pusd=pm.pusd,
            onramp=pm.onramp,
            offramp=pm.offramp,
            ctf_exchange_v2=pm.exchange,
            neg_risk_exchange_v2=pm.neg_risk_exchange,
            deposit_wallet_factory=pm.wallet_factory,
            collateral_adapter=extra.collateral_adapter,
            neg_risk_adapter=extra.neg_risk_adapter,
            neg_risk_collateral_adapter=extra.neg_risk_collateral_adapter,
        ),
        proxy_init_code_hash=core.proxy_init_code_hash,
        accounts=Accounts(
            owner=owner.address.lower(),
            fleet=[a.address.lower() for a in layout.fleet],
            leaders=[a.address.lower() for a in layout.leaders],
            followers=[a.address.lower() for a in layout.followers],
            operator=layout.operator.address.lower(),
            market_maker=market_maker.address.lower(),
            deposit_wallets=deposit_wallets,
        ),
        markets=markets,
        deposit_wallet_init_code_hash=pm.wallet_init_code_hash,
    )


def _calldata(call: ContractFunction) -> bytes:
    """The ABI-encoded calldata of a web3 contract call (for a deposit wallet's `execute`)."""
    return bytes.fromhex(call._encode_transaction_data()[2:])
