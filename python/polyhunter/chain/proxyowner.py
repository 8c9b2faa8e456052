"""What a follower does to their own Proxy with their key: create it, deposit (wrapping USDC.e into pUSD
first on V2), withdraw, set its limits, pause it, and read it back.

Tooling on web3.py (signed locally by eth-account, each transaction waited for): the same calls work on the
local chain and on Polygon. Addresses come from the settings first, then `deployment.json` (only when it
describes the chain the RPC serves), then, on Polygon, Polymarket's published table. Every amount is an
integer of 6-decimal base units; a balance too small is refused before anything is signed, so a failed
command never leaves half a deposit behind (except a wrap that succeeded: its pUSD stays with the owner).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from polyhunter.chain import polygon
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.tx import contract, send
from polyhunter.errors import ChainError, ConfigError, InvalidInputError
from polyhunter.settings import Settings, mask_url
from polyhunter.units import format_usd

MAX_UINT128 = 2**128 - 1


class OwnerKey:
    """The follower's key, which signs every write; its repr and str name only the address."""

    __slots__ = ("_account",)

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> str:
        return str(self._account.address).lower()

    @property
    def account(self) -> LocalAccount:
        return self._account

    def __repr__(self) -> str:
        return f"OwnerKey({self.address})"

    __str__ = __repr__


@dataclass(frozen=True)
class ProxyWorld:
    """The contracts a follower's Proxy lives among on one chain (lower-case 0x hex)."""

    chain_id: int
    rpc_url: str = field(repr=False)
    factory: str
    collateral: str
    ctf: str
    usdce: str | None = None
    onramp: str | None = None
    token_ids: tuple[int, ...] = ()
    """Outcome tokens whose balances `show` reads (the deployment's markets)."""


@dataclass(frozen=True)
class ProxyState:
    """A Proxy as the chain shows it, and what its owner holds beside it (base units)."""

    owner: str
    proxy: str
    deployed: bool
    collateral: int = 0
    owner_collateral: int = 0
    owner_usdce: int | None = None
    positions: dict[int, int] = field(default_factory=dict)
    max_per_trade: int | None = None
    max_per_day: int | None = None
    remaining_today: int | None = None
    paused: bool | None = None
    executor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "proxy": self.proxy,
            "deployed": self.deployed,
            "executor": self.executor,
            "collateral": self.collateral,
            "owner_collateral": self.owner_collateral,
            "owner_usdce": self.owner_usdce,
            "positions": [{"token_id": str(t), "shares": s} for t, s in sorted(self.positions.items())],
            "limits": {
                "max_per_trade": self.max_per_trade,
                "max_per_day": self.max_per_day,
                "remaining_today": self.remaining_today,
            },
            "paused": self.paused,
        }

    def lines(self) -> list[str]:
        """The state in a few lines of text."""
        out = [f"owner {self.owner}", f"proxy {self.proxy}{'' if self.deployed else ' (not created yet)'}"]
        usdce = "" if self.owner_usdce is None else f", {format_usd(self.owner_usdce)} USDC.e"
        if self.deployed:
            out.append(f"  executor {self.executor}")
            out.append(f"  collateral {format_usd(self.collateral)} USD")
            for token_id, shares in sorted(self.positions.items()):
                out.append(f"  position {token_id}: {format_usd(shares)} shares")
            assert self.max_per_trade is not None
            assert self.max_per_day is not None
            out.append(
                f"  limits: max per trade {format_usd(self.max_per_trade)}, max per day "
                f"{format_usd(self.max_per_day)} ({format_usd(self.remaining_today or 0)} left today)"
            )
            out.append(f"  paused: {'yes' if self.paused else 'no'}")
        out.append(f"owner's wallet: {format_usd(self.owner_collateral)} collateral{usdce}")
        return out


@dataclass
class ProxyOwner:
    """One follower's handle on their Proxy: reads with any address, writes with their `OwnerKey`."""

    w3: Web3
    world: ProxyWorld
    owner: str
    key: OwnerKey | None = None
    txs: list[tuple[str, str]] = field(default_factory=list)
    """(step, tx hash) of every transaction sent, in order."""

    @property
    def factory(self) -> Contract:
        return contract(self.w3, "ProxyFactory", self.world.factory)

    def proxy_address(self) -> str:
        predicted = self.factory.functions.predict(Web3.to_checksum_address(self.owner)).call()
        return str(predicted).lower()

    def _proxy(self) -> Contract:
        return contract(self.w3, "Proxy", self.proxy_address())

    def _erc20(self, token: str) -> Contract:
        # Only balanceOf / approve are called: the mock's ABI is the ERC-20 one.
        return contract(self.w3, "MockCollateral", token)

    def _deployed(self, address: str) -> bool:
        return len(self.w3.eth.get_code(Web3.to_checksum_address(address))) > 0

    def _balance(self, token: str, holder: str) -> int:
        value: int = self._erc20(token).functions.balanceOf(Web3.to_checksum_address(holder)).call()
        return value

    def state(self, extra_token_ids: tuple[int, ...] = ()) -> ProxyState:
        """The Proxy's balances, positions, limits and pause flag, and the owner's own balances."""
        proxy = self.proxy_address()
        owner_usdce = self._balance(self.world.usdce, self.owner) if self.world.usdce else None
        owner_collateral = self._balance(self.world.collateral, self.owner)
        if not self._deployed(proxy):
            return ProxyState(self.owner, proxy, False, 0, owner_collateral, owner_usdce)
        handle = self._proxy()
        ids = list(dict.fromkeys((*self.world.token_ids, *extra_token_ids)))
        positions: dict[int, int] = {}
        if ids:
            ctf = contract(self.w3, "ConditionalTokens", self.world.ctf)
            holders = [Web3.to_checksum_address(proxy)] * len(ids)
            balances = ctf.functions.balanceOfBatch(holders, ids).call()
            positions = {t: int(b) for t, b in zip(ids, balances, strict=True) if b}
        return ProxyState(
            owner=self.owner,
            proxy=proxy,
            deployed=True,
            collateral=self._balance(self.world.collateral, proxy),
            owner_collateral=owner_collateral,
            owner_usdce=owner_usdce,
            positions=positions,
            max_per_trade=int(handle.functions.maxPerTrade().call()),
            max_per_day=int(handle.functions.maxPerDay().call()),
            remaining_today=int(handle.functions.remainingToday().call()),
            paused=bool(handle.functions.paused().call()),
            executor=str(handle.functions.executor().call()).lower(),
        )

    # ------------------------------------------------------------------ writes

    def _signer(self) -> LocalAccount:
        if self.key is None or self.key.address != self.owner:
            raise ConfigError("writing to a Proxy needs its owner's key")
        return self.key.account

    def _send(self, step: str, call: Any) -> str:
        try:
            receipt = send(self.w3, self._signer(), call, context=step)
        except Web3Exception as exc:
            raise ChainError(f"{step}: {type(exc).__name__}: {exc}") from None
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        self.txs.append((step, tx_hash))
        return tx_hash

    def _require_proxy(self) -> Contract:
        proxy = self.proxy_address()
        if not self._deployed(proxy):
            raise InvalidInputError(f"{self.owner} has no Proxy yet (at {proxy}): `polyhunter proxy create`")
        return self._proxy()

    def create(self, max_per_trade: int, max_per_day: int) -> str:
        """Creates the owner's Proxy with these limits; refused if it exists."""
        _check_limits(max_per_trade, max_per_day)
        proxy = self.proxy_address()
        if self._deployed(proxy):
            raise InvalidInputError(
                f"{self.owner} already has a Proxy at {proxy} "
                "(change its limits with `polyhunter proxy limits`)"
            )
        self._send("create proxy", self.factory.functions.createProxy(max_per_trade, max_per_day))
        return proxy

    def wrap(self, amount: int) -> None:
        """Wraps `amount` of the owner's USDC.e into pUSD for the owner, through the onramp."""
        if self.world.usdce is None or self.world.onramp is None:
            raise ConfigError(
                f"chain {self.world.chain_id} has no USDC.e onramp known (deployment.json or Polygon): "
                "deposit the collateral as it is, without --wrap"
            )
        if self.world.collateral == self.world.usdce:
            raise ConfigError("the collateral is USDC.e itself (V1): deposit without --wrap")
        held = self._balance(self.world.usdce, self.owner)
        if held < amount:
            raise InvalidInputError(
                f"{self.owner} holds {format_usd(held)} USDC.e, less than the {format_usd(amount)} to wrap"
            )
        onramp = Web3.to_checksum_address(self.world.onramp)
        self._send(
            "approve USDC.e to the onramp", self._erc20(self.world.usdce).functions.approve(onramp, amount)
        )
        handle = contract(self.w3, "CollateralOnramp", self.world.onramp)
        owner = Web3.to_checksum_address(self.owner)
        self._send(
            "wrap USDC.e into pUSD",
            handle.functions.wrap(Web3.to_checksum_address(self.world.usdce), owner, amount),
        )

    def deposit(self, amount: int, *, wrap: bool = False) -> None:
        """Moves `amount` of collateral from the owner into the Proxy (wrapping USDC.e first if asked)."""
        _check_positive(amount, "deposit")
        proxy = self._require_proxy()
        if not wrap:
            self._require_balance(amount)
        else:
            self.wrap(amount)
            self._require_balance(amount)
        collateral = Web3.to_checksum_address(self.world.collateral)
        self._send(
            "approve the Proxy", self._erc20(self.world.collateral).functions.approve(proxy.address, amount)
        )
        self._send("deposit", proxy.functions.deposit(collateral, amount))

    def _require_balance(self, amount: int) -> None:
        held = self._balance(self.world.collateral, self.owner)
        if held < amount:
            raise InvalidInputError(
                f"{self.owner} holds {format_usd(held)} collateral, less than the {format_usd(amount)} to "
                "deposit (with USDC.e, add --wrap)"
            )

    def withdraw(self, amount: int | None, to: str, token_id: int | None = None) -> int:
        """Sends `amount` (None: everything) of collateral, or of outcome token `token_id`, from the Proxy
        to `to`; returns the amount sent."""
        proxy = self._require_proxy()
        recipient = Web3.to_checksum_address(to)
        if token_id is None:
            held = self._balance(self.world.collateral, proxy.address)
            what = "collateral"
        else:
            ctf = contract(self.w3, "ConditionalTokens", self.world.ctf)
            held = int(ctf.functions.balanceOf(proxy.address, token_id).call())
            what = f"shares of {token_id}"
        chosen = held if amount is None else amount
        _check_positive(chosen, "withdrawal (the Proxy holds nothing)" if amount is None else "withdrawal")
        if held < chosen:
            raise InvalidInputError(
                f"the Proxy holds {format_usd(held)} {what}, less than the {format_usd(chosen)} to withdraw"
            )
        if token_id is None:
            collateral = Web3.to_checksum_address(self.world.collateral)
            self._send("withdraw", proxy.functions.withdrawERC20(collateral, recipient, chosen))
        else:
            ctf_address = Web3.to_checksum_address(self.world.ctf)
            self._send("withdraw", proxy.functions.withdrawERC1155(ctf_address, token_id, recipient, chosen))
        return chosen

    def set_limits(self, max_per_trade: int | None, max_per_day: int | None) -> tuple[int, int]:
        """Sets the Proxy's limits (None keeps the current value); returns the limits set."""
        proxy = self._require_proxy()
        per_trade = int(proxy.functions.maxPerTrade().call()) if max_per_trade is None else max_per_trade
        per_day = int(proxy.functions.maxPerDay().call()) if max_per_day is None else max_per_day
        _check_limits(per_trade, per_day)
        self._send("set limits", proxy.functions.setLimits(per_trade, per_day))
        return per_trade, per_day

    def set_paused(self, paused: bool) -> None:
        proxy = self._require_proxy()
        self._send("pause" if paused else "resume", proxy.functions.setPaused(paused))


def _check_positive(amount: int, what: str) -> None:
    if amount <= 0:
        raise InvalidInputError(f"the {what} must be above zero")


def _check_limits(max_per_trade: int, max_per_day: int) -> None:
    for value, name in ((max_per_trade, "max per trade"), (max_per_day, "max per day")):
        if not 0 <= value <= MAX_UINT128:
            raise InvalidInputError(f"{name} is out of range: {value}")
    if max_per_trade > max_per_day:
        raise InvalidInputError(
            f"max per trade ({format_usd(max_per_trade)}) is above max per day ({format_usd(max_per_day)}): "
            "no trade that large could ever pass"
        )


def connect(settings: Settings, deployment: Deployment | None) -> tuple[Web3, int, str]:
    """A web3 connection to the first configured RPC (else deployment.json's), its chain id and its URL."""
    urls = [u for u in settings.rpc_urls if u.startswith(("http://", "https://"))]
    if not urls and deployment is not None:
        urls = [deployment.rpc_url]
    if not urls:
        raise ConfigError("no RPC: set COPY_TRADING_RPC_URLS (http) or run `polyhunter chain up` first")
    url = urls[0]
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
    except (OSError, Web3Exception) as exc:
        raise ChainError(
            f"the RPC {mask_url(url, keep_path=False)} does not answer: {type(exc).__name__}"
        ) from None
    if settings.chain_id is not None and settings.chain_id != chain_id:
        raise ConfigError(f"CHAIN_ID is {settings.chain_id} but the RPC serves chain {chain_id}")
    return w3, chain_id, url


def load_world(
    w3: Web3, chain_id: int, url: str, settings: Settings, deployment: Deployment | None
) -> ProxyWorld:
    """The factory, collateral, CTF (and USDC.e and onramp where known); `ConfigError` names what is
    missing or has no code."""
    c = deployment.contracts if deployment is not None and deployment.chain_id == chain_id else None
    on_polygon = chain_id == polygon.POLYGON_CHAIN_ID

    def published(name: str) -> str | None:
        return polygon.POLYGON[name].candidates[0].lower() if on_polygon else None

    def pick(name: str, setting: str | None, ours: str | None, table: str | None = None) -> str | None:
        found = setting or ours or (published(table) if table else None)
        return found.lower() if found else None

    factory = pick("factory", settings.proxy_factory_address, c.proxy_factory if c else None)
    collateral = pick("collateral", settings.usdc_address, c.collateral if c else None, "pusd")
    ctf = pick("ctf", settings.ctf_address, c.ctf if c else None, "ctf")
    for value, what in (
        (factory, "PROXY_FACTORY_ADDRESS"),
        (collateral, "USDC_ADDRESS"),
        (ctf, "CTF_ADDRESS"),
    ):
        if value is None:
            raise ConfigError(
                f"no {what} for chain {chain_id}: set it, or run `polyhunter chain up` / `deploy`"
            )
        if not w3.eth.get_code(Web3.to_checksum_address(value)):
            raise ConfigError(f"{what} {value} has no code on chain {chain_id}")
    assert factory is not None
    assert collateral is not None
    assert ctf is not None
    usdce = pick("usdce", None, c.usdce if c else None, "usdce")
    onramp = pick("onramp", None, c.onramp if c else None, "onramp")
    token_ids = tuple(t for m in deployment.markets for t in m.token_ids) if c and deployment else ()
    return ProxyWorld(chain_id, url, factory, collateral, ctf, usdce, onramp, token_ids)
