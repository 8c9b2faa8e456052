"""The local CLOB V2 HTTP server: Polymarket's REST endpoints in the shapes py-clob-client-v2 reads, over the
matching engine, the settlement worker, the market maker and (optionally) the activity feed.

It is a server: loopback only unless `allow_remote`, never against Polygon or Amoy, bodies capped, every
malformed request answered with Polymarket's 400 `{"error": ...}`, headers and secrets never logged.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ChainError, ConfigError
from polyhunter.localpoly import errors as e
from polyhunter.localpoly.auth import Authenticator, IssuedCreds
from polyhunter.localpoly.balances import COLLATERAL, BalanceCache
from polyhunter.localpoly.config import REFUSED_CHAIN_IDS, ClobSettings
from polyhunter.localpoly.engine import MatchEngine
from polyhunter.localpoly.errors import ClobApiError, bad_request
from polyhunter.localpoly.httputil import body_json, body_text, is_loopback
from polyhunter.localpoly.httputil import json_response as _json
from polyhunter.localpoly.marketdata import MarketData
from polyhunter.localpoly.marketmaker import MarketMaker
from polyhunter.localpoly.onchain import ChainGateway
from polyhunter.localpoly.orders import parse_order_request
from polyhunter.localpoly.settlement import SettlementWorker, TradeSink
from polyhunter.localpoly.trades import order_json
from polyhunter.localpoly.world import VALID_TICKS, ClobWorld, world_from_deployment

log = logging.getLogger(__name__)

END_CURSOR = "LTE="
_ORDER_PATHS = frozenset({"/order", "/orders"})
_CANCEL_PATHS = frozenset({"/order", "/orders", "/cancel-all", "/cancel-market-orders"})


def _query(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise bad_request(f"missing query parameter: {name}")
    return value


def _token(request: web.Request) -> int:
    raw = _query(request, "token_id")
    if not raw.isdigit() or not raw.isascii():
        raise bad_request("invalid token id")
    return int(raw)


class LocalClob:
    """The server and everything it runs; an async context manager."""

    def __init__(
        self,
        world: ClobWorld | Deployment,
        settings: ClobSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rtds_port: int | None = None,
        allow_remote: bool = False,
        feed: TradeSink | None = None,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ConfigError(
                f"the local CLOB binds loopback only: refusing host {host!r} (allow_remote=False)"
            )
        self.world = world if isinstance(world, ClobWorld) else world_from_deployment(world)
        if self.world.chain_id in REFUSED_CHAIN_IDS:
            raise ConfigError(
                f"the local CLOB never runs against chain id {self.world.chain_id} (Polygon/Amoy)"
            )
        self.settings = settings or ClobSettings()
        self.host = host
        self.port = port
        self.rtds_port = rtds_port
        self.feed = feed
        self._own_feed = False
        self.chain = ChainGateway(self.world.rpc_url, self.world.wallet_factory)
        self.auth = Authenticator(self.world.chain_id, max_skew_s=self.settings.max_clock_skew_s)
        self.balances = BalanceCache(self.chain, self.world)
        self.engine = MatchEngine(self.world, lambda: self.settings, self.chain, self.balances)
        self.worker = SettlementWorker(self.engine, self.world, feed)
        self.data = MarketData(self.engine)
        self.market_maker: MarketMaker | None = None
        self.allow_remote = allow_remote
        self._runner: web.AppRunner | None = None
        self._hits: dict[str, deque[float]] = {}
        self.requests: Counter[str] = Counter()
        """Requests received per `METHOD /path` (tests count the posts a batch took)."""
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Self:
        """Checks the chain, binds, and starts the settlement worker, the market maker and the feed. When any
        step fails, whatever already started is stopped before the error propagates."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start(self) -> None:
        chain_id = await self.chain.chain_id()
        if chain_id in REFUSED_CHAIN_IDS or chain_id != self.world.chain_id:
            raise ConfigError(
                f"RPC chain id {chain_id} refused (deployment says {self.world.chain_id}; 137/80002 never)"
            )
        await self._read_fee_caps()
        if self.feed is None and self.rtds_port is not None:
            from polyhunter.localpoly.feed import ActivityFeed

            feed = ActivityFeed()
            self.feed = feed
            self.worker.feed = feed
            self._own_feed = True
            await feed.start(self.host, self.rtds_port, allow_remote=self.allow_remote)
        app = web.Application(client_max_size=self.settings.max_body_bytes, middlewares=[self._middleware])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://{self.host}:{self.port}"
        self.worker.start()
        if self.settings.market_maker.enabled and self.world.market_maker_wallet:
            self.market_maker = MarketMaker(self.engine, self.world, self.settings.market_maker)
            await self.market_maker.start()

    async def _read_fee_caps(self) -> None:
        """Reads each exchange's `getMaxFeeRate`; a market whose taker fee rate is above its exchange's cap
        would have every fee-paying match reverted after the order was answered "matched"."""
        for exchange in (self.world.exchange, self.world.neg_risk_exchange):
            self.engine.max_fee_bps[exchange] = await self.chain.max_fee_rate_bps(exchange)
        for market in self.world.markets:
            exchange = self.world.exchange_for(market)
            cap = self.engine.max_fee_bps[exchange]
            if cap and market.taker_fee_rate_bps > cap:
                raise ConfigError(
                    f"market {market.condition_id}: taker fee rate {market.taker_fee_rate_bps} bps is above "
                    f"the exchange {exchange}'s maxFeeRate of {cap} bps; matchOrders would revert"
                )

    async def stop(self) -> None:
        """Stops the market maker, the settlement worker, the HTTP server and an own feed; safe to call on
        a server that started only in part (or not at all)."""
        if self.market_maker is not None:
            self.market_maker.stop()
        await self.worker.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_feed and self.feed is not None:
            await self.feed.stop()  # type: ignore[attr-defined]
        self.chain.close()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def settled(self) -> None:
        """Waits until every match so far is settled on chain (or failed) and its trades are final."""
        await self.worker.idle()

    async def set_mids(self, mids: Mapping[int, Decimal]) -> None:
        """Moves the market maker's ladders to new mids (`MarketMaker.set_mids`: give both outcomes of a
        market together). ConfigError when this CLOB runs no market maker."""
        if self.market_maker is None:
            raise ConfigError("this local CLOB runs no market maker (disabled, or no market-maker wallet)")
        await self.market_maker.set_mids(mids)

    @property
    def rtds_url(self) -> str | None:
        url = getattr(self.feed, "url", None)
        return str(url) if url else None

    # ------------------------------------------------------------------ cross-cutting

    def _rate_limit(self, request: web.Request) -> None:
        limits = self.settings.rate_limits
        if not limits:
            return
        key = f"{request.method} {request.path}"
        limit = limits.get(key, limits.get("*"))
        if limit is None:
            return
        now = time.monotonic()
        window = self._hits.setdefault(key if key in limits else "*", deque())
        while window and window[0] <= now - self.settings.rate_window_s:
            window.popleft()
        if len(window) >= limit:
            # A limit of 0 refuses everything: the wait is then a whole window (there is no oldest hit).
            oldest = window[0] if window else now
            retry = max(1, int(oldest + self.settings.rate_window_s - now) + 1)
            raise ClobApiError(429, e.RATE_LIMITED, headers={"Retry-After": str(retry)})
        window.append(now)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if not request.path.startswith("/_local/"):
                self.requests[f"{request.method} {request.path}"] += 1
                if time.time() < self.settings.restart_until:
                    retry = max(1, int(self.settings.restart_until - time.time()) + 1)
                    raise ClobApiError(425, e.RESTARTING, headers={"Retry-After": str(retry)})
                self._rate_limit(request)
                # GTD orders expire without a timer: every request first takes the expired off the book.
                await self.engine.expire_due()
            response: web.StreamResponse = await handler(request)
            return response
        except ClobApiError as exc:
            return _json(exc.body(), exc.status, exc.headers)
        except ChainError as exc:
            # The node is down or refused a read: the client may retry; the detail (the RPC URL) stays here.
            log.warning("chain unavailable on %s %s: %s", request.method, request.path, exc)
            return _json(
                {"error": e.CHAIN_UNAVAILABLE}, 503, {"Retry-After": str(self.settings.retry_after_s)}
            )
        except web.HTTPRequestEntityTooLarge:
            return _json({"error": e.BODY_TOO_LARGE}, 413)
        except web.HTTPException as exc:
            return _json({"error": exc.reason}, exc.status)
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            return _json({"error": "internal error"}, 500)

    async def _l2(self, request: web.Request) -> IssuedCreds:
        body = await body_text(request)
        return self.auth.verify_l2(request.headers, request.method, request.path, body)

    def _trading_gate(self, post_only: bool) -> None:
        mode = self.settings.trading_mode
        if mode == "disabled":
            raise ClobApiError(503, e.TRADING_DISABLED)
        if mode == "cancel_only":
            raise ClobApiError(503, e.CANCEL_ONLY)
        if mode == "post_only" and not post_only:
            retry = self.settings.retry_after_s
            raise ClobApiError(
                503,
                e.POST_ONLY_MODE,
                extra={"retry_after_seconds": retry},
                headers={"Retry-After": str(retry)},
            )

    # ------------------------------------------------------------------ routes

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self.h_ok)
        r.add_get("/ok", self.h_ok)
        r.add_get("/time", self.h_time)
        r.add_get("/version", self.h_version)
        r.add_get("/api/geoblock", self.h_geoblock)
        self.data.add_routes(r)
        r.add_post("/auth/api-key", self.h_create_key)
        r.add_get("/auth/derive-api-key", self.h_derive_key)
        r.add_get("/auth/api-keys", self.h_keys)
        r.add_delete("/auth/api-key", self.h_delete_key)
        r.add_post("/order", self.h_post_order)
        r.add_post("/orders", self.h_post_orders)
        r.add_delete("/order", self.h_cancel)
        r.add_delete("/orders", self.h_cancel_many)
        r.add_delete("/cancel-all", self.h_cancel_all)
        r.add_delete("/cancel-market-orders", self.h_cancel_market)
        r.add_get("/data/order/{order_id}", self.h_order)
        r.add_get("/data/orders", self.h_orders)
        r.add_get("/data/trades", self.h_trades)
        r.add_get("/balance-allowance", self.h_balance)
        r.add_get("/balance-allowance/update", self.h_balance_update)
        r.add_post("/_local/settings", self.h_admin_settings)
        r.add_post("/_local/tick-size", self.h_admin_tick)

    async def h_ok(self, request: web.Request) -> web.Response:
        return _json("OK")

    async def h_time(self, request: web.Request) -> web.Response:
        return _json(int(time.time()))

    async def h_version(self, request: web.Request) -> web.Response:
        return _json({"version": 2})

    async def h_geoblock(self, request: web.Request) -> web.Response:
        # Production answers whether the caller's region may trade; nothing local is geoblocked.
        return _json({"blocked": False})

    async def h_create_key(self, request: web.Request) -> web.Response:
        return _json(self.auth.create(request.headers).to_json())

    async def h_derive_key(self, request: web.Request) -> web.Response:
        return _json(self.auth.derive(request.headers).to_json())

    async def h_keys(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        return _json({"apiKeys": self.auth.keys_of(creds.address)})

    async def h_delete_key(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        self.auth.delete(creds)
        return _json("OK")

    async def h_post_order(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        body = await body_json(request)
        if not isinstance(body, dict):
            raise bad_request("Invalid order payload")
        req = parse_order_request(body)
        self._trading_gate(req.post_only)
        result = await self.engine.place(req, creds.api_key, creds.address)
        if self.settings.timeout_next_posts > 0:
            self.settings.timeout_next_posts -= 1
            raise ClobApiError(500, e.ORDER_TIMED_OUT)
        return _json(result)

    async def h_post_orders(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        body = await body_json(request)
        if not isinstance(body, list) or not body:
            raise bad_request("Invalid orders payload: expected a non-empty list")
        if len(body) > self.settings.max_batch:
            raise bad_request(e.TOO_MANY_ORDERS.format(max=self.settings.max_batch))
        requests = [parse_order_request(item) for item in body]
        self._trading_gate(all(r.post_only for r in requests))
        placed, dies = len(requests), self.settings.timeout_next_batches > 0
        if dies:
            self.settings.timeout_next_batches -= 1
            placed = min(placed, max(0, self.settings.timeout_batch_placed))
        results: list[dict[str, Any]] = []
        for req in requests[:placed]:
            try:
                results.append(await self.engine.place(req, creds.api_key, creds.address))
            except ClobApiError as exc:
                # A batch answers per order, as production does: one refusal does not fail the others.
                results.append({"success": False, "errorMsg": exc.message, "orderID": "", "status": ""})
        if dies:
            # The fault switch: the request dies after placing its first orders (the rest never placed).
            raise ClobApiError(500, e.ORDER_TIMED_OUT)
        return _json(results)

    def _cancel_gate(self) -> None:
        if self.settings.trading_mode == "disabled":
            raise ClobApiError(503, e.TRADING_DISABLED)

    async def h_cancel(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        self._cancel_gate()
        body = await body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("orderID"), str):
            raise bad_request("Invalid payload: orderID must be a string")
        return _json(await self.engine.cancel([body["orderID"]], creds.address))

    async def h_cancel_many(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        self._cancel_gate()
        body = await body_json(request)
        if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
            raise bad_request("Invalid payload: expected a list of order ids")
        return _json(await self.engine.cancel(body, creds.address))

    async def h_cancel_all(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        self._cancel_gate()
        ids = [o.order_id for o in self.engine.live_orders_of(creds.address)]
        return _json(await self.engine.cancel(ids, creds.address))

    async def h_cancel_market(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        self._cancel_gate()
        body = await body_json(request) or {}
        if not isinstance(body, dict):
            raise bad_request("Invalid payload: expected an object")
        market, asset = body.get("market"), body.get("asset_id")
        ids = [
            o.order_id
            for o in self.engine.live_orders_of(creds.address)
            if (not market or o.condition_id == str(market).lower())
            and (not asset or str(o.token_id) == asset)
        ]
        return _json(await self.engine.cancel(ids, creds.address))

    async def h_order(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        order = self.engine.orders.get(request.match_info["order_id"].lower())
        if order is None or order.owner_address != creds.address:
            raise ClobApiError(404, e.ORDER_NOT_FOUND)
        return _json(order_json(order, self.engine.market_of(order.token_id)))

    async def h_orders(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        q = request.query
        out = [
            order_json(o, self.engine.market_of(o.token_id))
            for o in self.engine.live_orders_of(creds.address)
            if (not q.get("id") or o.order_id == q["id"].lower())
            and (not q.get("market") or o.condition_id == q["market"].lower())
            and (not q.get("asset_id") or str(o.token_id) == q["asset_id"])
        ]
        return _json({"data": out, "next_cursor": END_CURSOR, "limit": len(out), "count": len(out)})

    async def h_trades(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        q = request.query
        out = []
        for trade in self.engine.trades.values():
            if not trade.involves(creds.address):
                continue
            if q.get("id") and trade.trade_id != q["id"]:
                continue
            if q.get("market") and trade.market.condition_id != q["market"].lower():
                continue
            if q.get("asset_id") and q["asset_id"] not in (
                str(trade.taker.token_id),
                str(trade.maker.token_id),
            ):
                continue
            if q.get("maker_address") and q["maker_address"].lower() not in (
                trade.taker.maker,
                trade.maker.maker,
            ):
                continue
            if q.get("before", "").isdigit() and trade.match_time >= int(q["before"]):
                continue
            if q.get("after", "").isdigit() and trade.match_time <= int(q["after"]):
                continue
            out.append(trade.to_json(creds.address))
        return _json({"data": out, "next_cursor": END_CURSOR, "limit": len(out), "count": len(out)})

    async def _funder(self, request: web.Request, creds: IssuedCreds) -> tuple[str, str]:
        q = request.query
        sig_type = q.get("signature_type", "0")
        asset_type = q.get("asset_type", COLLATERAL)
        if asset_type == COLLATERAL:
            asset = COLLATERAL
        elif asset_type == "CONDITIONAL":
            asset = str(_token(request))
        else:
            raise bad_request(f"invalid asset_type: {asset_type!r}")
        if sig_type == "3":
            funder = await self.chain.predict_wallet(creds.address)
        elif sig_type in ("0", "-1"):
            funder = creds.address
        else:
            raise bad_request(f"invalid signature_type: {sig_type!r}")
        return funder, asset

    async def _balance_json(self, funder: str, asset: str) -> dict[str, Any]:
        balance = await self.balances.balance(funder, asset)
        allowances = {
            ex: str(await self.balances.allowance(funder, asset, ex))
            for ex in (self.world.exchange, self.world.neg_risk_exchange)
        }
        return {"balance": str(balance), "allowances": allowances}

    async def h_balance(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        funder, asset = await self._funder(request, creds)
        return _json(await self._balance_json(funder, asset))

    async def h_balance_update(self, request: web.Request) -> web.Response:
        creds = await self._l2(request)
        funder, asset = await self._funder(request, creds)
        await self.balances.refresh(funder, asset)
        return _json(await self._balance_json(funder, asset))

    # ------------------------------------------------------------------ test switches

    def _admin_gate(self) -> None:
        if self.allow_remote:
            raise ClobApiError(403, e.ADMIN_REFUSED)

    async def h_admin_settings(self, request: web.Request) -> web.Response:
        """`POST /_local/settings`: switches for tests. Unauthenticated, so a server started with
        `allow_remote` refuses it (403) entirely; on loopback only this machine's tests can reach it."""
        self._admin_gate()
        body = await body_json(request)
        if not isinstance(body, dict):
            raise bad_request("expected an object of settings")
        try:
            self.settings = self.settings.updated(body)
        except ConfigError as exc:
            raise bad_request(str(exc)) from None
        return _json({"ok": True})

    async def h_admin_tick(self, request: web.Request) -> web.Response:
        """`POST /_local/tick-size`: a live tick-size change. Refused (403) with `allow_remote`, as above."""
        self._admin_gate()
        body = await body_json(request)
        if not isinstance(body, dict):
            raise bad_request("expected {condition_id, tick_size}")
        market = self.engine.market_by_condition(str(body.get("condition_id", "")))
        try:
            tick = Decimal(str(body.get("tick_size")))
        except InvalidOperation:
            raise bad_request("invalid tick_size") from None
        if tick not in VALID_TICKS:
            raise bad_request(f"invalid tick_size: {tick}")
        market.tick_size = tick
        return _json({"ok": True})
