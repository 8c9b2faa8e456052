"""`polyhunter load-model`: the capacity model, for given parameters or a measured load simulation."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import click

from polyhunter.errors import InvalidInputError
from polyhunter.loadmodel import LoadModel, LoadParams, fmt, model


def _lines(result: LoadModel, title: str) -> list[str]:
    return [
        title,
        f"  copies/day             {fmt(result.copies_per_day, 0)}",
        f"  copies/s               {fmt(result.copies_per_s, 2)}",
        f"  followers per leader   {fmt(result.followers_per_leader, 0)}",
        f"  leader trades/s        {fmt(result.leader_trades_per_s, 3)}",
        f"  per-instance /s        {fmt(result.per_instance_per_s, 2)}",
        f"  instances              {fmt(result.instances, 2)}",
        f"  instances (ceil)       {result.instances_ceil}  "
        f"(1x {result.instances_ceil} / 2x {result.instances_ceil * 2} / 3x {result.instances_ceil * 3})",
        f"  with {result.headroom}x headroom       {result.instances_with_headroom}",
    ]


def _as_json(result: LoadModel) -> dict[str, object]:
    return {
        "copies_per_day": int(result.copies_per_day),
        "copies_per_s": float(fmt(result.copies_per_s, 2).replace(",", "")),
        "followers_per_leader": float(result.followers_per_leader),
        "leader_trades_per_s": float(fmt(result.leader_trades_per_s, 3).replace(",", "")),
        "per_instance_per_s": float(fmt(result.per_instance_per_s, 2).replace(",", "")),
        "instances": float(fmt(result.instances, 2).replace(",", "")),
        "instances_ceil": result.instances_ceil,
        "instances_with_headroom": result.instances_with_headroom,
        "headroom": result.headroom,
    }


@click.command("load-model")
@click.option("--users", type=int, default=10_000, show_default=True)
@click.option("--follows", type=int, default=10, show_default=True, help="Leaders each user follows.")
@click.option("--copies-per-user-day", type=int, default=5_000, show_default=True)
@click.option("--leaders", type=int, default=1_000, show_default=True)
@click.option("--exec-latency-ms", type=int, default=1_000, show_default=True)
@click.option("--workers", type=int, default=20, show_default=True, help="Executions in flight per instance.")
@click.option("--headroom", type=int, default=2, show_default=True)
@click.option(
    "--from-loadsim",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A `polyhunter loadsim --json` result: also model polyhunter's measured throughput.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def load_model(
    users: int,
    follows: int,
    copies_per_user_day: int,
    leaders: int,
    exec_latency_ms: int,
    workers: int,
    headroom: int,
    from_loadsim: Path | None,
    as_json: bool,
) -> None:
    """Capacity model: copies/s a user base makes and the instances it needs."""
    try:
        params = LoadParams(users, follows, copies_per_user_day, leaders, exec_latency_ms, workers, headroom)
        earlier = model(params)
        measured = None
        if from_loadsim is not None:
            sim = json.loads(from_loadsim.read_text().strip().splitlines()[-1])
            measured = model(params, per_instance_per_s=Fraction(str(sim["tasks_per_s"])))
    except (InvalidInputError, KeyError, ValueError) as exc:
        raise click.ClickException(f"load-model: {exc}") from exc
    if as_json:
        out: dict[str, object] = {"model": _as_json(earlier)}
        if measured is not None:
            out["measured"] = _as_json(measured)
        click.echo(json.dumps(out))
        return
    title = f"Load model ({workers} executions in flight at {exec_latency_ms} ms each)"
    click.echo("\n".join(_lines(earlier, title)))
    if measured is not None:
        click.echo("\n".join(_lines(measured, f"polyhunter measured ({from_loadsim})")))


COMMANDS = [load_model]
