"""What the local CLOB needs to know of the chain it serves: contracts, markets, its two accounts.

Built from `deployment.json` (`world_from_deployment`) or directly by tests. The operator's and the market
maker's keys are derived in-process from the standard test mnemonic (indices 101 and 102) and never leave it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from eth_account.signers.local import LocalAccount

from polyhunter.chain.accounts import MARKET_MAKER_INDEX, OPERATOR_INDEX, derive
from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ConfigError

VALID_TICKS = (Decimal("0.1"), Decimal("0.01"), Decimal("0.001"), Decimal("0.0001"))


@dataclass
class ClobMarket:
    """One binary market the CLOB trades; `tick_size` may change live (the admin endpoint)."""

    condition_id: str
    yes_token_id: int
    no_token_id: int
    neg_risk: bool = False
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal("5")
    taker_fee_rate_bps: int = 0
    fee_exponent: int = 1
    question_id: str = ""
    slug: str = ""

    def __post_init__(self) -> None:
        self.condition_id = self.condition_id.lower()
        if self.tick_size not in VALID_TICKS:
            raise ConfigError(
                f"market {self.condition_id}: tick size {self.tick_size} is not one of {VALID_TICKS}"
            )
        if not 0 <= self.taker_fee_rate_bps <= 10_000:
            raise ConfigError(
                f"market {self.condition_id}: taker fee {self.taker_fee_rate_bps} bps out of range"
            )

    @property
    def token_ids(self) -> tuple[int, int]:
        return (self.yes_token_id, self.no_token_id)

    def complement(self, token_id: int) -> int:
        return self.no_token_id if token_id == self.yes_token_id else self.yes_token_id

    def outcome(self, token_id: int) -> tuple[str, int]:
        return ("Yes", 0) if token_id == self.yes_token_id else ("No", 1)


@dataclass
class ClobWorld:
    """Addresses (lower-case) and markets; accounts come from the test mnemonic."""

    chain_id: int
    rpc_url: str
    pusd: str
    ctf: str
    exchange: str
    neg_risk_exchange: str
    wallet_factory: str
    markets: list[ClobMarket] = field(default_factory=list)
    market_maker_wallet: str | None = None
    operator_index: int = OPERATOR_INDEX
    market_maker_index: int = MARKET_MAKER_INDEX

    def operator(self) -> LocalAccount:
        return derive(self.operator_index)

    def market_maker(self) -> LocalAccount:
        return derive(self.market_maker_index)

    def exchange_for(self, market: ClobMarket) -> str:
        return self.neg_risk_exchange if market.neg_risk else self.exchange


def _decimal(value: str, what: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"{what} {value!r} is not a decimal number") from None


def world_from_deployment(deployment: Deployment) -> ClobWorld:
    """The CLOB's view of a deployment; ConfigError when the V2 contracts are missing."""
    c = deployment.contracts
    needed = {
        "pusd": c.pusd,
        "ctf_exchange_v2": c.ctf_exchange_v2,
        "neg_risk_exchange_v2": c.neg_risk_exchange_v2,
        "deposit_wallet_factory": c.deposit_wallet_factory,
    }
    missing = [name for name, value in needed.items() if not value]
    if missing:
        raise ConfigError(f"deployment has no Polymarket V2 contracts: missing {', '.join(missing)}")
    markets = [
        ClobMarket(
            condition_id=m.condition_id,
            yes_token_id=m.yes_token_id,
            no_token_id=m.no_token_id,
            neg_risk=m.neg_risk,
            tick_size=_decimal(m.tick_size, "tick_size"),
            min_order_size=_decimal(m.min_order_size, "min_order_size"),
            taker_fee_rate_bps=m.taker_fee_rate_bps,
            question_id=m.question_id,
        )
        for m in deployment.markets
    ]
    mm = deployment.accounts.market_maker
    return ClobWorld(
        chain_id=deployment.chain_id,
        rpc_url=deployment.rpc_url,
        pusd=str(c.pusd),
        ctf=c.ctf,
        exchange=str(c.ctf_exchange_v2),
        neg_risk_exchange=str(c.neg_risk_exchange_v2),
        wallet_factory=str(c.deposit_wallet_factory),
        markets=markets,
        market_maker_wallet=deployment.accounts.deposit_wallets.get(mm) if mm else None,
    )
