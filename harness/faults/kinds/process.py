"""Faults on a service's processes: kill (SIGKILL), terminate (SIGTERM), pause (SIGSTOP … SIGCONT), restart.

In an experiment::

    - {at: 15s, duration: 5s, service: bank, action: pause}

A service started in its own session is signalled as a whole process group.
Healing a kill or terminate starts the service again with its own command.
Only ``command`` services are processes of paychaos's: a ``url`` service's process is not its
own, and a ``compose`` service is faulted as a container (``{container: api, action: pause}``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import psutil
from pydantic import Field

from paychaos._ownership import Stamp
from paychaos.errors import InfrastructureError, InvalidInput
from paychaos.faults._faults import Fault, Holder, holder_ids, they_end
from paychaos.faults.kinds._spec import FaultContext, FaultSpec, Unknown
from paychaos.system import Target

ProcessAction = Literal["kill", "terminate", "pause", "restart"]
_SIGNALS = {"kill": signal.SIGKILL, "terminate": signal.SIGTERM, "pause": signal.SIGSTOP}


@dataclass(frozen=True)
class ProcessHandle:
    """A process to fault: how to find its current pid, and how to start it again."""

    name: str
    pid: Callable[[], int]
    restart: Callable[[], None] | None = None


class ProcessFault(Fault):
    """kill, terminate, pause or restart a process."""

    kind = "process"

    def __init__(self, process: ProcessHandle, action: ProcessAction) -> None:
        if action not in ("kill", "terminate", "pause", "restart"):
            raise InvalidInput(
                f"unknown process action {action!r}; expected kill, terminate, pause or restart"
            )
        if action == "restart" and process.restart is None:
            raise InvalidInput(f"{process.name} has no start command, so it cannot be restarted")
        super().__init__(process.name, action)
        self._process = process

    def apply(self, fault_id: str) -> dict[str, Any]:
        if self.action == "restart":
            assert self._process.restart is not None
            self._process.restart()
            return {"action": "restart"}
        pid = self._process.pid()
        try:
            created = psutil.Process(pid).create_time()
            group = os.getpgid(pid) == pid
            (os.killpg if group else os.kill)(pid, _SIGNALS[self.action])
        except (ProcessLookupError, psutil.NoSuchProcess) as exc:
            raise InfrastructureError(f"cannot {self.action} {self.target}: process {pid} is gone") from exc
        if self.action == "pause":
            _until_stopped(pid)  # a signal is delivered asynchronously; the fault is in place once it took
        return {"action": self.action, "pid": pid, "created": created, "group": group}

    def heal(self, undo: dict[str, Any]) -> str:
        if undo["action"] in ("kill", "terminate") and self._process.restart is not None:
            self._process.restart()
            return f"restarted {self.target}"
        return self.revert(undo)

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        if undo["action"] != "pause":
            return "nothing to undo after the run that owned the process ended"
        pid = undo["pid"]
        try:
            if not Stamp(pid, undo["created"]).is_this(psutil.Process(pid)):
                return f"process {pid} is gone (its pid now belongs to another process)"
            (os.killpg if undo["group"] else os.kill)(pid, signal.SIGCONT)
        except (ProcessLookupError, psutil.NoSuchProcess):
            return f"process {pid} is gone"
        return f"resumed process {pid}"

    @classmethod
    def revert_first(cls, undo: dict[str, Any]) -> bool:
        # Until resumed, a paused service holds its port and answers nothing (a config heal sent
        # to it would only time out).
        return bool(undo.get("action") == "pause")

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        if undo["action"] == "pause":
            return (f"process {undo['pid']} {undo['created']}",)  # one SIGCONT resumes every pause
        if undo["action"] in ("kill", "terminate") and self._process.restart is not None:
            return (f"service {self.target}",)  # one restart brings it back for every kill
        return ()

    def heal_shared(self, undo: dict[str, Any], holders: dict[str, list[Holder]]) -> str:
        if undo["action"] == "pause":
            return f"still paused by {holder_ids(holders)}; resumed when {they_end(holders)}"
        return f"still down by {holder_ids(holders)}; restarted when {they_end(holders)}"


def _until_stopped(pid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not stopped(pid) and time.monotonic() < deadline:
        time.sleep(0.005)


def stopped(pid: int) -> bool:
    """True if the process exists and is stopped (paused)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return bool(psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    return False


# -- in an experiment: its YAML, checked against the target, built in a running stack --------


class ProcessFaultSpec(FaultSpec):
    kind: ClassVar[str] = "process"
    places: ClassVar[tuple[str, ...]] = ("service",)
    fault_classes: ClassVar[tuple[type[Fault], ...]] = (ProcessFault,)

    service: str = Field(
        description="the service whose process group gets the signal: one the target starts with a command"
    )
    action: ProcessAction = Field(
        description="kill: SIGKILL; terminate: SIGTERM; pause: SIGSTOP, and SIGCONT when the fault heals; "
        "restart: the service stopped and started again with its command"
    )

    def check(self, target: Target) -> Iterator[Unknown]:
        if self.service not in target.services:
            yield Unknown("service", "service", self.service, target.services)
        elif (why := not_a_process(target, self.service)) is not None:
            yield Unknown("service", f"service paychaos runs as a process ({why})", self.service,
                          target.services_of("command"))  # fmt: skip

    def build(self, context: FaultContext) -> Fault:
        if (why := not_a_process(context.target, self.service)) is not None:
            raise InvalidInput(why)
        name, stack = self.service, context.stack
        handle = ProcessHandle(name, lambda: stack.pid(name), restart=lambda: stack.restart(name))
        return ProcessFault(handle, self.action)


def not_a_process(target: Target, service: str) -> str | None:
    """Why a process fault cannot act on ``service`` (paychaos runs no process of it), or None."""
    spec = target.services[service]
    if spec.url is not None:
        return (f"{service} is a url service: it runs already, and paychaos, which only attaches to it, "
                "does not own its process; fault its links instead")  # fmt: skip
    if spec.compose is not None:
        return (f"{service} is a compose service, a container, not a process of paychaos's; use a "
                f"container fault: {{container: {service}, action: kill|stop|pause|restart}}")  # fmt: skip
    return None
