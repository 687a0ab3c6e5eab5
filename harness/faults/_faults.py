"""The faults: each knows how to apply itself and how to undo it, also after its run died.

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
from urllib.parse import urlsplit

import httpx
import psutil

from harness._ownership import Stamp, listener, serving
from harness.errors import InfrastructureError, InvalidInput
from harness.faults._client import ToxiproxyClient

TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data")


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
        """Undo from the journal alone (the run that applied it may be gone).

        Raises :class:`Abandoned` when it cannot be done and never will be.
        """

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
        return f"still {self.action} by {_ids(holders)}; undone when {_they(holders)}"

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
        return {"api": self._client.url, "backend": self._backend, "proxy": self.target, "toxic": name,
                **_backend_owner(self._client.url, self._backend)}  # fmt: skip

    def heal(self, undo: dict[str, Any]) -> str:
        return self._remove(undo, verify=False)

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        return cls._remove(undo, verify=True)

    @staticmethod
    def _remove(undo: dict[str, Any], *, verify: bool) -> str:
        with ToxiproxyClient(undo["api"], timeout=5) as client:
            gone = _backend_gone(undo, client, verify=verify)
            if gone:
                return f"{gone}, and its toxics with it"
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
        return {"api": self._client.url, "backend": self._backend, "proxy": self.target,
                **_backend_owner(self._client.url, self._backend)}  # fmt: skip

    def heal(self, undo: dict[str, Any]) -> str:
        return self._enable(undo, verify=False)

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        return cls._enable(undo, verify=True)

    @staticmethod
    def _enable(undo: dict[str, Any], *, verify: bool) -> str:
        with ToxiproxyClient(undo["api"], timeout=5) as client:
            gone = _backend_gone(undo, client, verify=verify)
            if gone:
                return gone
            client.set_enabled(undo["proxy"], True)
        return f"re-enabled proxy {undo['proxy']}"

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        return (f"proxy {undo['api']} {undo['proxy']}",)  # one enabled flag per proxy

    def heal_shared(self, undo: dict[str, Any], holders: dict[str, list[Holder]]) -> str:
        return f"still down by {_ids(holders)}; re-enabled when {_they(holders)}"


def _backend_owner(url: str, backend: str) -> dict[str, Any]:
    """The process serving a Toxiproxy API the harness started, to be checked before a later heal."""
    if backend == "external":
        return {}  # the user's: its port does not change hands when a run dies
    owner = listener(_port(url))
    return {"owner": owner.as_json()} if owner else {}


def _backend_gone(undo: dict[str, Any], client: ToxiproxyClient, *, verify: bool) -> str | None:
    """Why nothing is left to undo on a run's own Toxiproxy backend (it is gone), or None.

    With ``verify`` (after the run died), a backend recorded by process must still be that process
    and still serve the port: another run's backend may have the port now, with proxies and toxics
    of the same names.
    """
    if undo.get("backend") == "external":
        return None
    owner = Stamp.from_json(undo.get("owner"))
    if verify and owner is not None:
        state = serving(owner, _port(undo["api"]))
        if state == "ended":
            return f"its Toxiproxy backend ({owner.describe()}) is gone"
        if state == "not serving":
            raise Abandoned(
                f"{undo['api']} is no longer served by its Toxiproxy backend ({owner.describe()}); "
                "nothing sent"
            )
        return None
    if not client.reachable():
        return "its Toxiproxy backend is gone"
    return None


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


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
            if not Stamp(pid, undo["created"]).is_this(psutil.Process(pid)):
                return f"process {pid} is gone (its pid now belongs to another process)"
            (os.killpg if undo["group"] else os.kill)(pid, signal.SIGCONT)
        except (ProcessLookupError, psutil.NoSuchProcess):
            return f"process {pid} is gone"
        return f"resumed process {pid}"

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        if undo["action"] == "pause":
            return (f"process {undo['pid']} {undo['created']}",)  # one SIGCONT resumes every pause
        if undo["action"] in ("kill", "terminate") and self._process.restart is not None:
            return (f"service {self.target}",)  # one restart brings it back for every kill
        return ()

    def heal_shared(self, undo: dict[str, Any], holders: dict[str, list[Holder]]) -> str:
        if undo["action"] == "pause":
            return f"still paused by {_ids(holders)}; resumed when {_they(holders)}"
        return f"still down by {_ids(holders)}; restarted when {_they(holders)}"


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
        undo = {"url": self._url, "method": self._method, "previous": previous.json()}
        owner = listener(_port(self._url)) if urlsplit(self._url).hostname in _LOOPBACK else None
        return {**undo, "owner": owner.as_json()} if owner else undo

    def heal(self, undo: dict[str, Any]) -> str:
        return _send(undo["method"], undo["url"], undo["previous"])

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        """After the run died: restore only if the port is still served by the run's own service."""
        url = undo["url"]
        owner = Stamp.from_json(undo.get("owner"))
        if owner is None:
            raise Abandoned(
                f"the journal does not say which process served {url} (an older paychaos wrote it), so "
                "whether that port still belongs to the run's service cannot be told; nothing sent"
            )
        state = serving(owner, _port(url)) if owner.created is not None else "ended"
        if state == "ended":
            raise Abandoned(f"the service that served {url} ({owner.describe()}) is gone, and the changed "
                            "value with it; nothing sent")  # fmt: skip
        if state == "not serving":
            raise Abandoned(
                f"{url} is no longer served by the run's service ({owner.describe()}); nothing sent"
            )
        return _send(undo["method"], url, undo["previous"])

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        return (f"config {undo['url']}",)

    def on_top(self, undo: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
        # What this fault read is the first one's value; what undoing them all restores is the original.
        return {**undo, "previous": first["previous"]}

    def heal_shared(self, undo: dict[str, Any], holders: dict[str, list[Holder]]) -> str:
        newest = holders[f"config {undo['url']}"][-1]
        if newest.newer:
            return f"still set by {newest.fault_id} (applied later); restored when {_they(holders)}"
        assert isinstance(newest.fault, ConfigFault)
        _send(undo["method"], undo["url"], newest.fault._body)
        return f"put back {newest.fault_id}'s value; the original is restored when {_they(holders)}"


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _send(method: str, url: str, body: Any) -> str:
    try:
        reply = httpx.request(method, url, json=body, timeout=10)
    except httpx.HTTPError as exc:
        raise InfrastructureError(f"cannot restore config at {url}: {exc}") from exc
    if reply.status_code >= 400:
        raise InfrastructureError(f"restoring config at {url} was refused: {reply.status_code} {reply.text}")
    return f"restored config at {url}"


def _ids(holders: dict[str, list[Holder]]) -> str:
    return ", ".join(dict.fromkeys(h.fault_id for group in holders.values() for h in group))


def _they(holders: dict[str, list[Holder]]) -> str:
    many = len({h.fault_id for group in holders.values() for h in group}) > 1
    return "they end" if many else "it ends"


def _until_stopped(pid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not stopped(pid) and time.monotonic() < deadline:
        time.sleep(0.005)


def stopped(pid: int) -> bool:
    """True if the process exists and is stopped (paused)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return bool(psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    return False
