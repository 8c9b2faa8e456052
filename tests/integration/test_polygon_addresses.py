"""The production address table: an address is used only when the chain shows code at it (anvil stands in
for Polygon: code is planted with anvil_setCode)."""

from __future__ import annotations

import pytest

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.anvil import Anvil
from polyhunter.chain.polygon import POLYGON, Published, resolve
from polyhunter.errors import ConfigError

pytestmark = pytest.mark.integration

TABLE = {
    "adapter": Published(
        "adapter",
        ("0xADa100874d00e3331D00F2007a9c336a65009718", "0xAdA100Db00Ca00073811820692005400218FcE1f"),
        "test",
    )
}


def test_the_collateral_adapters_keep_both_published_addresses() -> None:
    for name in ("collateral_adapter", "neg_risk_collateral_adapter"):
        entry = POLYGON[name]
        assert not entry.agreed
        assert len({a.lower() for a in entry.candidates}) == 2
    assert POLYGON["ctf_exchange_v2"].candidates == ("0xE111180000d2663C0091e4f400237545B87B996B",)


async def _set_code(rpc: AsyncRpc, address: str, code: str) -> None:
    await rpc.call("anvil_setCode", [address, code])


@pytest.mark.asyncio
async def test_resolve_picks_the_candidate_with_code_and_refuses_none_or_both(anvil: Anvil) -> None:
    first, second = TABLE["adapter"].candidates
    async with AsyncRpc([anvil.rpc_url]) as rpc:
        try:
            with pytest.raises(ConfigError, match="none of the published addresses"):
                await resolve(rpc, "adapter", TABLE)
            await _set_code(rpc, second, "0x6000")
            assert await resolve(rpc, "adapter", TABLE) == second.lower()
            await _set_code(rpc, first, "0x6000")
            with pytest.raises(ConfigError, match="several published addresses have code"):
                await resolve(rpc, "adapter", TABLE)
            with pytest.raises(ConfigError, match="no published address"):
                await resolve(rpc, "nothing", TABLE)
        finally:
            for address in (first, second):
                await _set_code(rpc, address, "0x")
