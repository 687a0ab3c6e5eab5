"""Putting a fault proxy in front of each link of a target.

For each link, a proxy listens on a free loopback port and forwards to the
link's real peer; the stack is told to use the proxy's address instead. With
no toxic on it a proxy only forwards, so the stack behaves as without it.
"""

from __future__ import annotations

from collections.abc import Iterable

from paychaos.errors import InfrastructureError
from paychaos.faults._client import ToxiproxyClient
from paychaos.faults._hop import HopClient
from paychaos.system import Address, Stack


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
