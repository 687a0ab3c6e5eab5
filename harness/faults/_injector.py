"""Applying faults so that every one of them is healed: on success, on error, on Ctrl-C.

>>> with FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:   # doctest: +SKIP
...     slow = faults.apply(ToxicFault(client, "gateway_bank", "latency", {"latency": 800}))
...     ...                       # drive load
...     faults.heal(slow)         # or leave it: leaving the block heals whatever is still active

The journal records each fault before the ``with`` block can be left, so a
run killed outright (SIGKILL, power loss) is healed by :func:`heal_leftovers`,
which ``paychaos heal`` and the start of every run call.

Faults that overlap on one piece of state (two pauses of one process) are
counted: the state is undone when the last of them heals, and the heal of an
earlier one says in the journal what it left in place and for whom.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from paychaos.errors import InfrastructureError
from paychaos.faults._faults import Fault, Holder
from paychaos.faults._journal import FaultJournal


@dataclass
class _Active:
    fault: Fault
    undo: dict[str, Any]
    holds: tuple[str, ...]
    order: int  # its number: f3 was applied third


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
            holds = fault.holds(undo)
            shared = self._holders(holds)
            if shared:
                first = min(_ids(shared), key=lambda other: self._active[other].order)
                undo = fault.on_top(undo, self._active[first].undo)
            self._active[fault_id] = _Active(fault, undo, holds, self._count)
            extra: dict[str, Any] = {"overlaps": _ids(shared)} if shared else {}
            measured = _measure(fault, undo)
            if measured is not None:
                extra["measured"] = measured
            self.journal.write(
                "applied", id=fault_id, kind=fault.kind, target=fault.target, action=fault.action,
                params=fault.params, undo=undo, **extra,
            )  # fmt: skip
            return fault_id

    def heal(self, fault_id: str) -> str:
        """Undo one fault; if undoing fails it stays in the journal as unhealed.

        State another active fault still holds (the same process paused twice) is left in place
        until that fault heals too; the outcome says so.
        """
        with self._lock:
            active = self._active.pop(fault_id, None)
            if active is None:
                return "already healed"
            shared = self._holders(active.holds, newer_than=active.order)
            measured = _measure(active.fault, active.undo)  # before the heal: what it had in place
            try:
                done = (
                    active.fault.heal_shared(active.undo, shared)
                    if shared
                    else active.fault.heal(active.undo)
                )
            except Exception as exc:
                self.journal.write("heal_failed", id=fault_id, error=str(exc))
                raise InfrastructureError(f"could not heal {active.fault.describe()}: {exc}") from exc
            extra: dict[str, Any] = {"kept_by": _ids(shared)} if shared else {}
            if measured is not None:
                extra["measured"] = measured
            self.journal.write("healed", id=fault_id, outcome=done, **extra)
            return done

    def _holders(self, holds: tuple[str, ...], newer_than: int | None = None) -> dict[str, list[Holder]]:
        """The active faults holding each of ``holds``, oldest first (only the names someone holds)."""
        found: dict[str, list[Holder]] = {}
        for key in holds:
            for other_id, other in self._active.items():
                if key in other.holds:
                    newer = newer_than is not None and other.order > newer_than
                    found.setdefault(key, []).append(Holder(other_id, other.fault, other.undo, newer))
        return found

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


def _ids(holders: dict[str, list[Holder]]) -> list[str]:
    return list(dict.fromkeys(h.fault_id for group in holders.values() for h in group))


def _measure(fault: Fault, undo: dict[str, Any]) -> dict[str, int] | None:
    """The fault's :meth:`~Fault.measure`; None if reading it failed (it never stops a fault)."""
    try:
        return fault.measure(undo)
    except Exception:  # a counter that cannot be read leaves the fault unjudged, never broken
        return None
