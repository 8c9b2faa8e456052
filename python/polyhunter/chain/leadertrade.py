"""A leader's trade on the local world, made on demand (`polyhunter chain trade`): a FOK order on the local
CLOB from the leader's deposit wallet, settled on chain by the operator, so a running supervisor copies it.

Local chains only: the leader's key is derived from the public test mnemonic. Amounts follow the CLOB's
market-order precision (a BUY spends whole cents for shares with at most 4 decimals; a SELL gives shares in
whole hundredths for collateral with at most 4 decimals); the worst price accepted is the given one, else
the one the book must be walked to for the size. Amounts are integer base units, prices exact `Decimal`s.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ConfigError, InvalidInputError
from polyhunter.units import format_usd

Side = Literal["BUY", "SELL"]
UNIT = 1_000_000
CENT = 10_000  # base units of $0.01 (or 0.01 share)
FOUR_DECIMALS = 100  # base units of 0.0001
LOCAL_CHAIN_IDS = frozenset({31337, 1337})


@dataclass(frozen=True)
class Level:
    price: Decimal
    size: int
    """Shares at this price, base units."""


def parse_levels(raw: list[dict[str, Any]]) -> list[Level]:
    """A `/book` side (worst first, as the CLOB sorts it) → levels, best first."""
    levels = [Level(Decimal(str(x["price"])), int(Decimal(str(x["size"])) * UNIT)) for x in raw]
    return levels[::-1]


def worst_price(side: Side, amount: int, levels: list[Level]) -> Decimal:
    """The price the book must be walked to for `amount` (BUY: collateral to spend; SELL: shares to give),
    `levels` best first; `InvalidInputError` when the whole side holds less."""
    left = Decimal(amount)
    for level in levels:
        # What this level absorbs, in the amount's own unit.
        depth = Decimal(level.size) * level.price if side == "BUY" else Decimal(level.size)
        if left <= depth:
            return level.price
        left -= depth
    what, unit = ("asks", "USD") if side == "BUY" else ("bids", "shares")
    total = int(Decimal(amount) - left)
    raise InvalidInputError(
        f"the book's {what} hold only {format_usd(total)} {unit} of the {format_usd(amount)} asked for"
    )


def order_amounts(side: Side, amount: int, price: Decimal) -> tuple[int, int]:
    """(maker amount, taker amount) of a market order for `amount` at worst `price`, in base units."""
    if not Decimal(0) < price < Decimal(1):
        raise InvalidInputError(f"a price is strictly between 0 and 1, got {price}")
    if amount <= 0 or amount % CENT:
        what = "USD to spend" if side == "BUY" else "shares to sell"
        raise InvalidInputError(
            f"the {what} must be above zero in whole hundredths, got {Decimal(amount) / UNIT}"
        )
    other = Decimal(amount) / price if side == "BUY" else Decimal(amount) * price
    taker = int((other / FOUR_DECIMALS).to_integral_value(rounding=ROUND_DOWN)) * FOUR_DECIMALS
    if taker <= 0:
        raise InvalidInputError(f"{format_usd(amount)} at {price} rounds to nothing")
    return amount, taker


@dataclass(frozen=True)
class Fill:
    """One settled trade of the leader's order, as the CLOB reports it."""

    trade_id: str
    price: str
    size: str
    status: str
    tx_hash: str

    def to_json(self) -> dict[str, str]:
        return {
            "trade_id": self.trade_id,
            "price": self.price,
            "size": self.size,
            "status": self.status,
            "tx_hash": self.tx_hash,
        }


@dataclass(frozen=True)
class LeaderTradeResult:
    leader: str
    wallet: str
    side: Side
    token_id: int
    maker_amount: int
    taker_amount: int
    price: Decimal
    order_id: str
    status: str
    fills: tuple[Fill, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "wallet": self.wallet,
            "side": self.side,
            "token_id": str(self.token_id),
            "maker_amount": self.maker_amount,
            "taker_amount": self.taker_amount,
            "worst_price": str(self.price),
            "order_id": self.order_id,
            "status": self.status,
            "fills": [f.to_json() for f in self.fills],
        }


def local_leader(deployment: Deployment, index: int) -> tuple[Any, str]:
    """(account, deposit wallet) of leader `index` of a local world; `ConfigError` off the local chain."""
    from polyhunter.chain.accounts import LEADER_BASE, derive

    if deployment.chain_id not in LOCAL_CHAIN_IDS or deployment.contracts.local_exchange is None:
        raise ConfigError(
            f"deployment.json describes chain {deployment.chain_id}, not a local world: `chain trade` only "
            "makes a test leader trade on the chain `polyhunter chain up` started"
        )
    if not deployment.clob_url:
        raise ConfigError("deployment.json has no local CLOB (start the world with `polyhunter chain up`)")
    leaders = deployment.accounts.leaders
    if not 0 <= index < len(leaders):
        raise InvalidInputError(
            f"--leader {index}: this world has {len(leaders)} leader(s), 0 to {len(leaders) - 1}"
        )
    account = derive(LEADER_BASE + index)
    if str(account.address).lower() != leaders[index]:
        raise ConfigError(f"leader {index} of deployment.json ({leaders[index]}) is not a test account")
    return account, deployment.accounts.deposit_wallet(leaders[index])


def read_book(clob_url: str, token_id: int) -> dict[str, Any]:
    """GET /book of the local CLOB (loopback)."""
    url = f"{clob_url.rstrip('/')}/book?token_id={token_id}"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - the local CLOB's URL
            book: dict[str, Any] = json.loads(reply.read())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the local CLOB at {clob_url} does not answer /book: {exc}") from None
    return book


async def make_leader_trade(
    deployment: Deployment,
    leader_index: int,
    side: Side,
    token_id: int,
    amount: int,
    price: Decimal | None = None,
    timeout_s: float = 60,
) -> LeaderTradeResult:
    """Posts leader `leader_index`'s FOK order for `amount` (BUY: USD base units; SELL: share base units)
    and waits until its trades are mined."""
    from polyhunter._core import Signer
    from polyhunter.chain.clobtrader import ClobTrader

    account, wallet = local_leader(deployment, leader_index)
    assert deployment.clob_url is not None
    if price is None:
        book = read_book(deployment.clob_url, token_id)
        price = worst_price(side, amount, parse_levels(book["asks" if side == "BUY" else "bids"]))
    maker, taker = order_amounts(side, amount, price)
    exchanges = {t: deployment.exchange_for(m) for m in deployment.markets for t in m.token_ids}
    if token_id not in exchanges:
        raise InvalidInputError(f"token {token_id} is not one of deployment.json's markets")
    signer = Signer(bytes(account.key))
    async with ClobTrader(
        deployment.clob_url, deployment.chain_id, signer, wallet=wallet, exchanges=exchanges
    ) as trader:
        await trader.refresh_balance(token_id if side == "SELL" else None)
        reply = await trader.post(trader.sign(token_id, side, maker, taker), "FOK")
        records = await trader.wait_trades(list(reply.get("tradeIDs") or []), timeout_s=timeout_s)
    fills = tuple(
        Fill(
            str(r.get("id", "")),
            str(r.get("price", "")),
            str(r.get("size", "")),
            str(r.get("status", "")),
            str(r.get("transaction_hash", "")),
        )
        for r in records
    )
    return LeaderTradeResult(
        leader=str(account.address).lower(),
        wallet=wallet,
        side=side,
        token_id=token_id,
        maker_amount=maker,
        taker_amount=taker,
        price=price,
        order_id=str(reply.get("orderID", "")),
        status=str(reply.get("status", "")),
        fills=fills,
    )
