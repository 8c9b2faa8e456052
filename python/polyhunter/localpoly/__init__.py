"""The local Polymarket: a CLOB V2 server that the official client works against, settling every match on
anvil through the V2 exchange as the operator, with a market maker and an activity feed.

Never imported by the supervisor; `polyhunter chain up` runs it as `python -m polyhunter.localpoly`.
"""

from __future__ import annotations

from polyhunter.localpoly.config import ClobSettings, MarketMakerSettings
from polyhunter.localpoly.server import LocalClob
from polyhunter.localpoly.world import ClobMarket, ClobWorld, world_from_deployment

__all__ = [
    "ClobMarket",
    "ClobSettings",
    "ClobWorld",
    "LocalClob",
    "MarketMakerSettings",
    "world_from_deployment",
]
