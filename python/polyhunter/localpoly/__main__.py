"""`python -m polyhunter.localpoly --deployment PATH [--host] [--port] [--rtds-port]`: runs the local CLOB
(and its activity feed) until SIGTERM or SIGINT, printing its URLs first."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from polyhunter.chain.deployment import Deployment
from polyhunter.errors import PolyhunterError
from polyhunter.localpoly.server import LocalClob


async def _serve(args: argparse.Namespace) -> None:
    deployment = Deployment.load(Path(args.deployment))
    clob = LocalClob(
        deployment, host=args.host, port=args.port, rtds_port=args.rtds_port, allow_remote=args.allow_remote
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with clob:
        print(f"clob_url={clob.url}", flush=True)
        if clob.rtds_url:
            print(f"rtds_url={clob.rtds_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polyhunter.localpoly", description=__doc__)
    parser.add_argument("--deployment", required=True, help="deployment.json of the local world")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtds-port", type=int, default=None)
    parser.add_argument("--allow-remote", action="store_true", help="bind a non-loopback host (never needed)")
    args = parser.parse_args(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except PolyhunterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
