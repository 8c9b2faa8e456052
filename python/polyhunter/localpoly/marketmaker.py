"""The local market maker: a fixed ladder of resting GTC orders on both sides of every token, from its
deposit wallet, topped up after each settlement that filled it (never on a timer), so a scenario's fills
and balances are literal.

At start it splits pUSD into outcome tokens for its asks when its wallet holds too few; its orders go
through the same admission as anyone's (signature checked by the wallet, balances reserved).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from eth_abi.abi import encode

from polyhunter._core import Signer, keccak256
from polyhunter.localpoly.config import MarketMakerSettings
from polyhunter.localpoly.engine import MatchEngine, Settlement
from polyhunter.localpoly.errors import ClobApiError
from polyhunter.localpoly.orders import UNIT, OrderRequest, Side, SignedOrder, poly1271_digest, poly1271_wrap
from polyhunter.localpoly.world import ClobMarket, ClobWorld

log = logging.getLogger(__name__)

OWNER_KEY = "local-market-maker"
_EXECUTE = keccak256(b"execute((address,uint256,bytes)[])")[:4]
_APPROVE = keccak256(b"approve(address,uint256)")[:4]
_SPLIT = keccak256(b"splitPosition(address,bytes32,bytes32,uint256[],uint256)")[:4]

Slot = tuple[int, Side, Fraction]


class MarketMaker:
    """Keeps `levels` orders of `size` shares per side and token around each token's mid."""

    def __init__(self, engine: MatchEngine, world: ClobWorld, settings: MarketMakerSettings) -> None:
        if world.market_maker_wallet is None:
            raise ValueError("the market maker needs its deposit wallet")
        self.engine = engine
        self.world = world
        self.settings = settings
        self.account = world.market_maker()
        self.owner = self.account.address.lower()
        self.wallet = world.market_maker_wallet
        self._signer = Signer(bytes(self.account.key))
        self.slots: dict[Slot, list[str]] = {}
        self._stopped = False

    def ladder(self, market: ClobMarket, token: int) -> list[Slot]:
        tick = Fraction(market.tick_size)
        mid = Fraction(self.settings.mids.get(token, self.settings.default_mid))
        out: list[Slot] = []
        for i in range(self.settings.levels):
            step = (self.settings.offset_ticks + i) * tick
            for side, price in (("BUY", mid - step), ("SELL", mid + step)):
                if tick <= price <= 1 - tick:
                    out.append((token, side, price))  # type: ignore[arg-type]
        return out

    async def start(self) -> None:
        await self._fund_tokens()
        self.engine.listeners.append(self._on_settled)
        for market in self.world.markets:
            for token in market.token_ids:
                for slot in self.ladder(market, token):
                    self.slots[slot] = []
        await self.refill()

    async def _fund_tokens(self) -> None:
        """Splits pUSD into YES+NO for the asks when the wallet holds fewer tokens than its ladder sells."""
        needed_shares = int(self.settings.size * UNIT) * self.settings.levels
        for market in self.world.markets:
            held = min(
                [
                    await self.engine.chain.ctf_balance(self.world.ctf, self.wallet, t)
                    for t in market.token_ids
                ]
            )
            missing = needed_shares - held
            if missing <= 0:
                continue
            if await self.engine.chain.erc20_balance(self.world.pusd, self.wallet) < missing:
                log.warning("market maker wallet cannot fund its asks on %s", market.condition_id)
                continue
            approve = _APPROVE + encode(["address", "uint256"], [self.world.ctf, missing])
            split = _SPLIT + encode(
                ["address", "bytes32", "bytes32", "uint256[]", "uint256"],
                [self.world.pusd, bytes(32), bytes.fromhex(market.condition_id[2:]), [1, 2], missing],
            )
            calls = [(self.world.pusd, 0, approve), (self.world.ctf, 0, split)]
            data = _EXECUTE + encode(["(address,uint256,bytes)[]"], [calls])
            tx_hash = await self.engine.chain.send(self.account, self.wallet, data)
            status, _ = await self.engine.chain.wait_receipt(tx_hash)
            if status != 1:
                log.warning("market maker split on %s reverted", market.condition_id)
            self.engine.balances.forget(self.wallet)

    def _sign(self, market: ClobMarket, token: int, side: Side, price: Fraction, shares: int) -> SignedOrder:
        usd = shares * price
        if usd.denominator != 1:
            raise ValueError(f"ladder price {price} does not make whole base units")
        maker, taker = (int(usd), shares) if side == "BUY" else (shares, int(usd))
        unsigned = SignedOrder(
            salt=secrets.randbits(48),
            maker=self.wallet,
            signer=self.wallet,
            token_id=token,
            maker_amount=maker,
            taker_amount=taker,
            side=side,
            signature_type=3,
            timestamp=time.time_ns() // 1_000_000,
            metadata=bytes(32),
            builder=bytes(32),
            signature=b"",
        )
        domain = self.engine.domain(self.world.exchange_for(market))
        sig65 = self._signer.sign_hash(poly1271_digest(unsigned, domain, self.world.chain_id))
        return SignedOrder(**{**unsigned.__dict__, "signature": poly1271_wrap(sig65, unsigned, domain)})

    async def refill(self) -> None:
        """Tops every slot back up to `size` shares with a new order for what fills took. A slot that
        cannot be quoted is logged and skipped: the others are still refilled, now and next time."""
        if self._stopped:
            return
        await self._fund_tokens()
        size = int(self.settings.size * UNIT)
        for slot, ids in list(self.slots.items()):
            token, side, price = slot
            live = [
                self.engine.orders[i] for i in ids if i in self.engine.orders and self.engine.orders[i].live
            ]
            self.slots[slot] = [o.order_id for o in live]
            missing = whole_units(size - sum(o.available_shares() for o in live), price)
            if missing < UNIT:
                continue
            try:
                market = self.engine.market_of(token)
                order = self._sign(market, token, side, price, missing)
                req = OrderRequest(order, OWNER_KEY, "GTC", post_only=True, defer_exec=False, expiration=0)
                result = await self.engine.place(req, OWNER_KEY, self.owner, check_owner=False)
            except ClobApiError as exc:
                log.warning("market maker order %s %s @ %s refused: %s", side, token, price, exc.message)
                continue
            except Exception:  # one bad slot (or a node blip) must not stop the ladder for ever
                log.exception("market maker could not quote %s %s @ %s", side, token, price)
                continue
            self.slots[slot].append(str(result["orderID"]))

    async def set_mid(self, token: int, mid: Decimal) -> None:
        """Moves one token's ladder to `mid` (see `set_mids`; move both outcomes of a market together)."""
        await self.set_mids({token: mid})

    async def set_mids(self, mids: Mapping[int, Decimal]) -> None:
        """Moves the ladders of the tokens in `mids` (the market moved): every named token's resting orders
        are cancelled first, then all are quoted again. Moving YES and NO one at a time would leave the
        maker's own new YES bids facing its old NO bids (a sum of 1 or more, which MINT matching would
        cross); tokens whose mid is unchanged keep their orders."""
        changed = {
            token: mid
            for token, mid in mids.items()
            if Fraction(self.settings.mids.get(token, self.settings.default_mid)) != Fraction(mid)
        }
        if not changed:
            return
        markets = {token: self.engine.market_of(token) for token in changed}
        stale = [slot for slot in self.slots if slot[0] in changed]
        ids = [order_id for slot in stale for order_id in self.slots.pop(slot)]
        await self.engine.cancel(ids, self.owner)
        for token, mid in changed.items():
            self.settings.mids[token] = mid
            for slot in self.ladder(markets[token], token):
                self.slots[slot] = []
        await self.refill()

    def stop(self) -> None:
        """No more refills: a stopped CLOB's maker must not place orders from a late settlement."""
        self._stopped = True
        if self._on_settled in self.engine.listeners:
            self.engine.listeners.remove(self._on_settled)

    async def _on_settled(self, settlement: Settlement, ok: bool) -> None:
        ours = any(f.maker.owner_key == OWNER_KEY for f in settlement.fills)
        if ours or settlement.taker.owner_key == OWNER_KEY:
            await self.refill()


def whole_units(shares: int, price: Fraction) -> int:
    """`shares` rounded down to a multiple that makes `shares × price` whole base units of collateral (the
    order's other amount must be an integer)."""
    return shares - shares % price.denominator
