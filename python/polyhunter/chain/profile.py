"""The production profile: the contracts polyhunter uses on Polygon (137) or Amoy (80002), filled in from the
published addresses and the settings, and trusted only once the chain shows code at each of them.

`chain_profile(settings)` is pure: it reads the table (`polygon.POLYGON`; on Amoy only the exchanges and pUSD
from it, the CTF and the NegRiskAdapter from the installed official client's Amoy configuration), lets an
explicit setting win (`USDC_ADDRESS` is the collateral, `CTF_ADDRESS`), and requires our own contracts
(`EXECUTOR_ADDRESS`, `PROXY_FACTORY_ADDRESS`), which have no published address. Entries with several published
candidates (the collateral adapters) stay unresolved until `check_profile` asks the chain which one has code;
it returns the resolved profile and one line per address without code. `production_deployment` turns a
resolved profile into the `Deployment` the supervisor runs on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deployment import Accounts, Contracts, Deployment
from polyhunter.chain.polygon import POLYGON, has_code
from polyhunter.errors import ConfigError
from polyhunter.settings import AMOY_CHAIN_ID, POLYGON_CHAIN_ID, Settings

PROFILE_CHAIN_IDS = frozenset({POLYGON_CHAIN_ID, AMOY_CHAIN_ID})
"""Chains whose contracts are Polymarket's own, never deployed by us."""

# Roles whose address a setting may give, by environment name.
_SETTING_OF_ROLE = {
    "executor": "EXECUTOR_ADDRESS",
    "proxy_factory": "PROXY_FACTORY_ADDRESS",
    "collateral": "USDC_ADDRESS",
    "ctf": "CTF_ADDRESS",
}

# Every optional `Contracts` field the profile may fill, in the order lines are printed.
_TABLE_ROLES = (
    "pusd",
    "usdce",
    "ctf_exchange_v2",
    "neg_risk_exchange_v2",
    "onramp",
    "offramp",
    "neg_risk_adapter",
    "deposit_wallet_factory",
    "collateral_adapter",
    "neg_risk_collateral_adapter",
)

# On Amoy only these come from our Polygon table: the V2 exchanges and pUSD share Polygon's addresses.
_AMOY_FROM_TABLE = ("pusd", "ctf_exchange_v2", "neg_risk_exchange_v2")


@dataclass(frozen=True)
class ProfileAddress:
    """One contract the profile uses: its role, the published candidates (one once resolved, lower-case)
    and where the address came from (a setting's name, our table, the official client)."""

    role: str
    candidates: tuple[str, ...]
    source: str

    @property
    def resolved(self) -> bool:
        return len(self.candidates) == 1

    @property
    def address(self) -> str:
        """The address, or ConfigError while several candidates remain."""
        if not self.resolved:
            raise ConfigError(f"{self.role}: not resolved yet among {', '.join(self.candidates)}")
        return self.candidates[0]


@dataclass(frozen=True)
class ChainProfile:
    """The contracts, CLOB host and deposit wallets of a production chain."""

    chain_id: int
    clob_host: str | None
    entries: tuple[ProfileAddress, ...]
    deposit_wallets: dict[str, str] = field(default_factory=dict)
    """Fleet EOA → its deposit wallet (`CLOB_DEPOSIT_WALLETS`), lower-case."""

    def entry(self, role: str) -> ProfileAddress | None:
        """The entry for `role`, or None where this chain has no such contract."""
        return next((e for e in self.entries if e.role == role), None)

    def address(self, role: str) -> str:
        """The resolved address of `role`; ConfigError when it is absent or still ambiguous."""
        entry = self.entry(role)
        if entry is None:
            raise ConfigError(f"chain {self.chain_id} has no {role} in the production profile")
        return entry.address

    def optional(self, role: str) -> str | None:
        """The resolved address of `role`, or None where this chain has no such contract."""
        entry = self.entry(role)
        return None if entry is None else entry.address

    def deposit_wallet(self, worker: str) -> str:
        """`worker`'s deposit wallet, from CLOB_DEPOSIT_WALLETS only (Polymarket's relayer made it)."""
        wallet = self.deposit_wallets.get(worker.lower())
        if wallet is None:
            raise ConfigError(
                f"CLOB_DEPOSIT_WALLETS: no deposit wallet for fleet wallet {worker.lower()} on chain "
                f"{self.chain_id} (add worker:wallet; see `polyhunter fleet setup`)"
            )
        return wallet

    def uses(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every (what, candidates) whose code `check_profile` verifies, one per distinct address set."""
        by_address: dict[tuple[str, ...], list[str]] = {}
        for entry in self.entries:
            by_address.setdefault(entry.candidates, []).append(entry.role)
        for worker, wallet in self.deposit_wallets.items():
            by_address.setdefault((wallet,), []).append(f"deposit wallet of {worker}")
        return [(", ".join(roles), candidates) for candidates, roles in by_address.items()]


def is_production_chain(chain_id: int | None) -> bool:
    """True for Polygon and Amoy: chains whose Polymarket contracts the profile fills in."""
    return chain_id in PROFILE_CHAIN_IDS


def _amoy_client_config() -> dict[str, str]:
    """The CTF and NegRiskAdapter of py-clob-client-v2's Amoy configuration (lower-case)."""
    try:
        from py_clob_client_v2.config import get_contract_config  # type: ignore[import-untyped]
    except ImportError:
        return {}
    config = get_contract_config(AMOY_CHAIN_ID)
    return {"ctf": config.conditional_tokens.lower(), "neg_risk_adapter": config.neg_risk_adapter.lower()}


def chain_profile(settings: Settings, chain_id: int | None = None) -> ChainProfile:
    """The profile of `chain_id` (default CHAIN_ID) from the published table and the settings.

    Raises ConfigError naming the setting for a chain without a profile, a missing EXECUTOR_ADDRESS or
    PROXY_FACTORY_ADDRESS, and on Amoy a CTF that neither CTF_ADDRESS nor the official client gives."""
    chain = settings.chain_id if chain_id is None else chain_id
    if chain is None or not is_production_chain(chain):
        raise ConfigError(f"CHAIN_ID: the production profile covers chains 137 and 80002 (got {chain!r})")
    entries: list[ProfileAddress] = []

    def add(role: str, candidates: tuple[str, ...], source: str) -> None:
        entries.append(ProfileAddress(role, tuple(a.lower() for a in candidates), source))

    explicit = {
        "executor": settings.executor_address,
        "proxy_factory": settings.proxy_factory_address,
        "collateral": settings.usdc_address,
        "ctf": settings.ctf_address,
    }
    for role in ("executor", "proxy_factory"):
        value = explicit[role]
        if value is None:
            raise ConfigError(
                f"{_SETTING_OF_ROLE[role]}: required on chain {chain} (our own contract: `polyhunter deploy` "
                "prints its address)"
            )
        add(role, (value,), _SETTING_OF_ROLE[role])

    table = {name: (entry.candidates, entry.sources) for name, entry in POLYGON.items()}
    if chain == AMOY_CHAIN_ID:
        client = _amoy_client_config()
        table = {name: table[name] for name in _AMOY_FROM_TABLE}
        for name, address in client.items():
            table[name] = ((address,), "py-clob-client-v2 Amoy configuration")
    for role, published in (("collateral", table["pusd"]), ("ctf", table.get("ctf"))):
        value = explicit[role]
        if value is not None:
            add(role, (value,), _SETTING_OF_ROLE[role])
        elif published is not None:
            add(role, published[0], published[1])
        else:
            raise ConfigError(
                f"{_SETTING_OF_ROLE[role]}: required on chain {chain} (py-clob-client-v2, whose Amoy "
                "configuration gives it, is not installed)"
            )
    for role in _TABLE_ROLES:
        if role in table:
            add(role, *table[role])
    return ChainProfile(
        chain_id=chain,
        clob_host=settings.clob_url,
        entries=tuple(entries),
        deposit_wallets=dict(settings.clob_deposit_wallets),
    )


@dataclass(frozen=True)
class ProfileCheck:
    """What `check_profile` found: the profile with every entry it could resolve, and one line per problem."""

    profile: ChainProfile
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing


async def check_profile(profile: ChainProfile, rpc: AsyncRpc) -> ProfileCheck:
    """Asks `rpc`'s chain for code at every address the profile uses; resolves the entries with several
    candidates to the one with code. A wrong chain id is one line (nothing else is checked then)."""
    served = await rpc.chain_id()
    if served != profile.chain_id:
        return ProfileCheck(profile, [f"CHAIN_ID: {profile.chain_id}, but the RPC serves chain {served}"])
    missing: list[str] = []
    code: dict[str, bool] = {}

    async def with_code(address: str) -> bool:
        if address not in code:
            code[address] = await has_code(rpc, address)
        return code[address]

    for what, candidates in profile.uses():
        found = [a for a in candidates if await with_code(a)]
        if not found:
            where = candidates[0] if len(candidates) == 1 else f"any of {', '.join(candidates)}"
            missing.append(f"{what}: no code at {where} on chain {profile.chain_id}")
        elif len(found) > 1:
            missing.append(f"{what}: several published addresses have code ({', '.join(found)})")
    entries = []
    for entry in profile.entries:
        if not entry.resolved:
            found = [a for a in entry.candidates if code.get(a)]
            if len(found) == 1:
                entry = replace(entry, candidates=(found[0],), source=f"{entry.source} (the one with code)")
        entries.append(entry)
    return ProfileCheck(replace(profile, entries=tuple(entries)), missing)


async def resolve_profile(profile: ChainProfile, rpc: AsyncRpc) -> ChainProfile:
    """`check_profile`, raising ConfigError with every problem (one per line) unless all is well."""
    checked = await check_profile(profile, rpc)
    if not checked.ok:
        raise ConfigError("\n".join(checked.missing))
    return checked.profile


async def _read_address(rpc: AsyncRpc, contract: str, selector: str) -> str:
    raw = await rpc.call("eth_call", [{"to": contract, "data": selector}, "latest"])
    if not isinstance(raw, str) or len(raw) != 66:
        raise ConfigError(f"{contract} does not answer {selector} as our contract does (got {raw!r})")
    return "0x" + raw[-40:]


# Function selectors of our own contracts' getters: owner(), treasury(), executor(), proxyInitCodeHash().
_OWNER = "0x8da5cb5b"
_TREASURY = "0x61d027b3"
_EXECUTOR = "0xc34c08e5"
_PROXY_INIT_CODE_HASH = "0x91c11e21"


async def production_deployment(settings: Settings, profile: ChainProfile, rpc: AsyncRpc) -> Deployment:
    """The `Deployment` of a resolved profile: Polymarket's contracts from it, ours read back from the chain
    (the factory must be bound to EXECUTOR_ADDRESS), RPC URLs from the settings."""
    urls = settings.rpc_urls
    if not urls:
        raise ConfigError(f"COPY_TRADING_RPC_URLS: required on chain {profile.chain_id}")
    executor = profile.address("executor")
    factory = profile.address("proxy_factory")
    bound = await _read_address(rpc, factory, _EXECUTOR)
    if bound != executor:
        raise ConfigError(
            f"PROXY_FACTORY_ADDRESS: {factory} is bound to Executor {bound}, not EXECUTOR_ADDRESS {executor}"
        )
    init_code_hash = await rpc.call("eth_call", [{"to": factory, "data": _PROXY_INIT_CODE_HASH}, "latest"])
    http = next((u for u in urls if u.startswith("http")), urls[0])
    if settings.ws_urls:
        ws_url = settings.ws_urls[0]
    else:
        ws_url = http.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    optional = {role: profile.optional(role) for role in _TABLE_ROLES}
    return Deployment(
        chain_id=profile.chain_id,
        rpc_url=http,
        ws_url=ws_url,
        contracts=Contracts(
            executor=executor,
            proxy_factory=factory,
            treasury=await _read_address(rpc, executor, _TREASURY),
            collateral=profile.address("collateral"),
            ctf=profile.address("ctf"),
            **optional,
        ),
        proxy_init_code_hash=str(init_code_hash),
        accounts=Accounts(
            owner=await _read_address(rpc, executor, _OWNER), deposit_wallets=dict(profile.deposit_wallets)
        ),
        clob_url=profile.clob_host,
    )
