"""A named proxy: its listener, its upstream, its toxics, and the connections it carries.

Every change to the toxic list is pushed to the connections already open, so a
toxic added in the middle of a transfer affects that transfer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from functools import partial
from typing import Any

from paychaos.faults.toxiproxy_server._addresses import (
    bind_listener,
    format_address,
    resolve_listen,
    shown_as_go,
    split_host_port,
)
from paychaos.faults.toxiproxy_server._connection import Connection, Side
from paychaos.faults.toxiproxy_server._errors import bad_request_body
from paychaos.faults.toxiproxy_server._metrics import ProxyCollector
from paychaos.faults.toxiproxy_server._toxics import STREAMS, Stream, Toxic

log = logging.getLogger(__name__)


def parse_upstream(upstream: str) -> tuple[str, int]:
    """Check an upstream ``host:port`` up front: a typo fails the API call, not every connection."""
    try:
        return split_host_port(upstream)
    except ValueError as exc:
        raise bad_request_body(f"upstream: {exc}") from None


class _ClientSide(Side):
    """The accepted socket; it asks its proxy to dial the upstream as soon as it exists."""

    def __init__(self, proxy: Proxy) -> None:
        super().__init__()
        self._proxy = proxy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._proxy._accepted(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.conn is None:
            self._proxy._gave_up(self)


class _UpstreamSide(Side):
    """The dialled socket: the connection is wired the moment it exists, not a loop turn later."""

    def __init__(self, proxy: Proxy, client: _ClientSide) -> None:
        super().__init__()
        self._proxy = proxy
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._proxy._connected(self._client, self)


class Proxy:
    """One proxy of the API. Mutated only from the event loop thread."""

    def __init__(
        self,
        name: str,
        listen: str,
        upstream: str,
        *,
        rng: random.Random,
        allow_non_loopback: bool,
        metrics: ProxyCollector | None = None,
    ) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[Stream, list[Toxic]] = {stream: [] for stream in STREAMS}
        self._upstream_addr = parse_upstream(upstream)
        self._rng = rng
        self._allow_non_loopback = allow_non_loopback
        self._metrics = metrics
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop  # set by start(), before any connection can arrive
        self._connections: set[Connection] = set()
        self._dialing: dict[_ClientSide, asyncio.Task[Any]] = {}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.all_toxics()],
        }

    # Listening.

    async def check_listen(self, listen: str) -> None:
        """Raise ApiError unless ``listen`` is an address this server may bind."""
        await resolve_listen(listen, allow_non_loopback=self._allow_non_loopback)

    async def start(self) -> None:
        if self.enabled:
            return
        family, sockaddr = await resolve_listen(self.listen, allow_non_loopback=self._allow_non_loopback)
        sock = bind_listener(family, sockaddr, shown_as_go(self.listen, sockaddr))
        bound = format_address(sock.getsockname())
        loop = self._loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(partial(_ClientSide, self), sock=sock)
        except BaseException:
            sock.close()
            raise
        # Asked for port 0, shown the real one: clients read it back to learn where to connect.
        self.listen = bound
        self.enabled = True

    def stop(self) -> None:
        """Stop listening and drop every connection, open or still dialing."""
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for client, task in list(self._dialing.items()):
            task.cancel()
            client.transport.abort()
        self._dialing.clear()
        for conn in list(self._connections):
            conn.close(abort=True)
        self._connections.clear()

    async def reconfigure(self, listen: str, upstream: str) -> None:
        """New addresses: drop everything, as Toxiproxy restarts a proxy whose addresses change."""
        upstream_addr = parse_upstream(upstream)
        await self.check_listen(listen)
        self.stop()
        self.listen = listen
        self.upstream = upstream
        self._upstream_addr = upstream_addr

    # Toxics: the list is the source of truth; each open connection gets the same change.

    def all_toxics(self) -> list[Toxic]:
        # Upstream first, then downstream: the order Toxiproxy lists them in.
        return [toxic for stream in STREAMS for toxic in self.toxics[stream]]

    def find_toxic(self, name: str) -> Toxic | None:
        for toxic in self.all_toxics():
            if toxic.name == name:
                return toxic
        return None

    def add_toxic(self, toxic: Toxic) -> None:
        self.toxics[toxic.stream].append(toxic)
        for conn in list(self._connections):
            conn.links[toxic.stream].add(toxic)

    def update_toxic(self, toxic: Toxic) -> None:
        chain = self.toxics[toxic.stream]
        chain[[t.name for t in chain].index(toxic.name)] = toxic
        for conn in list(self._connections):
            conn.links[toxic.stream].update(toxic)

    def remove_toxic(self, name: str) -> None:
        toxic = self.find_toxic(name)
        if toxic is None:
            return
        self.toxics[toxic.stream].remove(toxic)
        for conn in list(self._connections):
            conn.links[toxic.stream].remove(name)

    def remove_all_toxics(self) -> None:
        for toxic in self.all_toxics():
            self.remove_toxic(toxic.name)

    # Connections.

    def _accepted(self, client: _ClientSide) -> None:
        host, port = self._upstream_addr
        loop = self._loop
        # No coroutine of our own around the dial: _UpstreamSide.connection_made wires the
        # connection, and the task's result only matters when the dial failed.
        task = loop.create_task(loop.create_connection(partial(_UpstreamSide, self, client), host, port))
        self._dialing[client] = task
        task.add_done_callback(partial(self._dialled, client))

    def _gave_up(self, client: _ClientSide) -> None:
        task = self._dialing.pop(client, None)
        if task is not None:
            task.cancel()

    def _dialled(self, client: _ClientSide, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._dialing.pop(client, None) is not None:
            # Toxiproxy's answer to an unreachable upstream: accept, then close the client.
            log.info("proxy %s: cannot connect to upstream %s: %s", self.name, self.upstream, exc)
            client.transport.close()

    def _connected(self, client: _ClientSide, upstream: Side) -> None:
        if self._dialing.pop(client, None) is None or client.lost:
            upstream.transport.close()
            return
        metrics = self._metrics
        conn = Connection(
            client,
            upstream,
            self.toxics,
            loop=self._loop,
            rng=self._rng,
            on_closed=self._closed,
            labels=(self.name, self.listen, self.upstream),
            counted=metrics is not None,
        )
        self._connections.add(conn)
        if metrics is not None:
            metrics.opened(conn)
        conn.start()

    def _closed(self, conn: Connection) -> None:
        self._connections.discard(conn)
        if self._metrics is not None:
            self._metrics.closed(conn)
