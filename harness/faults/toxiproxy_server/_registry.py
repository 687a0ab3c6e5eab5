"""The set of proxies and every operation the API offers on it, with Toxiproxy's semantics.

HTTP-free on purpose: ``_api.py`` decodes requests and encodes answers, this
module decides what happens. Operations that await (binding, name lookups) are
serialised by :attr:`Registry.lock`, taken by the API around every change.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from paychaos.faults.toxiproxy_server._addresses import resolve_tcp_addr
from paychaos.faults.toxiproxy_server._errors import (
    ApiError,
    proxy_already_exists,
    proxy_not_found,
    toxic_already_exists,
    toxic_not_found,
)
from paychaos.faults.toxiproxy_server._metrics import ProxyCollector
from paychaos.faults.toxiproxy_server._proxy import Proxy
from paychaos.faults.toxiproxy_server._toxics import Toxic, merge_update, parse_toxic


@dataclass(frozen=True)
class ProxySpec:
    """A proxy as a create or populate request describes it."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True


class PopulateError(ApiError):
    """A populate that failed part-way; ``applied`` are the proxies it had already set up."""

    def __init__(self, cause: ApiError, applied: list[Proxy]) -> None:
        super().__init__(cause.status, cause.message)
        self.applied = applied


class Registry:
    def __init__(
        self, *, rng: random.Random, allow_non_loopback: bool, metrics: ProxyCollector | None = None
    ) -> None:
        self.lock = asyncio.Lock()
        self._rng = rng
        self._allow_non_loopback = allow_non_loopback
        self._metrics = metrics
        self._proxies: dict[str, Proxy] = {}

    def all(self) -> list[Proxy]:
        return list(self._proxies.values())

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise proxy_not_found()
        return proxy

    def _new(self, spec: ProxySpec) -> Proxy:
        return Proxy(
            spec.name,
            spec.listen,
            spec.upstream,
            rng=self._rng,
            allow_non_loopback=self._allow_non_loopback,
            metrics=self._metrics,
        )

    async def create(self, spec: ProxySpec) -> Proxy:
        if spec.name in self._proxies:
            raise proxy_already_exists()
        proxy = self._new(spec)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def populate(self, specs: list[ProxySpec]) -> list[Proxy]:
        """Toxiproxy 2.12's populate: add, keep or replace each proxy, in order.

        A proxy that does not differ from the existing one of its name (see
        :meth:`_differs`) is kept as it is: toxics, connections and enabled state. Any
        other existing proxy of that name is stopped and replaced by a new one, without
        toxics. The first failure ends it there: what was applied before stays applied,
        and comes back with the error (:class:`PopulateError`).
        """
        applied: list[Proxy] = []
        for spec in specs:
            try:
                applied.append(await self._add_or_replace(spec))
            except ApiError as exc:
                raise PopulateError(exc, applied) from None
        return applied

    @staticmethod
    async def _differs(proxy: Proxy, listen: str, upstream: str) -> bool:
        """Toxiproxy's test: another upstream, or a ``listen`` that resolves to another address
        than the proxy's (which, once bound, is the bound one: ``localhost:0`` always differs)."""
        return upstream != proxy.upstream or await resolve_tcp_addr(listen) != proxy.listen

    async def _add_or_replace(self, spec: ProxySpec) -> Proxy:
        existing = self._proxies.get(spec.name)
        if existing is not None and not await self._differs(existing, spec.listen, spec.upstream):
            return existing
        proxy = self._new(spec)
        if spec.enabled:
            try:
                await proxy.check_listen(spec.listen)
            except ApiError as exc:
                # Toxiproxy stops the old proxy before it finds the new address unusable; the
                # loopback rule (a 400) is this server's own and refuses before anything changes.
                if exc.status != 400 and existing is not None:
                    existing.stop()
                raise
        if existing is not None:
            existing.stop()
        if spec.enabled:
            await proxy.start()  # if it fails, the old proxy stays listed, stopped, as in Toxiproxy
        self._proxies[spec.name] = proxy
        return proxy

    async def update(self, proxy: Proxy, *, listen: str, upstream: str, enabled: bool) -> Proxy:
        if await self._differs(proxy, listen, upstream):
            was_enabled = proxy.enabled
            await proxy.reconfigure(listen, upstream)
            if was_enabled and enabled:
                await proxy.start()
        if enabled and not proxy.enabled:
            await proxy.start()
        elif not enabled and proxy.enabled:
            proxy.stop()
        return proxy

    def delete(self, name: str) -> None:
        self.get(name).stop()
        del self._proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (with the effects a removal has)."""
        for proxy in self.all():
            await proxy.start()
            proxy.remove_all_toxics()

    def close_all(self) -> None:
        for proxy in self.all():
            proxy.stop()

    # Toxics.

    def add_toxic(self, proxy: Proxy, body: Any) -> Toxic:
        toxic = parse_toxic(body)
        if proxy.find_toxic(toxic.name) is not None:
            raise toxic_already_exists()
        proxy.add_toxic(toxic)
        return toxic

    def get_toxic(self, proxy: Proxy, name: str) -> Toxic:
        toxic = proxy.find_toxic(name)
        if toxic is None:
            raise toxic_not_found()
        return toxic

    def update_toxic(self, proxy: Proxy, name: str, body: Any) -> Toxic:
        toxic = merge_update(self.get_toxic(proxy, name), body)
        proxy.update_toxic(toxic)
        return toxic

    def remove_toxic(self, proxy: Proxy, name: str) -> None:
        self.get_toxic(proxy, name)
        proxy.remove_toxic(name)
