"""Polymarket's newer official client (polymarket-client 0.14.0) as a second judge of the local Polymarket.

Runs inside a virtualenv of its own (the client pins eth-abi < 6, eth-utils < 6, websockets < 16, which
conflict with polyhunter's), so it imports nothing from polyhunter. Usage:

    python judge2.py sign  REQUEST.json   # signatures made by the client's own signing code
    python judge2.py clob  REQUEST.json   # the client's flows against a local CLOB

It prints one JSON object on stdout; the pytest side asserts on it. Every flow step records either its
result or the error the client raised (type and message), so a refusal is data, not a crash.

The client only knows Polymarket's production environment; the judge builds a local one from it with every
URL replaced: the CLOB and RPC point at the local services, everything else at a closed loopback port, so
nothing can ever reach Polymarket.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import traceback
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from eth_account import Account
from polymarket import PublicClient, SecureClient
from polymarket._internal.actions.orders.typed_data import build_order_signature, build_order_typed_data
from polymarket._internal.actions.orders.types import UnsignedOrder
from polymarket._internal.environment import PRODUCTION_CONFIG, create_environment
from polymarket._internal.l1_auth import sign_api_key_auth
from polymarket._internal.wallet import wrap_deposit_wallet_signature
from polymarket.environments import Environment

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback there
CLOSED_WS = "ws://127.0.0.1:9"
SIGNATURE_TYPES = {"EOA": 0, "DEPOSIT_WALLET": 3}


def local_environment(request: dict[str, Any]) -> Environment:
    """Production's configuration with every address and URL replaced by the local world's."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(PRODUCTION_CONFIG):
        value = getattr(PRODUCTION_CONFIG, f.name)
        if isinstance(value, str) and value.startswith("http"):
            changes[f.name] = CLOSED
        elif isinstance(value, str) and value.startswith("ws"):
            changes[f.name] = CLOSED_WS
    changes.update(
        chain_id=int(request["chain_id"]),
        clob_url=request.get("clob_url", CLOSED),
        rpc_url=request.get("rpc_url", CLOSED),
        standard_exchange=request["exchange"],
        neg_risk_exchange=request.get("neg_risk_exchange", request["exchange"]),
    )
    if "collateral" in request:
        changes["collateral_token"] = request["collateral"]
    if "ctf" in request:
        changes["conditional_tokens"] = request["ctf"]
    return create_environment(name="local", config=dataclasses.replace(PRODUCTION_CONFIG, **changes))


# --- sign: the client's signing code on given orders --------------------------------------------


def sign(request: dict[str, Any]) -> dict[str, Any]:
    chain_id = int(request["chain_id"])
    orders = []
    for spec in request["orders"]:
        signer = Account.from_key(spec["key"])
        unsigned = UnsignedOrder(
            chain_id=chain_id,
            builder=spec.get("builder", "0x" + "00" * 32),
            exchange_address=spec["exchange"],
            expiration=0,
            maker=spec["maker"],
            maker_amount=int(spec["maker_amount"]),
            metadata=spec.get("metadata", "0x" + "00" * 32),
            order_type="GTC",
            salt=int(spec["salt"]),
            side=spec["side"],
            signature_type=int(spec["signature_type"]),
            signer=spec["maker"],
            taker_amount=int(spec["taker_amount"]),
            timestamp=int(spec["timestamp"]),
            token_id=str(spec["token_id"]),
        )
        # The same steps as SecureClient._sign_order, for the signer the client classifies as the owner.
        signed = signer.sign_typed_data(full_message=build_order_typed_data(unsigned))
        raw = "0x" + signed.signature.hex().removeprefix("0x")
        wrapped = build_order_signature(unsigned, raw)
        orders.append(
            {
                "owner": wrap_deposit_wallet_signature(
                    signer=signer.address, signer_type="OWNER", signature=wrapped
                ),
                "session_key": wrap_deposit_wallet_signature(
                    signer=signer.address, signer_type="SESSION_KEY", signature=wrapped
                ),
            }
        )
    auths = []
    for spec in request.get("auth", []):
        signed_auth = sign_api_key_auth(
            Account.from_key(spec["key"]),
            chain_id=chain_id,
            timestamp=int(spec["timestamp"]),
            nonce=spec["nonce"],
        )
        auths.append({"address": signed_auth.address, "signature": signed_auth.signature})
    return {"orders": orders, "auth": auths}


# --- clob: the client's flows against the local CLOB ------------------------------------------------


def step(results: dict[str, Any], name: str, action: Callable[[], Any]) -> Any:
    """Run one flow step; record its JSON-able result or the client's error, never raise."""
    try:
        value = action()
    except Exception as exc:
        results[name] = {"ok": False, "error": type(exc).__name__, "message": str(exc)[:2000]}
        if "--trace" in sys.argv:
            traceback.print_exc(file=sys.stderr)
        return None
    results[name] = {"ok": True, "value": plain(value)}
    return value


def plain(value: Any) -> Any:
    """A client model or value as JSON-able data; Decimals as strings so nothing goes through a float."""
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def every(paginator: Any) -> list[Any]:
    """All items of the client's paginator (it yields pages)."""
    return [item for page in paginator for item in page.items]


def secure_client(environment: Environment, key: str, wallet: str, wallet_type: str) -> SecureClient:
    """A SecureClient acting for `wallet`.

    An EOA goes through `SecureClient.create` unchanged. A deposit wallet cannot: the client recognises a
    deposit wallet only by recomputing its address as a Solady ERC-1967 clone of Polymarket's factory and
    asks Polymarket's relayer whether it is deployed; the local factory deploys plain CREATE2 wallets and
    there is no relayer. So the judge makes the classification `create` makes for a production deposit
    wallet (signer = its owner) and then uses the client's own credential bootstrap and constructor.
    """
    if wallet_type == "EOA":
        return SecureClient.create(private_key=key, wallet=wallet, environment=environment)
    from polymarket._internal.environment import get_environment_config
    from polymarket.clients._transport import SyncTransport
    from polymarket.clients.secure import _bootstrap_credentials_sync

    config = get_environment_config(environment)
    signer = Account.from_key(key)
    bootstrap = SyncTransport(base_url=config.clob_url, logger=None)
    try:
        credentials = _bootstrap_credentials_sync(
            config=config, signer=signer, clob=bootstrap, provided=None, nonce=0, validate=True, logger=None
        )
    finally:
        bootstrap.close()
    return SecureClient._construct_for_wallet(
        signer=signer,
        wallet=wallet,
        wallet_type="DEPOSIT_WALLET",
        signer_type="OWNER",
        environment=environment,
        config=config,
        credentials=credentials,
        api_key=None,
        logger=None,
        on_rate_limit_update=None,
    )


def clob(request: dict[str, Any]) -> dict[str, Any]:
    environment = local_environment(request)
    token = str(request["token_id"])
    out: dict[str, Any] = {}
    public = PublicClient(environment=environment)
    step(out, "book", lambda: public.get_order_book(token_id=token))
    step(out, "midpoint", lambda: public.get_midpoint(token_id=token))
    for account in request["accounts"]:
        results: dict[str, Any] = {}
        out[account["label"]] = results
        client = step(
            results,
            "create",
            lambda a=account: secure_client(environment, a["key"], a["wallet"], a["wallet_type"]),
        )
        if client is None:
            continue
        results["wallet_type"] = client.wallet_type
        results["api_key"] = client.credentials.key
        again = step(
            results,
            "derive_again",
            lambda a=account: (
                secure_client(environment, a["key"], a["wallet"], a["wallet_type"]).credentials.key
            ),
        )
        results["same_key_derived"] = again == client.credentials.key
        gtc = step(
            results,
            "gtc",
            lambda c=client, a=account: c.place_limit_order(
                token_id=token, price=a["gtc_price"], size=a["gtc_size"], side="BUY"
            ),
        )
        order_id = getattr(gtc, "order_id", None) or getattr(gtc, "id", None)
        if order_id:
            step(results, "gtc_read", lambda c=client, o=order_id: c.get_order(order_id=o))
            step(results, "open_orders", lambda c=client: every(c.list_open_orders(token_id=token)))
            step(results, "cancel", lambda c=client, o=order_id: c.cancel_order(order_id=o))
            step(results, "gtc_after_cancel", lambda c=client, o=order_id: c.get_order(order_id=o))
        fok = step(
            results,
            "fok",
            lambda c=client, a=account: c.place_market_order(
                token_id=token, side="BUY", amount=a["fok_amount"], order_type="FOK"
            ),
        )
        if fok is not None:
            step(
                results,
                "fok_settled",
                lambda c=client, f=fok: c.wait_for_order_fill_settlement(f, timeout_s=60),
            )
            step(results, "trades", lambda c=client: every(c.list_account_trades(token_id=token)))
    return out


def main() -> int:
    mode, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as handle:
        request = json.load(handle)
    started = time.monotonic()
    result = sign(request) if mode == "sign" else clob(request)
    result["seconds"] = round(time.monotonic() - started, 3)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
