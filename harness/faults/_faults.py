"""What every fault is: it applies itself, and undoes itself, also after its run died.

``apply`` injects the fault and returns the *undo record*: plain JSON that says
how to take it back. The injector journals that record before anything else
can happen, so ``revert(undo)`` — a classmethod that needs no live object —
can heal it from the journal of a run that was killed.

Faults can overlap on one piece of state (two pauses of one process, two
``down`` on one proxy): each names what it holds (``holds``), and the injector
undoes that state only when the last fault holding it heals (``heal_shared``
says what the others kept in place). A fault that reaches a process by port
records which process served it, so that a heal after the run died never sends
anything to a port that has since changed hands (:class:`Abandoned`).

The faults themselves, one module per kind, are in :mod:`paychaos.faults.kinds`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from paychaos._ownership import Stamp, listener, serving
from paychaos.errors import InfrastructureError


class Abandoned(InfrastructureError):
    """A heal that cannot be done, now or ever; the journal records it as settled, with the reason."""


@dataclass(frozen=True)
class Holder:
    """Another active fault holding state that the fault being healed holds too."""

    fault_id: str
    fault: Fault
    undo: dict[str, Any]
    newer: bool  # applied after the fault being healed


class Fault(ABC):
    kind: ClassVar[str]
    """Names the fault's records in the journal, and so which ``revert`` heals them."""

    def __init__(self, target: str, action: str, params: Mapping[str, Any] | None = None) -> None:
        self.target = target
        self.action = action
        self.params = dict(params or {})

    @abstractmethod
    def apply(self, fault_id: str) -> dict[str, Any]:
        """Inject the fault; return what undoing it needs (JSON-serialisable)."""

    def heal(self, undo: dict[str, Any]) -> str:
        """Undo the fault in a live run; returns what was done."""
        return type(self).revert(undo)

    def measure(self, undo: dict[str, Any]) -> dict[str, int] | None:
        """What the fault's target has carried so far (counters that only grow), read right after
        the fault is applied and right before it is healed; the difference tells whether the fault
        ever had anything to act on. None when the kind, or its backend, cannot tell."""
        return None

    @classmethod
    @abstractmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        """Undo from the journal alone (the run that applied it may be gone).

        Raises :class:`Abandoned` when it cannot be done and never will be.
        """

    @classmethod
    def revert_first(cls, undo: dict[str, Any]) -> bool:
        """True if a heal from the journal should undo this before the others (a paused process
        holds its port and answers nothing: other heals sent to it would only time out)."""
        return False

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        """Names of the state this fault changes that another fault may change too.

        Undoing such state undoes it for every fault holding it (resuming a process resumes it
        for each pause on it), so the injector undoes it only when the last of them heals.
        """
        return ()

    def on_top(self, undo: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
        """The undo record of this fault applied while ``first`` (the undo record of the oldest
        active fault holding the same state) is in place."""
        return undo

    def heal_shared(self, undo: dict[str, Any], holders: dict[str, list[Holder]]) -> str:
        """Heal while other active faults still hold some of this fault's state (``holders``, by
        name, oldest first): leave that state as they need it, and say so."""
        return f"still {self.action} by {holder_ids(holders)}; undone when {they_end(holders)}"

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.action} on {self.target}" + (f" ({params})" if params else "")


def holder_ids(holders: dict[str, list[Holder]]) -> str:
    """``f1, f3``: the faults in ``holders``, each once."""
    return ", ".join(dict.fromkeys(h.fault_id for group in holders.values() for h in group))


def they_end(holders: dict[str, list[Holder]]) -> str:
    many = len({h.fault_id for group in holders.values() for h in group}) > 1
    return "they end" if many else "it ends"


def port_of(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def owner_record(url: str) -> dict[str, Any]:
    """``{"owner": …}``: the process serving ``url``'s port now, for an undo record, so that a heal
    after the run died can tell that process from another that took the port since (or ``{}``)."""
    owner = listener(port_of(url))
    return {"owner": owner.as_json()} if owner else {}


def owner_gone(owner: Stamp, api: str, what: str) -> str | None:
    """Why nothing is left to undo at ``api``, whose ``what`` (``HTTP hop``) was ``owner``: it
    ended, and its state with it. None while it still serves there. Raises :class:`Abandoned` when
    another process serves the port now: nothing may be sent to it."""
    state = serving(owner, port_of(api))
    if state == "ended":
        return f"its {what} ({owner.describe()}) is gone"
    if state == "not serving":
        raise Abandoned(f"{api} is no longer served by its {what} ({owner.describe()}); nothing sent")
    return None
