"""A named proxy: its listener, its upstream, its toxics, and the connections it carries.

Every change to the toxic list is pushed to the connections already open, so a
toxic added in the middle of a transfer affects that transfer.

A fresh connection costs one accepted and one dialled socket, and the time to
dial is most of what a proxy adds to it. An upstream given as an IP address is
dialled the moment the client's socket is accepted, with a plain non-blocking
``connect()`` and no name lookup, and the dialled socket is handed to the event
loop at once, without a task and without waiting for a loop turn to report it
connected: on loopback the handshake is over by the time ``connect()`` returns,
and the client's first bytes are written into it within the same loop turn.
An upstream given by name is looked up for each connection, as Toxiproxy does,
and dialled through the loop.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import ipaddress
import logging
import os
import random
import socket
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, cast

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


Target = tuple[socket.AddressFamily, tuple[Any, ...]]
_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)  # made non-blocking, no ioctl after (Linux)


def numeric_target(host: str, port: int) -> Target | None:
    """Where to ``connect()`` for an IP-address upstream; None for a name (looked up per dial)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name, or an empty host
    if ip.version == 4:
        return socket.AF_INET, (host, port)
    if ip.scope_id:
        return None  # an IPv6 address with a zone: the loop resolves it to its interface
    return socket.AF_INET6, (host, port, 0, 0)


class _Steps:
    """Runs a coroutine to its end without a task: its first step at :meth:`start`, each next one
    as the future it waits on completes. Cheaper than a task by a loop turn before the first
    step, which matters for the one coroutine every proxied connection runs."""

    __slots__ = ("_coro", "_on_error", "done")

    def __init__(self, coro: Coroutine[Any, Any, Any], on_error: Callable[[BaseException], None]) -> None:
        self._coro = coro
        self._on_error = on_error
        self.done = False

    def start(self) -> None:
        self._step()

    def _step(self, _: object = None, *, throw: BaseException | None = None) -> None:
        if self.done:
            return
        try:
            waits_on = self._coro.send(None) if throw is None else self._coro.throw(throw)
        except StopIteration:
            self.done = True
            return
        except (KeyboardInterrupt, SystemExit):
            self.done = True
            raise
        except BaseException as exc:
            self.done = True
            if throw is None:
                self._on_error(exc)
            return
        add_done_callback = getattr(waits_on, "add_done_callback", None)
        if add_done_callback is None:  # a bare yield: resume on the next loop turn, as a task would
            asyncio.get_running_loop().call_soon(self._step)
        else:
            add_done_callback(self._step)

    def cancel(self) -> None:
        self._step(throw=asyncio.CancelledError())


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

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            # A refused dial ends here too: the socket was handed over while still connecting.
            log.info("proxy %s: upstream %s: %s", self._proxy.name, self._proxy.upstream, exc)
        super().connection_lost(exc)


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
        self._target = numeric_target(*self._upstream_addr)
        self._rng = rng
        self._allow_non_loopback = allow_non_loopback
        self._metrics = metrics
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop  # set by start(), before any connection can arrive
        self._loop_owns_fd = False  # uvloop: a transport made from a socket object owns its descriptor
        self._new_socket: Callable[[int, int], socket.socket] = socket.socket
        self._connections: set[Connection] = set()
        #: Clients whose upstream is being dialled, with the dial (a task or _Steps) to cancel.
        self._dialing: dict[_ClientSide, asyncio.Task[Any] | _Steps] = {}

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
        self._loop_owns_fd = type(loop).__module__.startswith("uvloop")
        # uvloop only reads the descriptor of the socket it is given, so it gets the plain C socket
        # object: socket.socket's Python-level wrapping (its enums above all) costs more than the
        # rest of a dial. asyncio's transports use the object they are given, so they get the full one.
        plain = cast(Callable[[int, int], socket.socket], _socket.socket)  # all uvloop reads of it
        self._new_socket = plain if self._loop_owns_fd else socket.socket
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
        self._target = numeric_target(*upstream_addr)

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
        loop = self._loop
        upstream = partial(_UpstreamSide, self, client)
        target = self._target
        if target is None:
            # A name: the loop looks it up and tries each address. No coroutine of our own
            # around the dial: _UpstreamSide.connection_made wires the connection, and the
            # task's result only matters when the dial failed.
            task = loop.create_task(loop.create_connection(upstream, *self._upstream_addr))
            self._dialing[client] = task
            task.add_done_callback(partial(self._dialled, client))
            return
        family, sockaddr = target
        sock = self._new_socket(family, socket.SOCK_STREAM | _NONBLOCK)
        if not _NONBLOCK:
            sock.setblocking(False)
        err = sock.connect_ex(sockaddr)
        if err == errno.EINPROGRESS:
            # On loopback the handshake, or the refusal, is over by now: refused, it ends here as
            # a failed dial does, before the connection is wired (or counted in /metrics).
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sock.close()
            self._unreachable(client, OSError(err, os.strerror(err)))
            return
        # Connected, or still connecting (a remote upstream): the transport reads and writes once
        # it can, and a refusal that comes later ends in a read error (_UpstreamSide.connection_lost).
        dial = _Steps(loop.create_connection(upstream, sock=sock), partial(self._dial_failed, client))
        self._dialing[client] = dial
        dial.start()
        if dial.done:
            sock.close()  # it failed; a no-op if the loop already closed and detached it
        elif self._loop_owns_fd:
            # uvloop's transport has the descriptor now, and closes it itself; it only detaches
            # this object once the dial's last step runs, a loop turn after connection_made, so
            # a connection a toxic ends at once would leave it to close a reused descriptor.
            sock.detach()

    def _gave_up(self, client: _ClientSide) -> None:
        task = self._dialing.pop(client, None)
        if task is not None:
            task.cancel()

    def _dialled(self, client: _ClientSide, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._dial_failed(client, exc)

    def _dial_failed(self, client: _ClientSide, exc: BaseException) -> None:
        if self._dialing.pop(client, None) is not None:
            self._unreachable(client, exc)

    def _unreachable(self, client: _ClientSide, exc: BaseException) -> None:
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
