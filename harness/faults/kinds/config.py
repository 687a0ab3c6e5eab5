"""Config faults: a service's config endpoint set to a bad value; healing puts back the value read before.

In an experiment (``promotion`` is one of the target's ``config:`` endpoints)::

    - {at: 25s, duration: 10s, config: promotion, set: {percent: 20, applies_to: all}}
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import Field

from paychaos._ownership import Stamp, listener, serving
from paychaos.errors import InfrastructureError
from paychaos.faults._faults import Abandoned, Fault, Holder, port_of, they_end
from paychaos.faults.kinds._spec import FaultContext, FaultSpec, Unknown
from paychaos.system import Target

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
            previous = _http().get(self._url)
            previous.raise_for_status()
            changed = _http().request(self._method, self._url, json=self._body)
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"cannot change config {self.target} at {self._url}: {exc}") from exc
        if changed.status_code >= 400:
            raise InfrastructureError(
                f"config {self.target} at {self._url} refused {self._body}: "
                f"{changed.status_code} {changed.text}"
            )
        undo = {"url": self._url, "method": self._method, "previous": previous.json()}
        owner = listener(port_of(self._url)) if urlsplit(self._url).hostname in _LOOPBACK else None
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
        state = serving(owner, port_of(url)) if owner.created is not None else "ended"
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
            return f"still set by {newest.fault_id} (applied later); restored when {they_end(holders)}"
        assert isinstance(newest.fault, ConfigFault)
        _send(undo["method"], undo["url"], newest.fault._body)
        return f"put back {newest.fault_id}'s value; the original is restored when {they_end(holders)}"


@functools.cache
def _http() -> httpx.Client:
    """One client for every config call: making one costs tens of milliseconds (its TLS context),
    which each apply and heal would add to the fault schedule."""
    return httpx.Client(timeout=10)


def _send(method: str, url: str, body: Any) -> str:
    try:
        reply = _http().request(method, url, json=body)
    except httpx.HTTPError as exc:
        raise InfrastructureError(f"cannot restore config at {url}: {exc}") from exc
    if reply.status_code >= 400:
        raise InfrastructureError(f"restoring config at {url} was refused: {reply.status_code} {reply.text}")
    return f"restored config at {url}"


# -- in an experiment: its YAML, checked against the target, built in a running stack --------


class ConfigFaultSpec(FaultSpec):
    kind: ClassVar[str] = "config"
    places: ClassVar[tuple[str, ...]] = ("config",)
    fault_classes: ClassVar[tuple[type[Fault], ...]] = (ConfigFault,)

    config: str = Field(description="the config endpoint to set (config: in target.yaml)")
    set: dict[str, Any] = Field(
        description="the bad value, sent as the JSON body with the endpoint's method; the value read "
        "before is sent back when the fault heals"
    )

    def check(self, target: Target) -> Iterator[Unknown]:
        if self.config not in target.config:
            yield Unknown("config", "config endpoint", self.config, target.config)

    def build(self, context: FaultContext) -> Fault:
        endpoint = context.target.config[self.config]
        url = f"{context.stack.url(endpoint.service)}{endpoint.path}"
        return ConfigFault(self.config, url, self.set, method=endpoint.method)
