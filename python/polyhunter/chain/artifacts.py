"""Compiled contracts: `<Name>.json` (ABI + bytecode) as `contracts/compile.js` writes them.

The directory is found, in order, at `$POLYHUNTER_ARTIFACTS`, then in the package (`polyhunter/_artifacts`,
where `make contracts` writes them and which the wheel carries), then as `contracts/artifacts` in the cwd's or
the package's ancestors (a checkout compiled before the artifacts moved into the package).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyhunter._core import keccak256
from polyhunter.chain.anvil import _source_roots
from polyhunter.errors import ToolchainError

PACKAGE_ARTIFACTS = Path(__file__).resolve().parent.parent / "_artifacts"
"""Where the package keeps its artifacts (generated in a checkout, shipped in the wheel)."""

#: Every contract the local world deploys or the tests use.
CONTRACT_NAMES = (
    "CTFExchangeV2",
    "CollateralOfframp",
    "CollateralOnramp",
    "ConditionalTokens",
    "CtfCollateralAdapter",
    "DepositWallet",
    "DepositWalletFactory",
    "Executor",
    "LocalExchange",
    "MockCollateral",
    "NegRiskAdapter",
    "NegRiskCtfCollateralAdapter",
    "PolyUSD",
    "Proxy",
    "ProxyFactory",
    "ReentrantWorker",
    "Treasury",
    "WrappedCollateral",
)


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes

    @property
    def init_code_hash(self) -> bytes:
        """keccak256 of the creation code (for a contract whose constructor takes no arguments)."""
        return keccak256(self.bytecode)


def artifacts_dir() -> Path:
    """The directory of compiled artifacts, or `ToolchainError` saying how to make it."""
    override = os.environ.get("POLYHUNTER_ARTIFACTS")
    if override:
        path = Path(override)
        if (path / "Executor.json").is_file():
            return path
        raise ToolchainError(f"POLYHUNTER_ARTIFACTS={override!r} holds no Executor.json")
    if (PACKAGE_ARTIFACTS / "Executor.json").is_file():
        return PACKAGE_ARTIFACTS
    for root in _source_roots():
        candidate = root / "contracts" / "artifacts"
        if (candidate / "Executor.json").is_file():
            return candidate
    raise ToolchainError(
        f"contract artifacts not found in {PACKAGE_ARTIFACTS}: in a checkout run `make contracts`; "
        "otherwise reinstall the polyhunter wheel, or set POLYHUNTER_ARTIFACTS"
    )


@functools.cache
def load_artifact(name: str) -> Artifact:
    """The artifact of contract `name` (e.g. "Executor"), read once per process."""
    path = artifacts_dir() / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ToolchainError(f"cannot read artifact {path}: {exc}") from exc
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
        deployed_bytecode=bytes.fromhex(data["deployedBytecode"].removeprefix("0x")),
    )


def _signature(item: dict[str, Any]) -> str:
    def canonical(param: dict[str, Any]) -> str:
        kind: str = param["type"]
        if kind.startswith("tuple"):
            return "(" + ",".join(canonical(c) for c in param["components"]) + ")" + kind[len("tuple") :]
        return kind

    return f"{item['name']}({','.join(canonical(p) for p in item['inputs'])})"


@functools.cache
def error_signatures() -> dict[bytes, str]:
    """4-byte selector -> custom error signature, over every artifact (to name a revert)."""
    selectors: dict[bytes, str] = {}
    for name in CONTRACT_NAMES:
        for item in load_artifact(name).abi:
            if item.get("type") == "error":
                signature = _signature(item)
                selectors[keccak256(signature.encode())[:4]] = signature
    return selectors
