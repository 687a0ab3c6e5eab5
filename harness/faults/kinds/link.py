"""Faults on a link, through the Toxiproxy API of the run's backend: a toxic on it, or the link down.

In an experiment::

    - {at: 10s, duration: 10s, link: gateway_bank, toxic: latency, latency: 300ms}
    - {at: 12s, link: notifier_merchant, toxic: down}

Toxic attributes that are times (latency, jitter, delay, timeout) are durations,
converted to Toxiproxy's milliseconds (microseconds for a slicer's delay) when applied.

A link declared with ``toxiproxy:`` goes through a proxy of a Toxiproxy the user runs
(:class:`~paychaos.faults.LinkProxies` says which API and proxy serve each link). Its faults are
journalled with backend ``remote``: that Toxiproxy is no process of the run's, so its toxics
outlive a run that dies and are always taken back from the journal, never deemed gone with an
owner. Their toxics are named after the run (``paychaos.RUN_ID.latency_downstream_f1``), so a
heal never touches a toxic someone else put there, nor another run's.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from paychaos._ownership import Stamp
from paychaos.durations import Duration
from paychaos.errors import InvalidInput
from paychaos.faults._client import ToxiproxyClient, ToxiproxyError
from paychaos.faults._faults import Fault, Holder, holder_ids, owner_gone, owner_record, they_end
from paychaos.faults.kinds._spec import FaultContext, FaultSpec, Unknown
from paychaos.rundir import RunDir
from paychaos.system import Target

# The attributes each toxic takes (its YAML keys), beside at/duration/link/toxic/stream/toxicity.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "down": (),  # not a toxic: the link's proxy disabled
}
TOXIC_TYPES = tuple(name for name in TOXIC_ATTRIBUTES if name != "down")
"""Toxiproxy's toxics."""
REMOTE = "remote"
"""The backend of a fault on a proxy of a Toxiproxy the user runs for a link (``toxiproxy:``)."""

if TYPE_CHECKING:
    ToxicName = str
else:  # a Literal of the table's names: a mistyped toxic gets a did-you-mean
    ToxicName = Literal[tuple(TOXIC_ATTRIBUTES)]
# Toxiproxy takes its attributes as 32-bit-safe integers; anything larger is a typo.
ToxicInt = Annotated[int, Field(ge=0, le=2**31 - 1)]


class _ProxyFault(Fault):
    """A fault on the proxy in front of a link, through its backend's Toxiproxy API.

    Both kinds undo the same way: in a live run, or from the journal after the run died (then
    only once its backend is known to be the same process, see :func:`_backend_gone`; a remote
    one, the user's, is always asked).
    """

    def __init__(
        self,
        client: ToxiproxyClient,
        proxy: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        backend: str = "embedded",
    ) -> None:
        super().__init__(proxy, action, params)
        self._client = client
        self._backend = backend

    def _undo_record(self, **fields: Any) -> dict[str, Any]:
        return {"api": self._client.url, "backend": self._backend, "proxy": self.target, **fields,
                **_backend_owner(self._client.url, self._backend)}  # fmt: skip

    def heal(self, undo: dict[str, Any]) -> str:
        return self._undo(undo, verify=False)

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        return cls._undo(undo, verify=True)

    @classmethod
    def _undo(cls, undo: dict[str, Any], *, verify: bool) -> str:
        with ToxiproxyClient(undo["api"], timeout=5) as client:
            gone = _backend_gone(undo, client, verify=verify)
            if gone:
                return cls._gone(gone)
            return cls._take_back(client, undo)

    @staticmethod
    def _gone(why: str) -> str:
        return why

    @staticmethod
    @abstractmethod
    def _take_back(client: ToxiproxyClient, undo: dict[str, Any]) -> str:
        """Undo the fault on a backend that still serves it; returns what was done."""


class ToxicFault(_ProxyFault):
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
        name_prefix: str = "",
    ) -> None:
        if toxic_type not in TOXIC_TYPES:
            raise InvalidInput(f"unknown toxic {toxic_type!r}; expected one of {', '.join(TOXIC_TYPES)}")
        params = {**attributes, "stream": stream, "toxicity": toxicity}
        super().__init__(client, proxy, toxic_type, params, backend=backend)
        self._attributes = dict(attributes)
        self._stream = stream
        self._toxicity = toxicity
        self._name_prefix = name_prefix

    def apply(self, fault_id: str) -> dict[str, Any]:
        name = f"{self._name_prefix}{self.action}_{self._stream}_{fault_id}"
        self._client.add_toxic(
            self.target,
            self.action,
            self._attributes,
            stream=self._stream,
            toxicity=self._toxicity,
            name=name,
        )
        return self._undo_record(toxic=name)

    @staticmethod
    def _gone(why: str) -> str:
        return f"{why}, and its toxics with it"

    def measure(self, undo: dict[str, Any]) -> dict[str, int] | None:
        # What the link's proxy carried so far: read after the toxic went on and before it comes off,
        # the difference is what went through while it was in place (nothing: it acted on nothing).
        from paychaos.faults._backends import proxy_counters  # the backends use these faults' client

        return proxy_counters(self._client, self.target)

    @staticmethod
    def _take_back(client: ToxiproxyClient, undo: dict[str, Any]) -> str:
        removed = client.remove_toxic(undo["proxy"], undo["toxic"])
        return f"removed toxic {undo['toxic']}" if removed else f"toxic {undo['toxic']} was already gone"


class LinkDown(_ProxyFault):
    """The link's proxy disabled: new connections refused, open ones closed."""

    kind = "link"

    def __init__(self, client: ToxiproxyClient, proxy: str, *, backend: str = "embedded") -> None:
        super().__init__(client, proxy, "down", backend=backend)

    def apply(self, fault_id: str) -> dict[str, Any]:
        was: dict[str, Any] = {}
        if self._backend == REMOTE:  # the user's proxy may be disabled already: its heal leaves it so
            was["was_enabled"] = bool(self._client.proxies()[self.target].get("enabled", True))
        self._client.set_enabled(self.target, False)
        return self._undo_record(**was)

    @staticmethod
    def _take_back(client: ToxiproxyClient, undo: dict[str, Any]) -> str:
        if undo.get("was_enabled") is False:
            return f"left proxy {undo['proxy']} disabled, as it was before the fault"
        try:
            client.set_enabled(undo["proxy"], True)
        except ToxiproxyError as exc:
            if exc.status != 404:
                raise
            return f"proxy {undo['proxy']} is gone from the Toxiproxy at {undo['api']}: nothing to re-enable"
        return f"re-enabled proxy {undo['proxy']}"

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        return (f"proxy {undo['api']} {undo['proxy']}",)  # one enabled flag per proxy

    def on_top(self, undo: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
        # Applied while another down holds the proxy: it was disabled by that one, not before.
        return {**undo, "was_enabled": first["was_enabled"]} if "was_enabled" in first else undo

    def heal_shared(self, undo: dict[str, Any], holders: dict[str, list[Holder]]) -> str:
        return f"still down by {holder_ids(holders)}; re-enabled when {they_end(holders)}"


def _backend_owner(url: str, backend: str) -> dict[str, Any]:
    """The process serving a Toxiproxy API the harness started, to be checked before a later heal."""
    users = backend in ("external", REMOTE)
    return {} if users else owner_record(url)  # the user's: its port does not change hands


def _backend_gone(undo: dict[str, Any], client: ToxiproxyClient, *, verify: bool) -> str | None:
    """Why nothing is left to undo on a run's own Toxiproxy backend (it is gone), or None.

    With ``verify`` (after the run died), a backend recorded by process must still be that process
    and still serve the port: another run's backend may have the port now, with proxies and toxics
    of the same names.

    A Toxiproxy the user runs (``external``, ``remote``) is never gone with the run: its toxics stay
    until taken back, so its heal is always tried (and, while it does not answer, fails, to be tried
    again by the next ``paychaos heal``).
    """
    if undo.get("backend") in ("external", REMOTE):
        return None
    owner = Stamp.from_json(undo.get("owner"))
    if verify and owner is not None:
        return owner_gone(owner, undo["api"], "Toxiproxy backend")
    if not client.reachable():
        return "its Toxiproxy backend is gone"
    return None


# -- in an experiment: its YAML, checked against the target, built in a running stack --------


class LinkFault(FaultSpec):
    kind: ClassVar[str] = "link"
    places: ClassVar[tuple[str, ...]] = ("link",)
    fault_classes: ClassVar[tuple[type[Fault], ...]] = (ToxicFault, LinkDown)
    acts: ClassVar[str] = "bytes its link carried while the toxic was in place"

    link: str = Field(description="the link to act on (links: in target.yaml)")
    toxic: ToxicName = Field(
        description="the toxic: latency, bandwidth, slow_close, timeout, reset_peer, slicer or limit_data; "
        "down disables the link's proxy instead"
    )
    stream: Literal["upstream", "downstream"] = Field(
        default="downstream",
        description="downstream: what the peer sends back to the caller; upstream: what the caller sends "
        "to the peer, before it reaches the peer",
    )
    toxicity: Annotated[float, Field(ge=0, le=1)] = Field(
        default=1.0, description="the share of connections the toxic acts on, 0 to 1"
    )
    latency: Duration | None = Field(
        default=None,
        description="latency toxic (required): how long every piece of data is held, a duration such as "
        "500ms",
    )
    jitter: Duration | None = Field(
        default=None,
        description="latency toxic: how much more or less than latency each piece is held, a duration such "
        "as 100ms (default 0ms)",
    )
    rate: Annotated[ToxicInt, Field(description="KB/s")] | None = Field(
        default=None, description="bandwidth toxic (required): data flows at most this many KB per second"
    )
    delay: Duration | None = Field(
        default=None,
        description="slow_close: how long the connection's close is held; slicer: the pause between "
        "pieces; a duration such as 10ms (default 0ms)",
    )
    timeout: Duration | None = Field(
        default=None,
        description="timeout toxic: data stops, and the connection is closed after this (0ms, the default: "
        "never); reset_peer: the connection is reset after this (0ms: at once); a duration such as 5s",
    )
    average_size: Annotated[ToxicInt, Field(ge=1)] | None = Field(
        default=None, description="slicer (required): the size of the pieces data is cut into, in bytes"
    )
    size_variation: ToxicInt | None = Field(
        default=None, description="slicer: how many bytes a piece may be larger or smaller (default 0)"
    )
    bytes: ToxicInt | None = Field(
        default=None, description="limit_data (required): the connection is closed after this many bytes"
    )

    @model_validator(mode="after")
    def _attributes_fit_the_toxic(self) -> LinkFault:
        allowed = TOXIC_ATTRIBUTES[self.toxic]
        every = dict.fromkeys(name for names in TOXIC_ATTRIBUTES.values() for name in names)
        for name in every:
            if getattr(self, name) is not None and name not in allowed:
                takes = f"it takes {', '.join(allowed)}" if allowed else "it takes no attributes"
                owners = [t for t, attrs in TOXIC_ATTRIBUTES.items() if name in attrs]
                raise ValueError(f"{name!r} is not an attribute of a {self.toxic} toxic ({takes}); "
                                 f"{name!r} belongs to {' and '.join(owners)}")  # fmt: skip
        if self.toxic == "latency" and self.latency is None:
            raise ValueError("a latency toxic needs 'latency', e.g. latency: 500ms")
        if self.toxic == "bandwidth" and self.rate is None:
            raise ValueError("a bandwidth toxic needs 'rate' in KB/s, e.g. rate: 64")
        if self.toxic == "limit_data" and self.bytes is None:
            raise ValueError("a limit_data toxic needs 'bytes', e.g. bytes: 1024")
        if self.toxic == "slicer" and self.average_size is None:
            raise ValueError("a slicer toxic needs 'average_size' in bytes, e.g. average_size: 16")
        return self

    def toxiproxy_attributes(self) -> dict[str, int]:
        """The attributes in Toxiproxy's units (milliseconds; microseconds for slicer delay)."""
        out: dict[str, int] = {}
        if self.toxic == "latency":
            out = {"latency": _ms(self.latency), "jitter": _ms(self.jitter)}
        elif self.toxic == "bandwidth":
            out = {"rate": self.rate or 0}
        elif self.toxic == "slow_close":
            out = {"delay": _ms(self.delay)}
        elif self.toxic in ("timeout", "reset_peer"):
            out = {"timeout": _ms(self.timeout)}
        elif self.toxic == "slicer":
            out = {"average_size": self.average_size or 1, "size_variation": self.size_variation or 0,
                   "delay": round((self.delay or 0) * 1_000_000)}  # fmt: skip
        elif self.toxic == "limit_data":
            out = {"bytes": self.bytes or 0}
        return out

    def check(self, target: Target) -> Iterator[Unknown]:
        if self.link not in target.links:
            yield Unknown("link", "link", self.link, target.links)

    @classmethod
    def acted(cls, run_dir: Path) -> dict[str, int] | None:
        # A toxic on a link nothing used while it was on (a link no scenario goes through, a fault
        # timed for a quiet stretch) delayed or broke nothing: the run did not exercise it. Judged
        # only where the proxy's counters say so (the embedded server's /metrics); None elsewhere.
        from paychaos.faults._backends import carried_while_in_place

        events = RunDir(run_dir).read_journal()
        toxics = {str(e.get("id")) for e in events if (e.get("event"), e.get("kind")) == ("applied", "toxic")}
        carried = {fid: n for fid, n in carried_while_in_place(events).items() if fid in toxics}
        return carried or None

    def build(self, context: FaultContext) -> Fault:
        proxies = context.proxies
        client, proxy = proxies.client_for(self.link), proxies.proxy(self.link)
        remote = proxies.remote(self.link)
        backend = REMOTE if remote else context.backend
        if self.toxic == "down":
            return LinkDown(client, proxy, backend=backend)
        return ToxicFault(
            client,
            proxy,
            self.toxic,
            self.toxiproxy_attributes(),
            stream=self.stream,
            toxicity=self.toxicity,
            backend=backend,
            # On the user's proxy, beside toxics of theirs and of other runs: named after this run.
            name_prefix=f"paychaos.{context.run_dir.name}." if remote else "",
        )


def _ms(seconds: float | None) -> int:
    return round((seconds or 0) * 1000)
