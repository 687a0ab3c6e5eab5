"""The faults: each knows how to apply itself and how to undo it, also after its run died.

``apply`` injects the fault and returns the *undo record*: plain JSON that says
how to take it back. The injector journals that record before anything else
can happen, so ``revert(undo)`` — a classmethod that needs no live object —
can heal it from the journal of a run that was killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
import psutil

from harness.errors import InfrastructureError, InvalidInput
from harness.faults._client import ToxiproxyClient

TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data")


class Fault(ABC):
    kind: ClassVar[str]

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

    @classmethod
    @abstractmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        """Undo from the journal alone (the run that applied it may be gone)."""

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.action} on {self.target}" + (f" ({params})" if params else "")


# -- network: through the Toxiproxy API --------------------------------------------------


class ToxicFault(Fault):
    """A toxic on the proxy in front of a link (latency, timeout, reset_peer, …)."""

    kind = "toxic"

    def __init__(
        self,
        client: ToxiproxyClient,
        proxy: str,
        toxic_type: str,
        attributes: Mapping[str, Any],
        *,
        stream: Literal["upstream", "downstream"] = "downstream",
        toxicity: float = 1.0,
        backend: str = "embedded",
    ) -> None:
        if toxic_type not in TOXIC_TYPES:
            raise InvalidInput(f"unknown toxic {toxic_type!r}; expected one of {', '.join(TOXIC_TYPES)}")
        super().__init__(proxy, toxic_type, {**attributes, "stream": stream, "toxicity": toxicity})
        self._client = client
        self._attributes = dict(attributes)
        self._stream = stream
        self._toxicity = toxicity
        self._backend = backend

    def apply(self, fault_id: str) -> dict[str, Any]:
        name = f"{self.action}_{self._stream}_{fault_id}"
        self._client.add_toxic(
            self.target,
            self.action,
            self._attributes,
            stream=self._stream,
            toxicity=self._toxicity,
            name=name,
        )
        return {"api": self._client.url, "backend": self._backend, "proxy": self.target, "toxic": name}

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        with ToxiproxyClient(undo["api"], timeout=5) as client:
            if undo.get("backend") != "external" and not client.reachable():
                return "its Toxiproxy backend is gone, and its toxics with it"
            removed = client.remove_toxic(undo["proxy"], undo["toxic"])
        return f"removed toxic {undo['toxic']}" if removed else f"toxic {undo['toxic']} was already gone"


class LinkDown(Fault):
    """The link's proxy disabled: new connections refused, open ones closed."""

    kind = "link"

    def __init__(self, client: ToxiproxyClient, proxy: str, *, backend: str = "embedded") -> None:
        super().__init__(proxy, "down")
        self._client = client
        self._backend = backend

    def apply(self, fault_id: str) -> dict[str, Any]:
        self._client.set_enabled(self.target, False)
        return {"api": self._client.url, "backend": self._backend, "proxy": self.target}

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        with ToxiproxyClient(undo["api"], timeout=5) as client:
            if undo.get("backend") != "external" and not client.reachable():
                return "its Toxiproxy backend is gone"
            client.set_enabled(undo["proxy"], True)
        return f"re-enabled proxy {undo['proxy']}"


# -- local processes ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessHandle:
    """A process to fault: how to find its current pid, and how to start it again."""

    name: str
    pid: Callable[[], int]
    restart: Callable[[], None] | None = None


ProcessAction = Literal["kill", "terminate", "pause", "restart"]
_SIGNALS = {"kill": signal.SIGKILL, "terminate": signal.SIGTERM, "pause": signal.SIGSTOP}


class ProcessFault(Fault):
    """kill (SIGKILL), terminate (SIGTERM), pause (SIGSTOP … SIGCONT) or restart a process.

    A service started in its own session is signalled as a whole process group.
    Healing a kill or terminate starts the service again with its own command.
    """

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
            if psutil.Process(pid).create_time() != undo["created"]:
                return f"process {pid} is gone (its pid now belongs to another process)"
            (os.killpg if undo["group"] else os.kill)(pid, signal.SIGCONT)
        except (ProcessLookupError, psutil.NoSuchProcess):
            return f"process {pid} is gone"
        return f"resumed process {pid}"


# -- configuration -------------------------------------------------------------------------


class ConfigFault(Fault):
    """Set a config endpoint to a bad value; healing puts the value read before back."""

    kind = "config"

    def __init__(self, name: str, url: str, body: Mapping[str, Any], *, method: str = "PUT") -> None:
        super().__init__(name, "set", body)
        self._url = url
        self._method = method
        self._body = dict(body)

    def apply(self, fault_id: str) -> dict[str, Any]:
        try:
            previous = httpx.get(self._url, timeout=10)
            previous.raise_for_status()
            changed = httpx.request(self._method, self._url, json=self._body, timeout=10)
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"cannot change config {self.target} at {self._url}: {exc}") from exc
        if changed.status_code >= 400:
            raise InfrastructureError(
                f"config {self.target} at {self._url} refused {self._body}: "
                f"{changed.status_code} {changed.text}"
            )
        return {"url": self._url, "method": self._method, "previous": previous.json()}

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        try:
            reply = httpx.request(undo["method"], undo["url"], json=undo["previous"], timeout=10)
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"cannot restore config at {undo['url']}: {exc}") from exc
        if reply.status_code >= 400:
            raise InfrastructureError(
                f"restoring config at {undo['url']} was refused: {reply.status_code} {reply.text}"
            )
        return f"restored config at {undo['url']}"


def _until_stopped(pid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not stopped(pid) and time.monotonic() < deadline:
        time.sleep(0.005)


def stopped(pid: int) -> bool:
    """True if the process exists and is stopped (paused)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return bool(psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    return False
