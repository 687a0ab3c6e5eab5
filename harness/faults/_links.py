"""Putting a fault proxy in front of each link of a target.

For each link, a proxy listens on a free loopback port and forwards to the
link's real peer; the stack is told to use the proxy's address instead. With
no toxic on it a proxy only forwards, so the stack behaves as without it.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.faults._client import ToxiproxyClient
from harness.system import Address, Stack


class LinkProxies:
    """The proxies of one run, created before the stack starts and deleted after it stops."""

    def __init__(
        self, client: ToxiproxyClient, stack: Stack, links: Iterable[str], *, prefix: str = ""
    ) -> None:
        self.client = client
        self.names: dict[str, str] = {}  # link -> proxy name
        for link in links:
            name = f"{prefix}{link}"
            self.client.delete_proxy(name)  # a crashed run's proxy of the same name
            proxy = self.client.create_proxy(name, "127.0.0.1:0", str(stack.peer(link)))
            host, _, port = proxy["listen"].rpartition(":")
            stack.route(link, Address(host, int(port)))
            self.names[link] = name

    def proxy(self, link: str) -> str:
        return self.names[link]

    def close(self) -> None:
        for name in self.names.values():
            self.client.delete_proxy(name)
        self.names.clear()
