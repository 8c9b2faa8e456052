"""`deployment.json`: where everything is on a chain (docs/seams.md fixes the schema).

Written by `polyhunter chain up` and `polyhunter deploy` to `$POLYHUNTER_HOME/deployment.json`; read by
the supervisor, the demo and the tests. Addresses are lower-case; token ids are decimal strings in JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyhunter.errors import ConfigError
from polyhunter.home import polyhunter_home

DEPLOYMENT_FILE = "deployment.json"


@dataclass(frozen=True)
class Market:
    """A binary CTF condition and its two outcome tokens, with the CLOB's trading rules for it.

    `tick_size` and `min_order_size` are decimal strings as the CLOB publishes them; `taker_fee_rate_bps` is
    the market's taker fee rate (0 = no fee); `neg_risk` says which V2 exchange trades it.
    """

    condition_id: str
    question_id: str
    oracle: str
    yes_token_id: int
    no_token_id: int
    neg_risk: bool = False
    tick_size: str = "0.01"
    min_order_size: str = "5"
    taker_fee_rate_bps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "condition_id": self.condition_id,
            "question_id": self.question_id,
            "oracle": self.oracle,
            "yes_token_id": str(self.yes_token_id),
            "no_token_id": str(self.no_token_id),
            "neg_risk": self.neg_risk,
            "tick_size": self.tick_size,
            "min_order_size": self.min_order_size,
            "taker_fee_rate_bps": self.taker_fee_rate_bps,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Market:
        return cls(
            condition_id=data["condition_id"],
            question_id=data["question_id"],
            oracle=data["oracle"].lower(),
            yes_token_id=int(data["yes_token_id"]),
            no_token_id=int(data["no_token_id"]),
            neg_risk=bool(data.get("neg_risk", False)),
            tick_size=str(data.get("tick_size", "0.01")),
            min_order_size=str(data.get("min_order_size", "5")),
            taker_fee_rate_bps=int(data.get("taker_fee_rate_bps", 0)),
        )

    @property
    def token_ids(self) -> tuple[int, int]:
        return (self.yes_token_id, self.no_token_id)


# Optional contracts: present where the chain has them (the local world has all of them).
_OPTIONAL_CONTRACTS = (
    "local_exchange",
    "usdce",
    "pusd",
    "onramp",
    "offramp",
    "ctf_exchange_v2",
    "neg_risk_exchange_v2",
    "deposit_wallet_factory",
    "collateral_adapter",
    "neg_risk_adapter",
    "neg_risk_collateral_adapter",
)


@dataclass(frozen=True)
class Contracts:
    """Contract addresses. `collateral` is what Proxies hold and the Executor allowlists (pUSD on the local
    world). The rest is optional: `local_exchange` (local chains only), Polymarket V2's collateral (`usdce`,
    `pusd`, `onramp`, `offramp`), its two V2 exchanges, the deposit-wallet factory, and the adapters that
    split, merge, redeem (and convert) with pUSD: `collateral_adapter` (positions over USDC.e),
    `neg_risk_adapter` (positions over its wrapped USDC.e) and `neg_risk_collateral_adapter`."""

    executor: str
    proxy_factory: str
    treasury: str
    collateral: str
    ctf: str
    local_exchange: str | None = None
    usdce: str | None = None
    pusd: str | None = None
    onramp: str | None = None
    offramp: str | None = None
    ctf_exchange_v2: str | None = None
    neg_risk_exchange_v2: str | None = None
    deposit_wallet_factory: str | None = None
    collateral_adapter: str | None = None
    neg_risk_adapter: str | None = None
    neg_risk_collateral_adapter: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {
            "executor": self.executor,
            "proxy_factory": self.proxy_factory,
            "treasury": self.treasury,
            "collateral": self.collateral,
            "ctf": self.ctf,
        }
        for name in _OPTIONAL_CONTRACTS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Contracts:
        optional = {name: data[name].lower() for name in _OPTIONAL_CONTRACTS if data.get(name)}
        return cls(
            executor=data["executor"].lower(),
            proxy_factory=data["proxy_factory"].lower(),
            treasury=data["treasury"].lower(),
            collateral=data["collateral"].lower(),
            ctf=data["ctf"].lower(),
            **optional,
        )

    @property
    def v2_exchanges(self) -> list[str]:
        """The V2 exchanges deployed here (standard, then neg-risk)."""
        return [a for a in (self.ctf_exchange_v2, self.neg_risk_exchange_v2) if a is not None]


@dataclass(frozen=True)
class Accounts:
    """Addresses by role. On a real chain only `owner` and `fleet` are set.

    The local world adds Polymarket's roles: the CLOB's `operator` (settles matches) and `market_maker`, and
    `deposit_wallets`, each account's ERC-1271 deposit wallet keyed by its owner EOA. A leader trades through
    its deposit wallet, so the address a follower follows is the wallet (the orders' maker), not the key.
    """

    owner: str
    fleet: list[str] = field(default_factory=list)
    leaders: list[str] = field(default_factory=list)
    followers: list[str] = field(default_factory=list)
    operator: str | None = None
    market_maker: str | None = None
    deposit_wallets: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "owner": self.owner,
            "fleet": self.fleet,
            "leaders": self.leaders,
            "followers": self.followers,
        }
        if self.operator is not None:
            out["operator"] = self.operator
        if self.market_maker is not None:
            out["market_maker"] = self.market_maker
        if self.deposit_wallets:
            out["deposit_wallets"] = self.deposit_wallets
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Accounts:
        operator = data.get("operator")
        market_maker = data.get("market_maker")
        return cls(
            owner=data["owner"].lower(),
            fleet=[a.lower() for a in data.get("fleet", [])],
            leaders=[a.lower() for a in data.get("leaders", [])],
            followers=[a.lower() for a in data.get("followers", [])],
            operator=operator.lower() if operator else None,
            market_maker=market_maker.lower() if market_maker else None,
            deposit_wallets={k.lower(): v.lower() for k, v in data.get("deposit_wallets", {}).items()},
        )

    def deposit_wallet(self, owner: str) -> str:
        """`owner`'s deposit wallet, or ConfigError."""
        try:
            return self.deposit_wallets[owner.lower()]
        except KeyError:
            raise ConfigError(f"{owner} has no deposit wallet in this deployment") from None


@dataclass(frozen=True)
class Deployment:
    """Everything `deployment.json` holds."""

    chain_id: int
    rpc_url: str
    ws_url: str
    contracts: Contracts
    proxy_init_code_hash: str
    accounts: Accounts
    markets: list[Market] = field(default_factory=list)
    deposit_wallet_init_code_hash: str | None = None
    clob_url: str | None = None
    rtds_url: str | None = None
    executor_from_block: int | None = None
    """A block at or before the Executor's creation (the head when `deploy` began): its events are all at or
    after it, so the admin commands read them from there (None: found from the chain's code history)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chain_id": self.chain_id,
            "rpc_url": self.rpc_url,
            "ws_url": self.ws_url,
            "contracts": self.contracts.to_json(),
            "proxy_init_code_hash": self.proxy_init_code_hash,
            "markets": [m.to_json() for m in self.markets],
            "accounts": self.accounts.to_json(),
        }
        for name in ("deposit_wallet_init_code_hash", "clob_url", "rtds_url", "executor_from_block"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def market_of(self, token_id: int) -> Market:
        """The market trading `token_id`, or ConfigError."""
        for market in self.markets:
            if token_id in market.token_ids:
                return market
        raise ConfigError(f"token {token_id} is not traded on any market of this deployment")

    def exchange_for(self, market: Market) -> str:
        """The V2 exchange that trades `market` (neg-risk markets trade on the neg-risk exchange)."""
        exchange = self.contracts.neg_risk_exchange_v2 if market.neg_risk else self.contracts.ctf_exchange_v2
        if exchange is None:
            raise ConfigError("this deployment has no V2 exchange for the market")
        return exchange

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        try:
            return cls(
                chain_id=int(data["chain_id"]),
                rpc_url=data["rpc_url"],
                ws_url=data["ws_url"],
                contracts=Contracts.from_json(data["contracts"]),
                proxy_init_code_hash=data["proxy_init_code_hash"],
                accounts=Accounts.from_json(data["accounts"]),
                markets=[Market.from_json(m) for m in data.get("markets", [])],
                deposit_wallet_init_code_hash=data.get("deposit_wallet_init_code_hash"),
                clob_url=data.get("clob_url"),
                rtds_url=data.get("rtds_url"),
                executor_from_block=(
                    None if data.get("executor_from_block") is None else int(data["executor_from_block"])
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"deployment file is malformed: {exc!r}") from exc

    def save(self, path: Path | None = None) -> Path:
        """Writes the file (default `$POLYHUNTER_HOME/deployment.json`) and returns its path."""
        target = path or default_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temporary.replace(target)  # readers never see half a file
        return target

    @classmethod
    def load(cls, path: Path | None = None) -> Deployment:
        source = path or default_path()
        try:
            data = json.loads(source.read_text())
        except FileNotFoundError:
            raise ConfigError(f"no deployment file at {source} (polyhunter chain up, or deploy)") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"deployment file {source} is not JSON: {exc}") from exc
        return cls.from_json(data)


def default_path() -> Path:
    """`$POLYHUNTER_HOME/deployment.json`."""
    return polyhunter_home() / DEPLOYMENT_FILE
