"""A local-world account trading on the local CLOB V2 over HTTP: the demo's and the tests' leader.

It speaks the protocol as Polymarket's official client does (L1 `ClobAuth` headers to derive its API key, L2
HMAC headers on every trading request, orders signed in Rust as EIP-712 V2 orders) and trades through the
account's deposit wallet (`POLY_1271`, maker = signer = the wallet, the owner's key signing the ERC-7739
wrap) or, when no wallet is given, as an EOA (type 0, which the CLOB refuses unless allowlisted).

Amounts are integer base units (6 decimals) and prices exact `Decimal`s: a market BUY spends `usd` for at
least `usd / price` shares, a market SELL gives `shares` for at least `shares × price`. This is tooling for
the local world (keys come from the test mnemonic); the supervisor's CLOB venue is a separate client.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

import aiohttp

from polyhunter._core import ExchangeDomain, OrderV2, Signer
from polyhunter.clobauth import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    ApiCreds,
    hmac_signature,
)
from polyhunter.errors import ExecutionError, InvalidInputError

UNIT = 1_000_000  # base units per dollar or share
SIGNATURE_TYPE_EOA = 0
SIGNATURE_TYPE_POLY_1271 = 3
TERMINAL_TRADE_STATUSES = {"CONFIRMED", "FAILED"}


class ClobRequestError(ExecutionError):
    """The CLOB answered with an error status; `status` and `message` are Polymarket's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"CLOB answered {status}: {message}")
        self.status = status
        self.message = message


def _floor_units(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


class ClobTrader:
    """One account on the local CLOB: `async with ClobTrader(...) as trader: await trader.market_buy(...)`."""

    def __init__(
        self,
        url: str,
        chain_id: int,
        signer: Signer,
        *,
        wallet: str | None = None,
        exchanges: dict[int, str] | None = None,
    ) -> None:
        """`signer`: the owner EOA's key; `wallet`: its deposit wallet (None trades as the EOA);
        `exchanges`: token id → the V2 exchange that trades it (orders are signed for that one)."""
        self.url = url.rstrip("/")
        self.chain_id = chain_id
        self.signer = signer
        self.wallet = wallet.lower() if wallet else None
        self.exchanges = dict(exchanges or {})
        self.creds: ApiCreds | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ClobTrader:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.creds = await self.derive_api_key()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def maker(self) -> str:
        """The orders' maker: the deposit wallet, else the EOA."""
        return self.wallet or self.signer.address

    # ----------------------------------------------------------------- HTTP

    async def _request(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        if self._session is None:
            raise InvalidInputError("ClobTrader is not open (use `async with`)")
        data = json.dumps(body, separators=(",", ":")) if body is not None else ""
        async with self._session.request(
            method, self.url + path, data=data or None, headers=headers or {}
        ) as reply:
            text = await reply.text()
        try:
            payload = json.loads(text) if text else None
        except json.JSONDecodeError:
            payload = text
        if reply.status >= 400:
            message = payload.get("error") if isinstance(payload, dict) else payload
            raise ClobRequestError(reply.status, str(message))
        return payload

    def _l1_headers(self, nonce: int = 0) -> dict[str, str]:
        timestamp = str(int(time.time()))
        signed = self.signer.sign_clob_auth(self.chain_id, timestamp, nonce)
        return {
            POLY_ADDRESS: self.signer.checksum_address,
            POLY_SIGNATURE: signed.signature_hex,
            POLY_TIMESTAMP: timestamp,
            POLY_NONCE: str(nonce),
        }

    def _l2_headers(self, method: str, path: str, body: str) -> dict[str, str]:
        if self.creds is None:
            raise InvalidInputError("no API key yet")
        timestamp = str(int(time.time()))
        return {
            POLY_ADDRESS: self.signer.checksum_address,
            POLY_API_KEY: self.creds.api_key,
            POLY_PASSPHRASE: self.creds.passphrase,
            POLY_TIMESTAMP: timestamp,
            POLY_SIGNATURE: hmac_signature(self.creds.secret, timestamp, method, path, body),
        }

    async def _l2(self, method: str, path: str, body: Any = None, query: str = "") -> Any:
        serialized = json.dumps(body, separators=(",", ":")) if body is not None else ""
        headers = self._l2_headers(method, path, serialized)
        return await self._request(method, path + query, body=body, headers=headers)

    # ----------------------------------------------------------------- auth

    async def derive_api_key(self, nonce: int = 0) -> ApiCreds:
        """The API key of (this EOA, nonce): derived when it exists, else created."""
        try:
            reply = await self._request("GET", "/auth/derive-api-key", headers=self._l1_headers(nonce))
        except ClobRequestError:
            reply = await self._request("POST", "/auth/api-key", headers=self._l1_headers(nonce))
        return ApiCreds(reply["apiKey"], reply["secret"], reply["passphrase"])

    # --------------------------------------------------------------- orders

    def sign(self, token_id: int, side: str, maker_amount: int, taker_amount: int) -> dict[str, Any]:
        """A signed V2 order in the JSON shape the CLOB takes."""
        exchange = self.exchanges.get(token_id)
        if exchange is None:
            raise InvalidInputError(f"no exchange known for token {token_id}")
        order = OrderV2(
            salt=secrets.randbelow(2**32),
            maker=self.maker,
            signer=self.maker,
            token_id=token_id,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            side=side,
            timestamp=time.time_ns() // 1_000_000,
            signature_type=SIGNATURE_TYPE_POLY_1271 if self.wallet else SIGNATURE_TYPE_EOA,
        )
        signed = self.signer.sign_order(ExchangeDomain(exchange, self.chain_id), order)
        return {
            "salt": order.salt,
            "maker": self.maker,
            "signer": self.maker,
            "tokenId": str(token_id),
            "makerAmount": str(maker_amount),
            "takerAmount": str(taker_amount),
            "side": side,
            "expiration": "0",
            "signatureType": order.signature_type,
            "timestamp": str(order.timestamp),
            "metadata": "0x" + "00" * 32,
            "builder": "0x" + "00" * 32,
            "signature": signed.signature_hex,
        }

    async def post(self, order: dict[str, Any], order_type: str = "FOK") -> dict[str, Any]:
        """POST /order; returns the CLOB's answer (`orderID`, `status`, `tradeIDs`, …)."""
        if self.creds is None:
            raise InvalidInputError("no API key yet")
        body = {
            "order": order,
            "owner": self.creds.api_key,
            "orderType": order_type,
            "deferExec": False,
            "postOnly": False,
        }
        reply: dict[str, Any] = await self._l2("POST", "/order", body)
        if not reply.get("success", False):
            raise ClobRequestError(400, str(reply.get("errorMsg", reply)))
        return reply

    async def refresh_balance(self, token_id: int | None = None) -> dict[str, Any]:
        """GET /balance-allowance/update: the CLOB caches balances and allowances until asked to reread
        them, as production does; pUSD (COLLATERAL) without a token, else that outcome token."""
        asset = f"CONDITIONAL&token_id={token_id}" if token_id is not None else "COLLATERAL"
        signature_type = SIGNATURE_TYPE_POLY_1271 if self.wallet else SIGNATURE_TYPE_EOA
        query = f"?asset_type={asset}&signature_type={signature_type}"
        reply: dict[str, Any] = await self._l2("GET", "/balance-allowance/update", query=query) or {}
        return reply

    async def market_buy(
        self, token_id: int, usd: int, price: Decimal, order_type: str = "FOK"
    ) -> dict[str, Any]:
        """Spends `usd` base units for at least `usd / price` shares (`price` the worst accepted)."""
        shares = _floor_units(Decimal(usd) / price)
        await self.refresh_balance()
        return await self.post(self.sign(token_id, "BUY", usd, shares), order_type)

    async def market_sell(
        self, token_id: int, shares: int, price: Decimal, order_type: str = "FOK"
    ) -> dict[str, Any]:
        """Sells `shares` base units for at least `shares × price`."""
        usd = _floor_units(Decimal(shares) * price)
        await self.refresh_balance(token_id)
        return await self.post(self.sign(token_id, "SELL", shares, usd), order_type)

    async def trades(self, trade_id: str) -> list[dict[str, Any]]:
        """GET /data/trades?id=…: the trade records (with `status` and `transaction_hash`)."""
        reply = await self._l2("GET", "/data/trades", query=f"?id={trade_id}")
        if isinstance(reply, dict):
            data: list[dict[str, Any]] = reply.get("data", [])
            return data
        return list(reply or [])

    async def wait_trades(
        self,
        trade_ids: list[str],
        statuses: frozenset[str] = frozenset({"MINED", "CONFIRMED"}),
        timeout_s: float = 30,
    ) -> list[dict[str, Any]]:
        """Polls until every trade reached one of `statuses` (FAILED raises) and returns their records."""
        deadline = time.monotonic() + timeout_s
        done: dict[str, dict[str, Any]] = {}
        while True:
            for trade_id in trade_ids:
                if trade_id in done:
                    continue
                for record in await self.trades(trade_id):
                    status = str(record.get("status", "")).upper()
                    if status == "FAILED":
                        raise ExecutionError(f"trade {trade_id} FAILED on the local CLOB")
                    if status in statuses:
                        done[trade_id] = record
            if len(done) == len(trade_ids):
                return [done[t] for t in trade_ids]
            if time.monotonic() > deadline:
                missing = [t for t in trade_ids if t not in done]
                raise ExecutionError(f"trades {missing} did not reach {sorted(statuses)} in {timeout_s:.0f}s")
            await asyncio.sleep(0.05)
