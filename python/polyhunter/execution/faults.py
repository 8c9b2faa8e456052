"""Test-only crash points: `POLYHUNTER_FAULTPOINT=name` kills the process with SIGKILL at `faultpoint(name)`.

Used by the integration tests to prove that a crash between two durable steps (queue and store, broadcast
and bookkeeping, pull and fill) loses nothing and repeats nothing. Unset in production: one dict lookup.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


def faultpoint(name: str) -> None:
    """SIGKILL this process here when `POLYHUNTER_FAULTPOINT` is `name`."""
    if os.environ.get("POLYHUNTER_FAULTPOINT") == name:
        log.warning("fault point %s: SIGKILL", name)
        os.kill(os.getpid(), signal.SIGKILL)
