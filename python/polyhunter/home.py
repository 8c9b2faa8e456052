"""Where polyhunter keeps its local files: `$POLYHUNTER_HOME`, default `./.polyhunter/`."""

from __future__ import annotations

import os
from pathlib import Path


def polyhunter_home() -> Path:
    """The directory for the SQLite file, `deployment.json` and local chain state (created on demand)."""
    home = Path(os.environ.get("POLYHUNTER_HOME") or ".polyhunter")
    home.mkdir(parents=True, exist_ok=True)
    return home
