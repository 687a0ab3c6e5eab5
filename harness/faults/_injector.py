"""Applying faults so that every one of them is healed: on success, on error, on Ctrl-C.

>>> with FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:   # doctest: +SKIP
...     slow = faults.apply(ToxicFault(client, "gateway_bank", "latency", {"latency": 800}))
...     ...                       # drive load
...     faults.heal(slow)         # or leave it: leaving the block heals whatever is still active

The journal records each fault before the ``with`` block can be left, so a
run killed outright (SIGKILL, power loss) is healed by :func:`heal_leftovers`,
which ``paychaos heal`` and the start of every run call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import InfrastructureError
from harness.faults._docker import ContainerFault, stop_orphaned_backends
from harness.faults._faults import ConfigFault, Fault, LinkDown, ProcessFault, ToxicFault
from harness.faults._journal import JOURNAL_NAME, FaultJournal, unhealed

_REVERT = {k.kind: k.revert for k in (ToxicFault, LinkDown, ProcessFault, ConfigFault, ContainerFault)}


@dataclass
class _Active:
    fault: Fault
    undo: dict[str, Any]


class FaultInjector:
    def __init__(self, journal: FaultJournal) -> None:
        self.journal = journal
        self._active: dict[str, _Active] = {}
        self._count = 0
        self._lock = threading.RLock()

    def apply(self, fault: Fault) -> str:
        """Inject ``fault``; return its id (for :meth:`heal`)."""
        with self._lock:
            self._count += 1
            fault_id = f"f{self._count}"
            try:
                undo = fault.apply(fault_id)
            except Exception as exc:
                self.journal.write("apply_failed", id=fault_id, kind=fault.kind, target=fault.target,
                                   action=fault.action, error=str(exc))  # fmt: skip
                raise
            self._active[fault_id] = _Active(fault, undo)
            self.journal.write(
                "applied", id=fault_id, kind=fault.kind, target=fault.target, action=fault.action,
                params=fault.params, undo=undo,
            )  # fmt: skip
            return fault_id

    def heal(self, fault_id: str) -> str:
        """Undo one fault; if undoing fails it stays in the journal as unhealed."""
        with self._lock:
            active = self._active.pop(fault_id, None)
            if active is None:
                return "already healed"
            try:
                done = active.fault.heal(active.undo)
            except Exception as exc:
                self.journal.write("heal_failed", id=fault_id, error=str(exc))
                raise InfrastructureError(f"could not heal {active.fault.describe()}: {exc}") from exc
            self.journal.write("healed", id=fault_id, outcome=done)
            return done

    def heal_all(self) -> list[str]:
        """Heal every active fault, newest first; return the errors of those that would not heal."""
        errors = []
        with self._lock:
            for fault_id in reversed(list(self._active)):
                try:
                    self.heal(fault_id)
                except InfrastructureError as exc:
                    errors.append(str(exc))
        return errors

    @property
    def active(self) -> list[str]:
        with self._lock:
            return [f"{fid}: {a.fault.describe()}" for fid, a in self._active.items()]

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        errors = self.heal_all()
        if errors and et is None:
            raise InfrastructureError(
                "some faults could not be healed (run `paychaos heal`):\n" + "\n".join(errors)
            )


@dataclass(frozen=True)
class Healed:
    journal: Path
    fault: str
    outcome: str
    ok: bool


def heal_leftovers(paths: Iterable[Path]) -> list[Healed]:
    """Heal what killed runs left: every applied-but-not-healed fault in the given journals.

    ``paths`` are journal files or run folders holding one. Each fault healed is
    marked healed in its journal, so healing twice does nothing the second time.
    Toxiproxy backends those runs used are reset, and their orphaned containers stopped.
    """
    results: list[Healed] = []
    backends: set[str] = set()
    for path in paths:
        journal_path = path / JOURNAL_NAME if path.is_dir() else path
        if not journal_path.exists():
            continue
        journal = FaultJournal(journal_path)
        for record in unhealed(journal_path):
            label = f"{record['id']} {record['action']} on {record['target']}"
            undo = record.get("undo", {})
            if undo.get("backend") == "external":
                backends.add(undo["api"])
            try:
                outcome = _REVERT[record["kind"]](undo)
            except Exception as exc:
                journal.write("heal_failed", id=record["id"], error=str(exc), by="paychaos heal")
                results.append(Healed(journal_path, label, str(exc), False))
                continue
            journal.write("healed", id=record["id"], outcome=outcome, by="paychaos heal")
            results.append(Healed(journal_path, label, outcome, True))
    results.extend(_reset(backends))
    for container in stop_orphaned_backends():
        results.append(Healed(Path("-"), "orphaned Toxiproxy container", f"stopped {container}", True))
    return results


def _reset(urls: set[str]) -> list[Healed]:
    from harness.faults._client import ToxiproxyClient

    done = []
    for url in sorted(urls):
        with ToxiproxyClient(url, timeout=5) as client:
            try:
                client.reset()
                done.append(
                    Healed(
                        Path("-"),
                        f"Toxiproxy at {url}",
                        "reset: every proxy enabled, every toxic removed",
                        True,
                    )
                )
            except InfrastructureError as exc:
                done.append(Healed(Path("-"), f"Toxiproxy at {url}", str(exc), False))
    return done
