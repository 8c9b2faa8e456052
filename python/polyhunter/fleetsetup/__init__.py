"""Getting the fleet ready for the CLOB: what each fleet wallet has (status) and the steps that make it
trade (setup), idempotently.

Each fleet EOA (from `TRADING_MNEMONIC` / `TRADING_PRIVATE_KEY`) trades through its deposit wallet
(`CLOB_SIGNATURE_TYPE=3`) or as itself (0). Ready means: the wallet exists, it approved pUSD and the CTF to
every spender below, the Executor authorises the EOA and (type 3) has the wallet registered as its trading
wallet, and the CLOB knows the EOA's API key. Spenders are both V2 exchanges and the Executor, plus the
NegRiskAdapter and the collateral adapters wherever the chain has code at them.

Where the wallet is: the Executor's `walletOf` first; else, on a chain whose deposit-wallet factory is ours,
its CREATE2 prediction; else the address the operator gives (`--deposit-wallet EOA=WALLET`). On Polygon
only Polymarket's relayer creates deposit wallets, so setup prints that step instead of doing it.

Keys stay inside the Rust `Signer`s (transactions and L1 headers are signed there); API credentials are
derived into memory for the run and never printed, stored or put in an error.
"""

from polyhunter.fleetsetup.setup import (
    ChainWriter,
    NeedsMainnetConsent,
    SetupOptions,
    SetupResult,
    check_consent,
    ensure_api_key,
    planned_writes,
    run_setup,
    setup_wallet,
)
from polyhunter.fleetsetup.status import Approval, WalletStatus, fleet_status, format_native, read_fleet
from polyhunter.fleetsetup.world import FleetWorld, load_world, parse_given_wallets, rpc_urls

__all__ = [
    "Approval",
    "ChainWriter",
    "FleetWorld",
    "NeedsMainnetConsent",
    "SetupOptions",
    "SetupResult",
    "WalletStatus",
    "check_consent",
    "ensure_api_key",
    "fleet_status",
    "format_native",
    "load_world",
    "parse_given_wallets",
    "planned_writes",
    "read_fleet",
    "rpc_urls",
    "run_setup",
    "setup_wallet",
]
