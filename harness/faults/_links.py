"""Putting a fault proxy in front of each link of a target.

For each link, a proxy listens on a free loopback port and forwards to the
link's real peer; the stack is told to use the proxy's address instead. With
no toxic on it a proxy only forwards, so the stack behaves as without it.

A link declared with ``toxiproxy: {url, proxy}`` already goes through a proxy of
a Toxiproxy the user runs (a sidecar in staging or Kubernetes): the run makes no
proxy for it, tells the stack that proxy's ``listen`` address, and its faults add
and remove toxics there. That proxy is never created, changed or deleted here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from paychaos.errors import InfrastructureError, did_you_mean
from paychaos.faults._client import ToxiproxyClient
from paychaos.faults._hop import HopClient
from paychaos.system import Address, Stack

_ANY_HOST = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class RemoteProxy:
    """A proxy on a Toxiproxy the user runs, as its API shows it."""

    api: str
    name: str
    listen: Address
    """Where a client reaches it: its ``listen``, with the Toxiproxy's host for an any-address."""
    upstream: str
    enabled: bool
    toxics: tuple[str, ...]
    """Its toxics now, ``name (type)``: someone else's, which paychaos leaves alone."""

    def describe(self) -> str:
        state = "" if self.enabled else ", disabled"
        return (f"proxy {self.name} on the Toxiproxy at {self.api} "
                f"(listens on {self.listen}, upstream {self.upstream}{state})")  # fmt: skip


class LinkProxies:
    """The proxies of one run, created before the stack starts and deleted after it stops.

    A link through a Toxiproxy the user runs (``toxiproxy:`` in target.yaml) gets none: it is routed
    to that proxy, which stays as it is. ``say`` is told what the run found there (toxics someone
    else put on it, a disabled proxy).
    """

    def __init__(
        self,
        client: ToxiproxyClient,
        stack: Stack,
        links: Iterable[str],
        *,
        prefix: str = "",
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.names: dict[str, str] = {}  # link -> proxy name
        self._remote: dict[str, ToxiproxyClient] = {}  # link -> the API of the user's Toxiproxy
        apis: dict[str, ToxiproxyClient] = {}
        try:
            for link in links:
                spec = stack.target.links[link].toxiproxy
                if spec is None:
                    name = f"{prefix}{link}"
                    self.client.delete_proxy(name)  # a crashed run's proxy of the same name
                    proxy = self.client.create_proxy(name, "127.0.0.1:0", str(stack.peer(link)))
                    stack.route(link, _address(proxy["listen"], self.client.url))
                    self.names[link] = name
                    continue
                if spec.url not in apis:
                    apis[spec.url] = ToxiproxyClient(spec.url, timeout=10)
                api = self._remote[link] = apis[spec.url]
                found = _reach(api, spec.proxy, f"links.{link}.toxiproxy")
                stack.route(link, found.listen)
                self.names[link] = spec.proxy
                if say is not None:
                    say(f"{link}: through {found.describe()}")
                    if found.toxics:
                        say(f"{link}: proxy {found.name} already has toxics, left as they are: "
                            f"{', '.join(found.toxics)}")  # fmt: skip
        except BaseException:
            with contextlib.suppress(InfrastructureError):
                self.close()  # what was made so far; the error that stopped it is the one to tell
            raise

    def proxy(self, link: str) -> str:
        """The name of ``link``'s proxy, on the API :meth:`client_for` gives."""
        return self.names[link]

    def client_for(self, link: str) -> ToxiproxyClient:
        """The Toxiproxy API that serves ``link``'s proxy: the run's, or the user's for a remote link."""
        return self._remote.get(link, self.client)

    def remote(self, link: str) -> bool:
        """True if ``link`` goes through a proxy of a Toxiproxy the user runs (not the run's own)."""
        return link in self._remote

    @staticmethod
    def lookup(client: ToxiproxyClient, name: str) -> RemoteProxy:
        """Proxy ``name`` on the Toxiproxy ``client`` talks to, as it is now; changes nothing.

        >>> LinkProxies.lookup(ToxiproxyClient("http://127.0.0.1:8474"), "psp").listen  # doctest: +SKIP
        Address(host='127.0.0.1', port=20001)

        Raises InfrastructureError when the API does not answer, or has no such proxy (listing the
        ones it has, with the closest name).
        """
        proxies = client.proxies()
        if name not in proxies:
            known = sorted(proxies)
            listed = ", ".join(known) or "none"
            raise InfrastructureError(
                f"no proxy {name!r} on the Toxiproxy at {client.url}; paychaos never creates one: create "
                f"it there (in front of the link's peer), or fix the name; it has: {listed}"
                f"{did_you_mean(name, known)}"
            )
        proxy: dict[str, Any] = proxies[name]
        on_it: list[dict[str, Any]] = proxy.get("toxics") or client.toxics(name)
        toxics = tuple(f"{t.get('name')} ({t.get('type')})" for t in on_it)
        listen = _address(str(proxy["listen"]), client.url)
        upstream, enabled = str(proxy.get("upstream", "?")), bool(proxy.get("enabled", True))
        return RemoteProxy(client.url, name, listen, upstream, enabled, toxics)

    def close(self) -> None:
        """Delete the run's own proxies; a proxy of the user's Toxiproxy is left as it is."""
        try:
            for link, name in list(self.names.items()):
                if link not in self._remote:
                    self.client.delete_proxy(name)
                del self.names[link]
        finally:
            for api in dict.fromkeys(self._remote.values()):
                api.close()
            self._remote.clear()


def _reach(client: ToxiproxyClient, name: str, where: str) -> RemoteProxy:
    """:meth:`LinkProxies.lookup`, its errors saying which key of ``where`` (``links.X.toxiproxy``) to fix."""
    if not client.reachable():
        raise InfrastructureError(
            f"{where}.url: the Toxiproxy at {client.url} does not answer (GET /version); start it, "
            "or fix the URL (paychaos starts no Toxiproxy for a link through one you run)"
        )
    try:
        return LinkProxies.lookup(client, name)
    except InfrastructureError as exc:
        raise InfrastructureError(f"{where}.proxy: {exc}") from exc


def _address(listen: str, api: str) -> Address:
    """Where a client reaches a proxy listening on ``listen`` (``HOST:PORT``, ``[::]:PORT``, ``:PORT``)
    of the Toxiproxy whose API is ``api``: an any-address is the Toxiproxy's own host."""
    host, _, port = listen.rpartition(":")
    if host in _ANY_HOST:
        host = urlsplit(api).hostname or "127.0.0.1"
    host = host.strip("[]")
    return Address(f"[{host}]" if ":" in host else host, int(port))


class HopLinks:
    """The run's HTTP hop in front of some links: service → hop → (the link's proxy) → peer.

    Made after the link proxies and before the stack starts, so each source is told the hop's
    address; TCP faults on the link's proxy still apply behind it.
    """

    def __init__(self, client: HopClient, stack: Stack, links: Iterable[str]) -> None:
        self.client = client
        self.names: dict[str, str] = {}  # link -> hop link name
        for link in links:
            created = client.create_link(link, "127.0.0.1:0", str(stack.address(link)))
            host, _, port = str(created["listen"]).rpartition(":")
            stack.route(link, Address(host, int(port)))
            self.names[link] = link

    def close(self) -> None:
        """Take the hop out of the links (the hop process itself is stopped with the run)."""
        try:
            for name in self.names.values():
                self.client.delete_link(name)
        except InfrastructureError:
            pass  # the hop is gone already, and its links with it
        finally:
            self.names.clear()
            self.client.close()
