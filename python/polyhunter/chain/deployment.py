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
    """A binary CTF condition and its two outcome tokens."""

    condition_id: str
    question_id: str
    oracle: str
    yes_token_id: int
    no_token_id: int

    def to_json(self) -> dict[str, str]:
        return {
            "condition_id": self.condition_id,
            "question_id": self.question_id,
            "oracle": self.oracle,
            "yes_token_id": str(self.yes_token_id),
            "no_token_id": str(self.no_token_id),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Market:
        return cls(
            condition_id=data["condition_id"],
            question_id=data["question_id"],
            oracle=data["oracle"].lower(),
            yes_token_id=int(data["yes_token_id"]),
            no_token_id=int(data["no_token_id"]),
        )


@dataclass(frozen=True)
class Contracts:
    """Contract addresses; `local_exchange` exists on local chains only."""

    executor: str
    proxy_factory: str
    treasury: str
    collateral: str
    ctf: str
    local_exchange: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {
            "executor": self.executor,
            "proxy_factory": self.proxy_factory,
            "treasury": self.treasury,
            "collateral": self.collateral,
            "ctf": self.ctf,
        }
        if self.local_exchange is not None:
            out["local_exchange"] = self.local_exchange
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Contracts:
        exchange = data.get("local_exchange")
        return cls(
            executor=data["executor"].lower(),
            proxy_factory=data["proxy_factory"].lower(),
            treasury=data["treasury"].lower(),
            collateral=data["collateral"].lower(),
            ctf=data["ctf"].lower(),
            local_exchange=exchange.lower() if exchange else None,
        )


@dataclass(frozen=True)
class Accounts:
    """Addresses by role. On a real chain only `owner` and `fleet` are set."""

    owner: str
    fleet: list[str] = field(default_factory=list)
    leaders: list[str] = field(default_factory=list)
    followers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "fleet": self.fleet,
            "leaders": self.leaders,
            "followers": self.followers,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Accounts:
        return cls(
            owner=data["owner"].lower(),
            fleet=[a.lower() for a in data.get("fleet", [])],
            leaders=[a.lower() for a in data.get("leaders", [])],
            followers=[a.lower() for a in data.get("followers", [])],
        )


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

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "rpc_url": self.rpc_url,
            "ws_url": self.ws_url,
            "contracts": self.contracts.to_json(),
            "proxy_init_code_hash": self.proxy_init_code_hash,
            "markets": [m.to_json() for m in self.markets],
            "accounts": self.accounts.to_json(),
        }

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
