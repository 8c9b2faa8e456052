"""Moving the operator fleet to a new derivation (`polyhunter fleet rotate`), idempotently and resumably.

The steps, each done only if still needed, so that a run interrupted anywhere is finished by running the
command again:
1. the new workers are authorised on the Executor (and given `--cap`): through the change delay when it
   applies, in which case the run stops here and says when they become effective; the old fleet keeps
   working meanwhile;
2. the old workers are deauthorised (immediate): a leaked old key can pull nothing more;
3. their open Smart Buffer debts move to the new worker of the same index, on chain (`reassignDebt`, owner)
   and in the store; the Executor keeps a debt under the key of the worker whose push recorded it
   (`calls.chain_debt_key`), which a move does not change: the recorder is found among the store's debt
   worker, both fleets and `recorders` (the trade journal's PUSHED wallet: `journal_recorders`), else from
   the Executor's `DebtRecorded` events of the Proxy (read in chunks the RPC accepts, from the Executor's
   deployment block);
4. each old worker's collateral float and outcome tokens (of the deployment's markets) move to its new
   worker, what its deposit wallet holds to the new worker's wallet (or the new EOA), and last its gas.
Old worker i hands over to new worker i mod n. Keys stay in the Rust `Signer`s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import LogReceipt

from polyhunter._core import Eip1559Tx, Signer
from polyhunter.chain.tx import contract
from polyhunter.commands._executor_admin import ZERO_ADDRESS, Change, ExecutorAdmin
from polyhunter.errors import ChainError, ExecutionError, PolyhunterError
from polyhunter.execution.calls import DEBT_RECORDED_TOPIC, address_arg, chain_debt_id, debt_key
from polyhunter.fleetsetup.setup import ChainWriter, SetupOptions
from polyhunter.models import DebtRecord
from polyhunter.models import Step as JournalStep
from polyhunter.store.base import Store

GAS_TRANSFER = 21_000


def _cs(address: str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)


@dataclass
class Step:
    """One thing the rotation did, or found already done."""

    what: str
    status: str
    """`done`, `queued`, `waiting`, `unchanged` (nothing to do) or `failed`."""
    tx_hash: str | None = None
    ready_at: int | None = None

    @classmethod
    def of(cls, change: Change, what: str | None = None) -> Step:
        return cls(what or change.call, change.status, change.tx_hash, change.ready_at)

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "status": self.status, "tx_hash": self.tx_hash, "ready_at": self.ready_at}


@dataclass
class Rotation:
    """What a run of the rotation did; `pending` while the new workers wait out the change delay."""

    old: list[str]
    new: list[str]
    steps: list[Step] = field(default_factory=list)
    moved_debts: list[tuple[int, str]] = field(default_factory=list)
    """(store debt id, new creditor) of debts moved on chain (or found moved) this run."""

    @property
    def pending(self) -> bool:
        return any(s.status in ("queued", "waiting") for s in self.steps)

    @property
    def effective_from(self) -> int | None:
        return max((s.ready_at or 0 for s in self.steps if s.status in ("queued", "waiting")), default=None)

    @property
    def changed(self) -> bool:
        return any(s.status in ("done", "queued") for s in self.steps)

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "pending": self.pending,
            "effective_from": self.effective_from,
            "changed": self.changed,
            "complete": not self.pending and not self.failed,
            "steps": [s.to_json() for s in self.steps],
        }


async def journal_recorders(store: Store, debts: Sequence[DebtRecord]) -> dict[bytes, str]:
    """Trade key → the worker whose push recorded the debt (the last PUSHED entry of the trade's journal),
    for the debts whose trade the store has: `FleetRotation.move_debts`'s `recorders`."""
    out: dict[bytes, str] = {}
    for debt in debts:
        if debt.trade_key is None or debt.trade_key in out:
            continue
        trade = await store.get_trade(debt.trade_key)
        pushed = (
            [e.wallet for e in trade.journal if e.step == JournalStep.PUSHED] if trade is not None else []
        )
        if pushed:
            out[debt.trade_key] = pushed[-1].lower()
    return out


class FleetRotation:
    """Rotates `old` to `new` on the Executor `admin` reads and writes (as its owner)."""

    def __init__(
        self,
        admin: ExecutorAdmin,
        chain_id: int,
        old: Sequence[Signer],
        new: Sequence[Signer],
        *,
        collateral: str,
        ctf: str,
        token_ids: Sequence[int] = (),
        options: SetupOptions | None = None,
    ) -> None:
        if not new:
            raise ExecutionError("fleet rotate: the new fleet is empty")
        overlap = {s.address for s in old} & {s.address for s in new}
        if overlap:
            raise ExecutionError(f"fleet rotate: the new derivation repeats old workers: {sorted(overlap)}")
        self.admin = admin
        self.w3 = admin.w3
        self.chain_id = chain_id
        self.old = list(old)
        self.new = list(new)
        self.collateral = collateral.lower()
        self.ctf = ctf.lower()
        self.token_ids = list(token_ids)
        self.writer = ChainWriter(self.w3, chain_id, options or SetupOptions())
        self.result = Rotation([s.address for s in old], [s.address for s in new])
        self._debt_events: dict[str, list[LogReceipt]] = {}

    def heir(self, index: int) -> Signer:
        return self.new[index % len(self.new)]

    # ----------------------------------------------------------------- steps

    def authorise_new(self, cap: int | None) -> bool:
        """Step 1; True once every new worker is authorised (nothing queued or waiting)."""
        for signer in self.new:
            if cap is not None:
                self.result.steps.append(Step.of(self.admin.set_cap(signer.address, cap)))
            self.result.steps.append(Step.of(self.admin.authorise(signer.address, True)))
        return not self.result.pending

    def deauthorise_old(self) -> None:
        for signer in self.old:
            self.result.steps.append(Step.of(self.admin.authorise(signer.address, False)))

    def move_debts(self, debts: Sequence[DebtRecord], recorders: Mapping[bytes, str] | None = None) -> None:
        """Step 3 on chain; the caller records `result.moved_debts` in the store. `recorders`: trade key →
        the wallet that pushed (the journal's PUSHED entry), when the caller has it."""
        index = {s.address: i for i, s in enumerate(self.old)}
        for debt in debts:
            i = index.get(debt.worker.lower())
            if i is None:
                continue
            heir = self.heir(i).address
            what = f"debt {debt.debt_id} of Proxy {debt.proxy}: {debt.worker} -> {heir}"
            if debt.trade_key is None:
                self.result.steps.append(Step(what + " (no trade key: not on chain)", "failed"))
                continue
            debt_id = self._open_key(debt, (recorders or {}).get(debt.trade_key))
            if debt_id is None:
                # Repaid on chain already (or never recorded): recovery marks it; nothing to move.
                self.result.steps.append(Step(what + " (nothing open on chain)", "unchanged"))
                continue
            moved = self._reassign(debt_id, debt.proxy, debt.worker.lower(), heir)
            self.result.steps.append(Step(what, "done" if moved else "unchanged", moved or None))
            self.result.moved_debts.append((debt.debt_id, heir))

    def _open_key(self, debt: DebtRecord, recorder: str | None) -> bytes | None:
        """The Executor's key of `debt` if it is open there: under its recorder's key, which stays the same
        through every move (so after two rotations the recorder is in neither fleet)."""
        assert debt.trade_key is not None
        raw = chain_debt_id(debt.trade_key)
        x = self.admin.handle.functions
        known = [recorder] if recorder else []
        known += [debt.worker, *(s.address for s in self.old), *(s.address for s in self.new)]
        for worker in dict.fromkeys(w.lower() for w in known):
            key = debt_key(worker, raw)
            if int(x.debtOpen(key).call()) > 0:
                return key
        logs = self._recorded(debt.proxy)
        for entry in logs:
            key, creditor = bytes(entry["topics"][1]), "0x" + bytes(entry["topics"][3])[-20:].hex()
            if key == debt_key(creditor, raw) and int(x.debtOpen(key).call()) > 0:
                return key
        return None

    def _recorded(self, proxy: str) -> list[LogReceipt]:
        """The Executor's `DebtRecorded` events of `proxy` since its deployment, read once per rotation in
        chunks the RPC accepts."""
        key = proxy.lower()
        if key not in self._debt_events:
            topics = ["0x" + DEBT_RECORDED_TOPIC.hex(), None, "0x" + address_arg(proxy).hex()]
            self._debt_events[key] = self.admin.scanner.logs(
                self.admin.address,
                topics,
                self.admin.first_block(),
                what=f"the Executor's DebtRecorded events of Proxy {proxy}",
            )
        return self._debt_events[key]

    def _reassign(self, debt_id: bytes, proxy: str, creditor: str, heir: str) -> str:
        """Moves the debt on chain (returns the tx hash), or "" when it is already the heir's."""
        heir_payees = [heir, *self._wallet(heir)]
        for payee in [creditor, *self._wallet(creditor)]:
            data = self.admin.encode(
                "reassignDebt",
                debt_id,
                _cs(proxy),
                _cs(self.collateral),
                _cs(creditor),
                _cs(payee),
                _cs(heir),
                _cs(heir),
            )
            if self._would_pass(data):
                change = self.admin.apply(data, widening=False)
                return change.tx_hash or ""
        for payee in heir_payees:
            data = self.admin.encode(
                "reassignDebt",
                debt_id,
                _cs(proxy),
                _cs(self.collateral),
                _cs(heir),
                _cs(payee),
                _cs(heir),
                _cs(payee),
            )
            if self._would_pass(data):
                return ""
        raise ChainError(f"debt 0x{debt_id.hex()} is owed neither to {creditor} nor to {heir} on chain")

    def _would_pass(self, data: bytes) -> bool:
        assert self.admin.owner is not None
        call = {"from": self.admin.owner.address, "to": _cs(self.admin.address), "data": "0x" + data.hex()}
        try:
            self.w3.eth.call(call)  # type: ignore[arg-type]
        except ContractLogicError:
            return False
        return True

    def _wallet(self, worker: str) -> list[str]:
        wallet = str(self.admin.handle.functions.walletOf(_cs(worker)).call()).lower()
        return [] if wallet == ZERO_ADDRESS else [wallet]

    def sweep(self) -> None:
        """Step 4: every old worker's float, tokens and deposit wallet to its heir, then its gas."""
        for i, signer in enumerate(self.old):
            heir = self.heir(i).address
            heir_wallet = (self._wallet(heir) or [heir])[0]
            self._sweep_account(signer, signer.address, heir)
            for wallet in self._wallet(signer.address):
                self._sweep_account(signer, wallet, heir_wallet)
            self._sweep_gas(signer, heir)

    def _sweep_account(self, signer: Signer, holder: str, to: str) -> None:
        """Moves what `holder` (the old worker, or its deposit wallet run by it) has of the collateral and
        the known outcome tokens to `to`."""
        erc20 = contract(self.w3, "MockCollateral", self.collateral)
        ctf = contract(self.w3, "ConditionalTokens", self.ctf)
        calls: list[tuple[str, bytes, str]] = []
        held = int(erc20.functions.balanceOf(_cs(holder)).call())
        if held:
            data = erc20.encode_abi("transfer", [_cs(to), held])
            calls.append((self.collateral, bytes.fromhex(data[2:]), f"{held} collateral"))
        for token_id in self.token_ids:
            shares = int(ctf.functions.balanceOf(_cs(holder), token_id).call())
            if shares:
                data = ctf.encode_abi("safeTransferFrom", [_cs(holder), _cs(to), token_id, shares, b""])
                calls.append((self.ctf, bytes.fromhex(data[2:]), f"{shares} of token {token_id}"))
        for target, data, what in calls:
            label = f"sweep {what} from {holder} to {to}"
            try:
                if holder == signer.address:
                    tx = self.writer.send(signer, target, data, label)
                else:  # the deposit wallet runs it: its owner (the old worker) signs the batch
                    wallet = contract(self.w3, "DepositWallet", holder)
                    batch = wallet.encode_abi("execute", [[(_cs(target), 0, data)]])
                    tx = self.writer.send(signer, holder, bytes.fromhex(batch[2:]), label)
            except (PolyhunterError, Web3Exception) as exc:
                self.result.steps.append(Step(f"{label}: {exc}", "failed"))
                continue
            self.result.steps.append(Step(label, "done", tx))

    def _sweep_gas(self, signer: Signer, to: str) -> None:
        """The old worker's native balance, less the transfer's own fee, to its heir (dust is left)."""
        address = _cs(signer.address)
        balance = int(self.w3.eth.get_balance(address))
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        priority = self.writer.options.priority_fee_wei
        max_fee = 2 * base + priority
        amount = balance - GAS_TRANSFER * max_fee
        if amount <= 0:
            return
        tx = Eip1559Tx(
            chain_id=self.chain_id,
            nonce=self.w3.eth.get_transaction_count(address, "pending"),
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            gas=GAS_TRANSFER,
            to=to,
            value=amount,
        )
        label = f"sweep {amount} wei of gas from {signer.address} to {to}"
        try:
            signed = signer.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=180)
        except (Web3Exception, ValueError) as exc:
            self.result.steps.append(Step(f"{label}: {type(exc).__name__}: {exc}", "failed"))
            return
        status = "done" if receipt["status"] == 1 else "failed"
        self.result.steps.append(Step(label, status, "0x" + signed.hash.hex()))
