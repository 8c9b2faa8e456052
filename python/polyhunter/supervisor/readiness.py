"""Readiness: every check an operator needs green before going live, each a `Check` with its fix.

A check is fatal (the supervisor must not start: nothing can be copied, or copies would lose funds) or a
warning (the supervisor runs, degraded: one wallet of twenty low on gas). The checks never stop at the first
failure: `check_readiness` reports them all, skipping only those that depend on a failed one (no Executor
reads where the Executor has no code). A fatal check's detail is the same one line the supervisor's own
start-up would raise, so `polyhunter supervisor` fails the same way with or without `--skip-ready`. No detail
carries a secret: RPC and Redis URLs are masked, keys never shown.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from eth_abi.abi import decode
from web3 import Web3

from polyhunter._core import Signer
from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import TEST_MNEMONIC
from polyhunter.chain.artifacts import load_artifact
from polyhunter.chain.deployment import Deployment
from polyhunter.errors import ChainError, ConfigError, PolyhunterError
from polyhunter.execution.fleet import fleet_signers
from polyhunter.settings import Settings, mask_url
from polyhunter.store import open_store
from polyhunter.store.migrations import LATEST
from polyhunter.supervisor.startup import (
    apply_address_settings,
    check_chain_ids,
    require_code,
    rpc_urls_to_check,
    shown,
)

Severity = Literal["fatal", "warning"]
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
HTTP_TIMEOUT_S = 10.0
TRADING_SPENDERS = frozenset({"exchange", "neg_risk_exchange", "executor"})


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, what was seen and how to fix a failure."""

    name: str
    ok: bool
    detail: str
    severity: Severity = "fatal"
    """What a failure of this check means (a passing check keeps the severity it would fail with)."""
    fix: str = ""

    @property
    def status(self) -> Literal["ok", "fatal", "warning"]:
        return "ok" if self.ok else self.severity

    def line(self) -> str:
        """`✓ name: detail`, or `✗ name: detail (fatal|warning) → fix`."""
        if self.ok:
            return f"✓ {self.name}: {self.detail}"
        fix = f" → {self.fix}" if self.fix else ""
        return f"✗ {self.name}: {self.detail} ({self.severity}){fix}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "ok": self.ok,
            "severity": self.severity,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass
class Readiness:
    """Every check's outcome; ready when no fatal check failed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def fatal(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fatal"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warning"]

    @property
    def ready(self) -> bool:
        return not self.fatal

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def lines(self) -> list[str]:
        summary = (
            f"ready ({len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''})"
            if self.ready
            else f"NOT READY: {len(self.fatal)} fatal, {len(self.warnings)} warning(s)"
        )
        return [c.line() for c in self.checks] + [summary]

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "fatal": len(self.fatal),
            "warnings": len(self.warnings),
            "checks": [c.to_json() for c in self.checks],
        }


def settings_check(settings: Settings | None, error: str | None = None) -> Check:
    """The settings loaded (or the one line naming the first bad variable)."""
    if settings is None:
        return Check("settings", False, error or "not loaded", fix="correct the variable named")
    return Check("settings", True, "every setting valid")


async def _attempt(
    name: str, work: Callable[[], Awaitable[str]], fix: str, severity: Severity = "fatal"
) -> Check:
    """Runs one check: its return value is the passing detail, a `PolyhunterError` its failure."""
    try:
        return Check(name, True, await work(), severity, fix)
    except PolyhunterError as exc:
        return Check(name, False, str(exc), severity, fix)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}", severity, fix)


def _local(deployment: Deployment) -> bool:
    return deployment.chain_id in LOCAL_CHAIN_IDS


async def _head(rpc: AsyncRpc) -> tuple[int, int]:
    block = await rpc.call("eth_getBlockByNumber", ["latest", False])
    if not isinstance(block, dict):
        raise ChainError("eth_getBlockByNumber: no latest block in the reply")
    return int(block["number"], 16), int(block["timestamp"], 16)


async def rpc_checks(settings: Settings, deployment: Deployment, report: Readiness) -> bool:
    """Each RPC serves the expected chain; each HTTP one has a fresh head. False: a fatal one failed."""
    if settings.chain_id is not None and settings.chain_id != deployment.chain_id:
        report.add(
            Check(
                "chain id",
                False,
                f"CHAIN_ID is {settings.chain_id}, but deployment.json is for chain {deployment.chain_id}",
                fix="set CHAIN_ID to the deployment's chain, or point POLYHUNTER_HOME at its deployment",
            )
        )
        return False
    try:
        urls = rpc_urls_to_check(settings, deployment)
    except PolyhunterError as exc:
        report.add(Check("rpc", False, str(exc), fix="set the variable named"))
        return False
    expected = deployment.chain_id
    what = "CHAIN_ID" if settings.chain_id is not None else "deployment.json"
    ok = True
    for url in urls:

        async def probe(url: str = url) -> str:
            await check_chain_ids([url], expected, what)
            if url.startswith(("ws://", "wss://")):
                return f"chain {expected}"
            async with AsyncRpc([url]) as rpc:
                number, stamp = await _head(rpc)
            age = max(0, int(time.time()) - stamp)
            limit = settings.supervisor_ready_max_block_age_s
            if age > limit:
                if not _local(deployment):
                    raise ConfigError(
                        f"head #{number} of {shown(url)} is {age} s old (SUPERVISOR_READY_MAX_BLOCK_AGE_S "
                        f"{limit}): the node is not following the chain"
                    )
                return f"chain {expected}, head #{number} ({age} s old: a local chain mines on demand)"
            return f"chain {expected}, head #{number} {age} s old"

        check = report.add(
            await _attempt(
                f"rpc {shown(url)}",
                probe,
                fix="use an endpoint of the deployment's chain that is synced (COPY_TRADING_RPC_URLS)",
            )
        )
        ok = ok and check.ok
    return ok


def _contracts_in_use(settings: Settings, deployment: Deployment) -> dict[str, str]:
    c = deployment.contracts
    used = {
        "the Executor (deployment.json or EXECUTOR_ADDRESS)": c.executor,
        "the ProxyFactory (deployment.json or PROXY_FACTORY_ADDRESS)": c.proxy_factory,
        "the collateral (deployment.json or USDC_ADDRESS)": c.collateral,
        "the CTF (deployment.json or CTF_ADDRESS)": c.ctf,
    }
    if settings.copy_trading_venue == "clob":
        for name in ("ctf_exchange_v2", "neg_risk_exchange_v2"):
            address = getattr(c, name)
            if address is not None:
                used[f"{name} (deployment.json)"] = address
    elif c.local_exchange is not None:
        used["the LocalExchange (deployment.json)"] = c.local_exchange
    return used


def _checksummed(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return Web3.to_checksum_address(value)
    return value


class ExecutorReader:
    """View calls on the Executor, encoded and decoded from its compiled ABI."""

    def __init__(self, rpc: AsyncRpc, address: str) -> None:
        self.rpc = rpc
        self.address = Web3.to_checksum_address(address)
        self.contract = Web3().eth.contract(address=self.address, abi=load_artifact("Executor").abi)

    async def call(self, name: str, *args: Any) -> Any:
        fn = self.contract.get_function_by_name(name)
        data = self.contract.encode_abi(name, [_checksummed(a) for a in args])
        out = await self.rpc.call("eth_call", [{"to": self.address, "data": data}, "latest"])
        raw = bytes.fromhex(str(out or "0x").removeprefix("0x"))
        types = [o["type"] for o in fn.abi.get("outputs", [])]
        if len(raw) < 32 * len(types):
            raise ChainError(f"Executor {self.address}: {name}() gave no answer (not our Executor?)")
        return decode(types, raw)[0]


def readiness_fleet(settings: Settings, deployment: Deployment) -> list[Signer]:
    """The fleet the supervisor would trade with (before sharding): on the local chain, the test mnemonic's
    by default and only the deployment's fleet."""
    fleet = fleet_signers(settings, default_mnemonic=TEST_MNEMONIC if _local(deployment) else None)
    authorised = {a.lower() for a in deployment.accounts.fleet}
    if authorised:
        fleet = [f for f in fleet if f.address in authorised]
    return fleet


async def executor_checks(
    rpc: AsyncRpc, settings: Settings, deployment: Deployment, fleet: Sequence[Signer], report: Readiness
) -> None:
    """Not paused; collateral and CTF allowlisted with their kinds; the fleet authorised as workers."""
    c = deployment.contracts
    executor = ExecutorReader(rpc, c.executor)

    async def paused() -> str:
        if await executor.call("paused"):
            raise ConfigError(f"the Executor {c.executor} is paused: every pull and push reverts")
        return "not paused"

    report.add(await _attempt("executor paused", paused, fix="the Executor's owner calls setPaused(false)"))

    async def allowlist() -> str:
        erc20, erc1155 = await executor.call("KIND_ERC20"), await executor.call("KIND_ERC1155")
        wrong = []
        for what, token, kind in (("collateral", c.collateral, erc20), ("CTF", c.ctf, erc1155)):
            if await executor.call("tokenKind", Web3.to_checksum_address(token)) != kind:
                wrong.append(f"the {what} {token}")
        if wrong:
            raise ConfigError(f"the Executor's allowlist lacks {' and '.join(wrong)}")
        return "holds the collateral (ERC-20) and the CTF (ERC-1155)"

    report.add(
        await _attempt(
            "executor allowlist", allowlist, fix="the Executor's owner calls setToken(token, kind) for each"
        )
    )

    async def authorised() -> Check:
        missing = [s.address for s in fleet if not await executor.call("isWorker", s.address)]
        name = "fleet authorised"
        fix = "the Executor's owner authorises them: `polyhunter fleet setup` or setWorkers(addresses, true)"
        if len(missing) == len(fleet):
            return Check(name, False, f"none of the {len(fleet)} fleet wallets is a worker", "fatal", fix)
        if missing:
            return Check(
                name,
                False,
                f"{len(missing)} of {len(fleet)} fleet wallets not workers: {', '.join(missing)}",
                "warning",
                fix,
            )
        return Check(name, True, f"all {len(fleet)} fleet wallets are workers", "fatal", fix)

    try:
        report.add(await authorised())
    except PolyhunterError as exc:
        report.add(Check("fleet authorised", False, str(exc)))


async def gas_checks(
    rpc: AsyncRpc, settings: Settings, deployment: Deployment, fleet: Sequence[Signer], report: Readiness
) -> None:
    """Each fleet wallet above the refuel threshold (a warning each), the funder above a refuel round."""
    threshold = settings.copy_trading_refuel_below_wei
    for signer in fleet:
        gas = int(await rpc.call("eth_getBalance", [signer.address, "latest"]), 16)
        ok = gas >= threshold
        report.add(
            Check(
                f"gas {signer.address}",
                ok,
                f"{gas} wei" + ("" if ok else f", under COPY_TRADING_REFUEL_BELOW_WEI {threshold}"),
                "warning",
                "send it gas, or set FUNDER_PRIVATE_KEY so the supervisor refuels it",
            )
        )
    round_wei = settings.copy_trading_refuel_amount_wei * len(fleet)
    funder = settings.funder_private_key
    if funder is None:
        # A local world's wallets start with plenty; on a real chain gas runs out unattended.
        report.add(
            Check(
                "funder",
                _local(deployment),
                "FUNDER_PRIVATE_KEY unset: fleet wallets are not refuelled",
                "warning",
                "set FUNDER_PRIVATE_KEY to a funded key",
            )
        )
        return
    address = Signer(funder.get_secret_value()).address
    gas = int(await rpc.call("eth_getBalance", [address, "latest"]), 16)
    report.add(
        Check(
            "funder",
            gas >= round_wei,
            f"{address} holds {gas} wei; a refuel round of the whole fleet needs {round_wei}",
            "warning",
            f"send the funder {address} gas",
        )
    )


async def store_check(settings: Settings, report: Readiness) -> None:
    """The store opens and its schema is this version's latest."""

    async def schema() -> str:
        store = await open_store(settings)
        try:
            version = await store.schema_version()
        finally:
            await store.close()
        if version != LATEST:
            raise ConfigError(
                f"the store's schema is version {version}, this polyhunter's is {LATEST} "
                "(a newer polyhunter migrated it)"
            )
        return f"schema at version {LATEST}"

    report.add(
        await _attempt("store", schema, fix="check DATABASE_URL / POLYHUNTER_HOME; upgrade polyhunter")
    )


async def redis_check(settings: Settings, report: Readiness) -> None:
    """Redis answers and the job stream's consumer group exists (a warning until a supervisor made it)."""
    url = settings.shared_redis_url
    if url is None:
        return
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    variable = "SUPERVISOR_REDIS_URL" if settings.supervisor_redis_url is not None else "REDIS_URL"
    stream = "{" + settings.supervisor_redis_prefix + "}:jobs"
    client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=HTTP_TIMEOUT_S)
    try:
        await client.ping()
        try:
            groups = await client.xinfo_groups(stream)
        except RedisError:
            groups = []
    except (RedisError, OSError) as exc:
        report.add(
            Check(
                "redis",
                False,
                f"{variable}: cannot connect to Redis: {type(exc).__name__} ({mask_url(url)})",
                fix=f"start Redis or correct {variable}",
            )
        )
        return
    finally:
        await client.aclose()
    names = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups}
    report.add(Check("redis", True, f"reachable ({mask_url(url)})"))
    report.add(
        Check(
            "redis stream group",
            "workers" in names,
            f"group workers on {stream}" + ("" if "workers" in names else " absent"),
            "warning",
            "the first supervisor start creates it",
        )
    )


async def geoblock_check(settings: Settings, deployment: Deployment, report: Readiness) -> None:
    """The geoblock endpoint (CLOB_GEOBLOCK_URL, else the CLOB's) says this host may trade."""
    from polyhunter.execution.clobvenue import clob_host

    async def ask() -> str:
        url = settings.clob_geoblock_url or clob_host(deployment, settings).rstrip("/") + "/api/geoblock"
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as reply:
            if reply.status != 200:
                raise ConfigError(f"{mask_url(url)} answered HTTP {reply.status}")
            body = await reply.json(content_type=None)
        blocked = body.get("blocked") if isinstance(body, dict) else None
        if not isinstance(blocked, bool):
            raise ConfigError(f"{mask_url(url)}: no `blocked` in its answer")
        if blocked:
            raise ConfigError(f"{mask_url(url)}: this host is geoblocked; the CLOB refuses its orders")
        return f"not blocked ({mask_url(url)})"

    report.add(await _attempt("geoblock", ask, fix="trade from a region the CLOB serves (CLOB_GEOBLOCK_URL)"))


async def clob_checks(
    rpc: AsyncRpc, settings: Settings, deployment: Deployment, fleet: Sequence[Signer], report: Readiness
) -> None:
    """Per fleet wallet: API key derivable (L1), deposit wallet deployed, approved and accepting the worker's
    orders. A wallet short of any is a warning; no wallet able to trade is fatal."""
    from polyhunter.execution.clobvenue import make_clob_venue
    from polyhunter.execution.fleet import OperatorWallet
    from polyhunter.fleetsetup.status import fleet_status
    from polyhunter.fleetsetup.world import load_world

    fix = "`polyhunter fleet setup` (deposit wallet, approvals, registration, API key)"
    try:
        world = await load_world(settings, deployment, rpc)
        statuses = await fleet_status(rpc, world, fleet, settings.clob_deposit_wallets)
        venue = make_clob_venue(deployment, settings, rpc)
    except PolyhunterError as exc:
        report.add(Check("clob fleet", False, str(exc), fix=fix))
        return
    able = 0
    for signer, status in zip(fleet, statuses, strict=True):
        problems = []
        # No key yet is fine (the venue creates one at start); a CLOB that does not answer L1 auth is not.
        if status.api_key in ("unreachable", "no_host"):
            problems.append(f"API key not derivable (CLOB {status.api_key.replace('_', ' ')})")
        if not status.deployed:
            problems.append(f"deposit wallet {status.wallet or '(unknown)'} not deployed")
        else:
            # Copies need the exchanges and the Executor; the adapters only serve split/merge/convert.
            missing = [(t, n) for t, n in status.missing_approvals if n in TRADING_SPENDERS]
            if missing:
                problems.append("not approved: " + ", ".join(f"{t} → {s}" for t, s in missing))
            try:
                await venue.check_wallet(OperatorWallet(signer))
            except PolyhunterError as exc:
                problems.append(str(exc))
        if not problems:
            able += 1
        key = "API key exists" if status.api_key == "exists" else "no API key yet (made at start)"
        detail = "; ".join(problems) or f"{key}; wallet {status.wallet} deployed, approved, accepting orders"
        report.add(Check(f"clob {signer.address}", not problems, detail, "warning", fix))
    report.add(
        Check(
            "clob fleet",
            able > 0,
            f"{able} of {len(fleet)} fleet wallets can trade on the CLOB",
            fix=fix,
        )
    )
    await geoblock_check(settings, deployment, report)


async def feed_check(
    settings: Settings, deployment: Deployment, report: Readiness, timeout_s: float = HTTP_TIMEOUT_S
) -> None:
    """The activity feed answers a ping, where the supervisor would run it (a warning: logs stay exact)."""
    from polyhunter.detector.feed import feed_url, probe
    from polyhunter.supervisor.sources import FEED, enabled_sources

    url = feed_url(settings.supervisor_feed_url, deployment.chain_id, deployment.rtds_url)
    if FEED not in enabled_sources(settings, None, url) or url is None:
        return
    fix = "check SUPERVISOR_FEED_URL (or leave feed out of SUPERVISOR_SOURCES)"
    report.add(await _attempt("activity feed", lambda: probe(url, timeout_s), fix, "warning"))


async def load_ready_deployment(settings: Settings) -> Deployment:
    """What the supervisor would run on (the production profile on 137/80002, else deployment.json)."""
    from polyhunter.supervisor.app import load_deployment

    try:
        return await load_deployment(settings)
    except PolyhunterError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"no usable deployment.json under POLYHUNTER_HOME ({exc}); run `polyhunter chain up` or "
            "`polyhunter deploy` first"
        ) from None


async def check_readiness(settings: Settings) -> Readiness:
    """Every check for `settings`, in the order the supervisor's start-up meets them."""
    report = Readiness()
    report.add(settings_check(settings))
    try:
        deployment = await load_ready_deployment(settings)
    except PolyhunterError as exc:
        report.add(Check("deployment", False, str(exc), fix="`polyhunter chain up` or `polyhunter deploy`"))
        return report
    report.add(Check("deployment", True, f"chain {deployment.chain_id}"))
    if not await rpc_checks(settings, deployment, report):
        return report
    async with AsyncRpc([u for u in rpc_urls_to_check(settings, deployment) if u.startswith("http")]) as rpc:
        try:
            deployment = await apply_address_settings(settings, deployment, rpc)
        except PolyhunterError as exc:
            report.add(Check("address settings", False, str(exc), fix="correct the address named"))
            return report
        coded = True
        for name, address in _contracts_in_use(settings, deployment).items():
            check = report.add(
                await _attempt(
                    f"code {address}",
                    _has_code(rpc, name, address),
                    fix="point the setting (or deployment.json) at the deployed contract",
                )
            )
            coded = coded and check.ok
        await store_check(settings, report)
        await redis_check(settings, report)
        await feed_check(settings, deployment, report)
        try:
            fleet = readiness_fleet(settings, deployment)
            if not fleet:
                raise ConfigError("TRADING_MNEMONIC: none of its wallets is in the deployment's fleet")
        except PolyhunterError as exc:
            report.add(Check("fleet", False, str(exc), fix="set TRADING_MNEMONIC to the deployment's fleet"))
            return report
        report.add(Check("fleet", True, f"{len(fleet)} wallets"))
        if coded:
            await executor_checks(rpc, settings, deployment, fleet, report)
        await gas_checks(rpc, settings, deployment, fleet, report)
        if settings.copy_trading_venue == "clob":
            await clob_checks(rpc, settings, deployment, fleet, report)
    return report


def _has_code(rpc: AsyncRpc, name: str, address: str) -> Callable[[], Awaitable[str]]:
    async def work() -> str:
        await require_code(rpc, {name: address})
        return name

    return work
