"""The CLOB's public read endpoints (books, prices, market parameters) in the shapes py-clob-client-v2
reads: `/book` levels worst-first, `/tick-size` as a number, `/clob-markets/{cid}` with its short keys."""

from __future__ import annotations

import hashlib
import json
import time
from fractions import Fraction
from typing import Any

from aiohttp import web

from polyhunter.localpoly import errors as e
from polyhunter.localpoly.engine import MatchEngine
from polyhunter.localpoly.errors import ClobApiError, bad_request
from polyhunter.localpoly.httputil import body_json, json_response
from polyhunter.localpoly.orders import price_text, shares_text
from polyhunter.localpoly.world import ClobMarket


def _decimal_text(value: Any) -> str:
    return format(value.normalize(), "f")


def _token_param(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if not isinstance(raw, str) or not raw.isdigit() or not raw.isascii():
        raise bad_request("invalid token id")
    return int(raw)


class MarketData:
    """Read-only views over the engine's books and markets."""

    def __init__(self, engine: MatchEngine) -> None:
        self.engine = engine

    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/book", self.h_book)
        r.add_post("/books", self.h_books)
        r.add_get("/price", self.h_price)
        r.add_post("/prices", self.h_prices)
        r.add_get("/midpoint", self.h_midpoint)
        r.add_post("/midpoints", self.h_midpoints)
        r.add_get("/spread", self.h_spread)
        r.add_get("/tick-size", self.h_tick_size)
        r.add_get("/neg-risk", self.h_neg_risk)
        r.add_get("/fee-rate", self.h_fee_rate)
        r.add_get("/last-trade-price", self.h_last_trade_price)
        r.add_get("/clob-markets/{condition_id}", self.h_clob_market)
        r.add_get("/markets-by-token/{token_id}", self.h_market_by_token)
        r.add_get("/markets/{condition_id}", self.h_market)
        r.add_get("/markets", self.h_markets)

    # ------------------------------------------------------------------ helpers

    def _market(self, request: web.Request) -> tuple[int, ClobMarket]:
        token = _token_param(request.query.get("token_id", ""))
        return token, self.engine.market_of(token)

    def book_json(self, token: int) -> dict[str, Any]:
        market = self.engine.market_of(token)
        book = self.engine.books[token]
        tick = market.tick_size
        last = self.engine.last_trade.get(token)
        # An expired GTD order is not depth, even before a request's sweep has taken it off the book.
        bids, asks = book.bid_levels(self.engine.tradable), book.ask_levels(self.engine.tradable)
        out: dict[str, Any] = {
            "market": market.condition_id,
            "asset_id": str(token),
            "timestamp": str(int(time.time() * 1000)),
            "hash": "",
            "bids": [{"price": price_text(p, tick), "size": shares_text(s)} for p, s in bids],
            "asks": [{"price": price_text(p, tick), "size": shares_text(s)} for p, s in asks],
            "min_order_size": _decimal_text(market.min_order_size),
            "tick_size": _decimal_text(tick),
            "neg_risk": market.neg_risk,
            "last_trade_price": price_text(last[0], tick) if last else "0.5",
        }
        # Production hashes the summary with "hash" empty (sha1 of compact JSON); the client recomputes it.
        out["hash"] = hashlib.sha1(
            json.dumps(out, separators=(",", ":")).encode(), usedforsecurity=False
        ).hexdigest()
        return out

    def _best(self, token: int, side: str) -> Fraction | None:
        book = self.engine.books[token]
        levels = (
            book.bid_levels(self.engine.tradable) if side == "BUY" else book.ask_levels(self.engine.tradable)
        )
        return levels[-1][0] if levels else None

    def _mid(self, token: int) -> Fraction | None:
        bid, ask = self._best(token, "BUY"), self._best(token, "SELL")
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    async def _params(self, request: web.Request) -> list[dict[str, Any]]:
        body = await body_json(request)
        if not isinstance(body, list) or not all(isinstance(p, dict) for p in body):
            raise bad_request("Invalid payload: expected a list of {token_id}")
        return body

    # ------------------------------------------------------------------ handlers

    async def h_book(self, request: web.Request) -> web.Response:
        token, _ = self._market(request)
        return json_response(self.book_json(token))

    async def h_books(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        return json_response([self.book_json(_token_param(p.get("token_id"))) for p in params])

    def _price_json(self, token: int, side: Any) -> dict[str, str]:
        if side not in ("BUY", "SELL"):
            raise bad_request("Invalid side")
        market = self.engine.market_of(token)
        best = self._best(token, side)
        if best is None:
            raise ClobApiError(404, e.NO_ORDERBOOK)
        return {"price": price_text(best, market.tick_size)}

    async def h_price(self, request: web.Request) -> web.Response:
        token, _ = self._market(request)
        return json_response(self._price_json(token, request.query.get("side")))

    async def h_prices(self, request: web.Request) -> web.Response:
        out: dict[str, dict[str, str]] = {}
        for p in await self._params(request):
            token = _token_param(p.get("token_id"))
            side = p.get("side")
            out.setdefault(str(token), {})[str(side)] = self._price_json(token, side)["price"]
        return json_response(out)

    async def h_midpoint(self, request: web.Request) -> web.Response:
        token, market = self._market(request)
        mid = self._mid(token)
        if mid is None:
            raise ClobApiError(404, e.NO_ORDERBOOK)
        return json_response({"mid": price_text(mid, market.tick_size)})

    async def h_midpoints(self, request: web.Request) -> web.Response:
        out: dict[str, str] = {}
        for p in await self._params(request):
            token = _token_param(p.get("token_id"))
            mid = self._mid(token)
            if mid is not None:
                out[str(token)] = price_text(mid, self.engine.market_of(token).tick_size)
        return json_response(out)

    async def h_spread(self, request: web.Request) -> web.Response:
        token, market = self._market(request)
        bid, ask = self._best(token, "BUY"), self._best(token, "SELL")
        if bid is None or ask is None:
            raise ClobApiError(404, e.NO_ORDERBOOK)
        return json_response({"spread": price_text(ask - bid, market.tick_size)})

    async def h_tick_size(self, request: web.Request) -> web.Response:
        _, market = self._market(request)
        # A JSON number, as production sends it; the client's str() of it must be a key like "0.01".
        return json_response({"minimum_tick_size": float(market.tick_size)})

    async def h_neg_risk(self, request: web.Request) -> web.Response:
        _, market = self._market(request)
        return json_response({"neg_risk": market.neg_risk})

    async def h_fee_rate(self, request: web.Request) -> web.Response:
        _, market = self._market(request)
        return json_response({"base_fee": market.taker_fee_rate_bps})

    async def h_last_trade_price(self, request: web.Request) -> web.Response:
        token, market = self._market(request)
        last = self.engine.last_trade.get(token)
        if last is None:
            return json_response({"price": "0.5", "side": ""})
        return json_response({"price": price_text(last[0], market.tick_size), "side": last[1]})

    def _clob_market_json(self, market: ClobMarket) -> dict[str, Any]:
        return {
            "c": market.condition_id,
            "t": [{"t": str(market.yes_token_id), "o": "Yes"}, {"t": str(market.no_token_id), "o": "No"}],
            "mts": float(market.tick_size),
            "mos": float(market.min_order_size),
            "nr": market.neg_risk,
            # Fee data as the client reads it: rate r (a fraction) and exponent e of rate × (p(1-p))^e.
            "fd": {"r": market.taker_fee_rate_bps / 10_000, "e": market.fee_exponent, "to": True},
            "mbf": 0,
            "tbf": market.taker_fee_rate_bps,
        }

    async def h_clob_market(self, request: web.Request) -> web.Response:
        market = self.engine.market_by_condition(request.match_info["condition_id"])
        return json_response(self._clob_market_json(market))

    async def h_market_by_token(self, request: web.Request) -> web.Response:
        token = _token_param(request.match_info["token_id"])
        market = self.engine.market_of(token)
        return json_response(
            {
                "condition_id": market.condition_id,
                "primary_token_id": str(market.yes_token_id),
                "secondary_token_id": str(market.no_token_id),
            }
        )

    def _market_json(self, market: ClobMarket) -> dict[str, Any]:
        def token(token_id: int, outcome: str) -> dict[str, Any]:
            mid = self._mid(token_id)
            return {
                "token_id": str(token_id),
                "outcome": outcome,
                "price": float(mid) if mid is not None else 0.5,
                "winner": False,
            }

        return {
            "condition_id": market.condition_id,
            "question_id": market.question_id,
            "market_slug": market.slug,
            "tokens": [token(market.yes_token_id, "Yes"), token(market.no_token_id, "No")],
            "minimum_order_size": float(market.min_order_size),
            "minimum_tick_size": float(market.tick_size),
            "neg_risk": market.neg_risk,
            "active": True,
            "closed": False,
            "accepting_orders": True,
            "enable_order_book": True,
            "maker_base_fee": 0,
            "taker_base_fee": market.taker_fee_rate_bps,
        }

    async def h_market(self, request: web.Request) -> web.Response:
        market = self.engine.market_by_condition(request.match_info["condition_id"])
        return json_response(self._market_json(market))

    async def h_markets(self, request: web.Request) -> web.Response:
        data = [self._market_json(m) for m in self.engine.world.markets]
        return json_response({"data": data, "next_cursor": "LTE=", "limit": len(data), "count": len(data)})
