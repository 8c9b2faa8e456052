"""`polyhunter loadsim`: synthetic leader fills through the real pipeline (see polyhunter.loadsim)."""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from polyhunter.commands._common import enter_store
from polyhunter.errors import ConfigError, PolyhunterError, StoreError

if TYPE_CHECKING:  # the pipeline loads asyncpg and redis: imported when the simulation runs, not for `--help`
    from polyhunter.loadsim import LoadSimParams, LoadSimResult
    from polyhunter.settings import Settings

T = TypeVar("T")

_FLAGS = {"SUPERVISOR_REDIS_URL": "--redis", "DATABASE_URL": "--database-url"}
"""Settings the flags fill in: an error about one of them names the flag the user typed."""


class FiniteRange(click.FloatRange):
    """A float range that also refuses nan and inf (which compare false against any bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _flag_error(make: Callable[[], T]) -> T:
    try:
        return make()
    except ConfigError as exc:
        message = str(exc)
        for variable, flag in _FLAGS.items():
            if message.startswith(variable + ":"):
                raise ConfigError(flag + message.removeprefix(variable)) from None
        raise


async def _simulate(
    params: LoadSimParams,
    home: Path,
    redis: str | None,
    database_url: str | None,
    quiet: bool,
    prefix: str | None = None,
) -> LoadSimResult:
    async with AsyncExitStack() as stack:
        return await _simulate_in(stack, params, home, redis, database_url, quiet, prefix)


async def _simulate_in(
    stack: AsyncExitStack,
    params: LoadSimParams,
    home: Path,
    redis: str | None,
    database_url: str | None,
    quiet: bool,
    prefix: str | None = None,
) -> LoadSimResult:
    from polyhunter.loadsim import run_loadsim
    from polyhunter.settings import load_settings, mask_url
    from polyhunter.shared import create_shared_state

    overrides: dict[str, object] = {"polyhunter_home": home, "supervisor_queue_max_size": params.queue_max}
    if redis:
        overrides["supervisor_redis_url"] = redis
        overrides["supervisor_redis_prefix"] = f"loadsim:{home.name}"
    if prefix:
        overrides["supervisor_redis_prefix"] = prefix  # the instances of one run share their keys
    if database_url:
        overrides["database_url"] = database_url
    settings: Settings = _flag_error(lambda: load_settings(**overrides))
    store = await enter_store(stack, settings)
    shared = create_shared_state(settings)
    try:
        await shared.open()
    except StoreError as exc:
        # The URL came from the flag, not from SUPERVISOR_REDIS_URL: the message names the flag.
        raise ConfigError(f"--redis: {exc} ({mask_url(redis or '')})") from None
    stack.push_async_callback(shared.close)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]loadsim"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as progress:
        task = progress.add_task("run", total=1.0, status="")

        def update(fraction: float, sample: dict[str, float]) -> None:
            status = (
                f"{sample['tasks_per_s']:,.0f} tasks/s  depth {sample['depth']:,.0f}  "
                f"lag p50 {sample['lag_p50_ms']:.1f} ms"
            )
            progress.update(task, completed=fraction, status=status)

        return await run_loadsim(params, store, shared, update)


@click.command("loadsim")
@click.option(
    "--duration",
    "duration_s",
    type=FiniteRange(0, 86_400, min_open=True),
    default=20.0,
    show_default=True,
    help="Seconds of offered load.",
)
@click.option(
    "--events-per-s",
    type=FiniteRange(0, 1_000_000, min_open=True),
    default=100.0,
    show_default=True,
    help="Leader fills per second.",
)
@click.option(
    "--followers",
    type=click.IntRange(1, 1_000_000),
    default=100,
    show_default=True,
    help="Followers per leader.",
)
@click.option("--leaders", type=click.IntRange(1, 100_000), default=10, show_default=True)
@click.option(
    "--exec-latency-ms",
    type=FiniteRange(0, 600_000),
    default=30.0,
    show_default=True,
    help="Simulated venue latency.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Executions in flight (default: the supervisor's).",
)
@click.option(
    "--burst",
    type=click.IntRange(0, 1_000_000),
    default=0,
    help="One leader with this many followers fills once: time from the log to the last copy handed over.",
)
@click.option(
    "--instances",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Run this many sharded supervisor processes sharing --database-url and --redis; report the sum.",
)
@click.option("--instance", type=click.IntRange(0, 63), default=None, hidden=True)
@click.option("--shared-prefix", default=None, hidden=True)
@click.option("--redis", help="Share state through this Redis (default: in-process memory).")
@click.option("--database-url", help="Store in this PostgreSQL (default: a scratch SQLite file).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw throughput and lag to a PNG."
)
def loadsim(
    duration_s: float,
    events_per_s: float,
    followers: int,
    leaders: int,
    exec_latency_ms: float,
    concurrency: int | None,
    burst: int,
    instances: int,
    instance: int | None,
    shared_prefix: str | None,
    redis: str | None,
    database_url: str | None,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Push synthetic leader signals through decoder, dispatcher, guardrails, queue, workers and store."""
    from polyhunter import eventloop
    from polyhunter.loadsim import LoadSimParams
    from polyhunter.settings import load_settings

    logging.basicConfig(level=logging.WARNING)
    if instances > 1 and instance is None:
        if not (redis and database_url):
            raise click.UsageError(
                "--instances needs --database-url (PostgreSQL) and --redis: they share them"
            )
        if burst:
            raise click.UsageError("--burst is one leader's fill: it runs in one instance")
    try:
        defaults = load_settings()
        params = LoadSimParams(
            duration_s=duration_s,
            events_per_s=events_per_s,
            followers=followers,
            leaders=leaders,
            exec_latency_ms=exec_latency_ms,
            concurrency=concurrency or defaults.supervisor_exec_concurrency,
            # A burst is admitted whole: the queue is sized for its followers.
            queue_max=max(defaults.supervisor_queue_max_size, burst),
            burst=burst,
            instance=instance or 0,
            instances=instances,
        )
        if instances > 1 and instance is None:
            assert redis is not None
            assert database_url is not None
            result = _run_instances(params, redis, database_url, defaults.polyhunter_event_loop)
        else:
            with tempfile.TemporaryDirectory(prefix="polyhunter-loadsim-") as scratch:
                result = eventloop.run(
                    _simulate(params, Path(scratch), redis, database_url, as_json, shared_prefix),
                    loop=defaults.polyhunter_event_loop,
                )
    except PolyhunterError as exc:
        raise click.ClickException(str(exc)) from None
    if plot is not None:
        from polyhunter.loadsim_plot import draw

        draw(result, plot)
    r = result
    offered = (
        f"burst of {r.burst_followers:,}: last copy handed over "
        f"{r.burst_last_handoff_ms:,.1f} ms after the log"
        if r.burst_followers
        else f"offered {r.offered_tasks_per_s:,.0f}/s of {r.nominal_tasks_per_s:,.0f}/s asked"
    )
    group = f" | {r.instances} instances" if r.instances > 1 else ""
    summary = (
        f"throughput {r.tasks_per_s:,.1f} tasks/s ({r.executed:,} EXECUTED in {r.elapsed_s:.1f}s; "
        f"{offered}) | concurrency {r.concurrency} | "
        f"hand-off p50 {r.handoff_p50_ms:.1f} ms p99 {r.handoff_p99_ms:.1f} ms | "
        f"CPU {r.cpu_us_per_task:,.0f} us/task | "
        f"queue lag p50 {r.lag_p50_ms:.1f} ms p99 {r.lag_p99_ms:.1f} ms max {r.lag_max_ms:.1f} ms | "
        f"max depth {r.max_depth:,} | dropped {r.dropped:,} | peak RSS {r.peak_rss_mb:.0f} MB | "
        f"{r.store} + {r.shared} | loop {r.event_loop}{group}"
    )
    if as_json:
        click.echo(summary, err=True)
        data = result.to_json()
        data.pop("timeline")
        click.echo(json.dumps(data))
    else:
        click.echo(summary)


def _run_instances(params: LoadSimParams, redis: str, database_url: str, loop: str | None) -> LoadSimResult:
    """Seeds the store once, runs `params.instances` instance processes (each `loadsim --instance i`,
    sharing the store, the Redis queue and its keys) at once, then aggregates what they report."""
    import os
    import subprocess
    import sys
    import uuid

    from polyhunter import eventloop
    from polyhunter.loadsim import LoadSimResult, aggregate

    prefix = f"loadsim:{uuid.uuid4().hex[:12]}"
    eventloop.run(_seed(params, database_url), loop=loop)
    # The URLs go to the instances in their environment (the settings they read), never in argv.
    env = {**os.environ, "DATABASE_URL": database_url, "SUPERVISOR_REDIS_URL": redis}
    argv = [sys.executable, "-m", "polyhunter.cli", "loadsim", "--json", "--instances", str(params.instances)]
    argv += ["--shared-prefix", prefix, "--duration", repr(params.duration_s)]
    argv += ["--events-per-s", repr(params.events_per_s), "--followers", str(params.followers)]
    argv += ["--leaders", str(params.leaders), "--exec-latency-ms", repr(params.exec_latency_ms)]
    argv += ["--concurrency", str(params.concurrency)]
    children = [
        subprocess.Popen(  # noqa: S603 - our own CLI, argv built here
            [*argv, "--instance", str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(params.instances)
    ]
    runs: list[LoadSimResult] = []
    failures: list[str] = []
    for i, child in enumerate(children):
        out, err = child.communicate()
        if child.returncode != 0:
            failures.append(
                f"instance {i} exited {child.returncode}: {(err.strip().splitlines() or [''])[-1]}"
            )
            continue
        data = json.loads(out.strip().splitlines()[-1])
        runs.append(LoadSimResult(**data))
    if failures:
        raise PolyhunterError("; ".join(failures))
    executed = eventloop.run(_executed(database_url), loop=loop)
    return aggregate(runs, executed, params.events_per_s)


async def _seed(params: LoadSimParams, database_url: str) -> None:
    """The configs every instance loads (into an empty store)."""
    import random

    from polyhunter.errors import InvalidInputError
    from polyhunter.loadsim import seed_configs
    from polyhunter.settings import load_settings

    async with AsyncExitStack() as stack:
        settings = _flag_error(lambda: load_settings(database_url=database_url))
        store = await enter_store(stack, settings)
        if await store.count_trades() or await store.list_configs():
            raise InvalidInputError(
                "loadsim needs an empty store: give --database-url a fresh database or schema"
            )
        await seed_configs(store, params, random.Random(params.seed))  # noqa: S311 - synthetic load


async def _executed(database_url: str) -> int:
    from polyhunter.models import TradeStatus
    from polyhunter.settings import load_settings

    async with AsyncExitStack() as stack:
        store = await enter_store(stack, _flag_error(lambda: load_settings(database_url=database_url)))
        return await store.count_trades(TradeStatus.EXECUTED)


COMMANDS = [loadsim]
