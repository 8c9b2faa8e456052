"""Polymarket's contracts on Polygon (chain id 137), and the rule that an address is trusted only once the
chain shows code at it.

Public sources disagree on some addresses: the collateral adapters are published as one pair in Polymarket's
ctf-exchange-v2 README and as another in Polymarket's newer official client (`polymarket-client`). Such
entries keep every published candidate, and `resolve` picks the one with code on the chain it is given
(refusing when none or several have code), so nothing takes an address from this table on faith.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.errors import ConfigError

POLYGON_CHAIN_ID = 137


@dataclass(frozen=True)
class Published:
    """A contract of Polymarket's, with every address public sources give for it (checksummed)."""

    name: str
    candidates: tuple[str, ...]
    sources: str

    @property
    def agreed(self) -> bool:
        """True when every source gives the same address."""
        return len(self.candidates) == 1


POLYGON: dict[str, Published] = {
    p.name: p
    for p in (
        Published("ctf", ("0x4D97DCd97eC945f40cF65F87097ACe5EA0476045",), "every client"),
        Published("usdce", ("0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174",), "every client"),
        Published("pusd", ("0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",), "ctf-exchange-v2, clients"),
        Published("ctf_exchange_v1", ("0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E",), "every V1 client"),
        Published("neg_risk_exchange_v1", ("0xC5d563A36AE78145C45a50134d48A1215220f80a",), "every V1 client"),
        Published(
            "ctf_exchange_v2", ("0xE111180000d2663C0091e4f400237545B87B996B",), "ctf-exchange-v2, clients"
        ),
        Published(
            "neg_risk_exchange_v2",
            ("0xe2222d279d744050d28e00520010520000310F59",),
            "ctf-exchange-v2, clients",
        ),
        Published("onramp", ("0x93070a847efEf7F70739046A929D47a521F5B8ee",), "ctf-exchange-v2 README"),
        Published("offramp", ("0x2957922Eb93258b93368531d39fAcCA3B4dC5854",), "ctf-exchange-v2 README"),
        Published("neg_risk_adapter", ("0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",), "every client"),
        Published(
            "deposit_wallet_factory",
            ("0x00000000000Fb5C9ADea0298D729A0CB3823Cc07",),
            "polymarket-client 0.14",
        ),
        Published(
            "collateral_adapter",
            ("0xADa100874d00e3331D00F2007a9c336a65009718", "0xAdA100Db00Ca00073811820692005400218FcE1f"),
            "ctf-exchange-v2 README / polymarket-client 0.14",
        ),
        Published(
            "neg_risk_collateral_adapter",
            ("0xAdA200001000ef00D07553cEE7006808F895c6F1", "0xadA2005600Dec949baf300f4C6120000bDB6eAab"),
            "ctf-exchange-v2 README / polymarket-client 0.14",
        ),
    )
}


# The entries each rule of the log decoder (rust/src/logs) and the pending-transaction decoder
# (rust/src/calldata) relies on, by the `LogDecoder` / `MatchDecoder` argument that carries them.
DECODER_ROLES: dict[str, tuple[str, ...]] = {
    # TransferSingle / TransferBatch are read from it.
    "ctf": ("ctf",),
    # V1 OrderFilled: a signal for the maker row; the exchange's own CTF transfers are not a second one.
    "v1_exchanges": ("ctf_exchange_v1", "neg_risk_exchange_v1"),
    # V2 OrderFilled, and the pending matchOrders calls whose orders are hashed under each one's domain.
    "v2_exchanges": ("ctf_exchange_v2", "neg_risk_exchange_v2"),
    # Never a trade: transfers they operate (V1 neg-risk fills go through the NegRiskAdapter), send or
    # receive are splits, merges, conversions and redemptions.
    "non_trading": (
        "neg_risk_adapter",
        "collateral_adapter",
        "neg_risk_collateral_adapter",
        "onramp",
        "offramp",
    ),
}


def decoder_addresses(table: dict[str, Published] | None = None) -> dict[str, list[str]]:
    """Every published candidate (lower-case) of each decoder role: a role's rule may hold an address
    that has no code on the chain in use, since it only ever matches what that chain's logs name."""
    entries = table or POLYGON
    return {
        role: [a.lower() for name in names for a in entries[name].candidates]
        for role, names in DECODER_ROLES.items()
    }


async def has_code(rpc: AsyncRpc, address: str) -> bool:
    """True when the chain holds contract code at `address` (at the latest block)."""
    code = await rpc.call("eth_getCode", [address, "latest"])
    return isinstance(code, str) and len(code) > 2


async def resolve(rpc: AsyncRpc, name: str, table: dict[str, Published] | None = None) -> str:
    """The one published address of contract `name` that has code on `rpc`'s chain (lower-case).

    Raises `ConfigError` for an unknown name, when no candidate has code (wrong chain, or the sources are
    stale) and when several do (the caller must choose by setting the address explicitly)."""
    entry = (table or POLYGON).get(name)
    if entry is None:
        raise ConfigError(f"no published address for {name!r}")
    with_code = [a for a in entry.candidates if await has_code(rpc, a)]
    if not with_code:
        raise ConfigError(
            f"{name}: none of the published addresses {', '.join(entry.candidates)} has code on this chain"
        )
    if len(with_code) > 1:
        raise ConfigError(
            f"{name}: several published addresses have code ({', '.join(with_code)}); "
            "set the address explicitly"
        )
    return with_code[0].lower()
