"""One proxied TCP connection: two sockets, and a :class:`Link` for each direction.

The data path is built on asyncio protocols rather than streams: a chunk read
from one socket is handed straight to the other socket's ``transport.write``
from ``data_received``, with no task switch and no copy. When a direction has
no toxics, the reading side's ``forward`` *is* that bound ``write`` method, so
the per-chunk Python cost is one callback. Toxics splice :mod:`._stages` objects
into that path, and adding, updating or removing one rewires live connections.

Back-pressure: a direction stops reading its source while the sink's transport
buffer is above its high-water mark, or while its toxics hold more than
``_HOLD_HIGH`` bytes (a slow bandwidth toxic must slow the sender, not eat memory).

Half-closes are passed on (an EOF from one peer becomes a ``write_eof`` to the
other), and the connection closes once both directions have ended. Toxiproxy
closes both sockets on the first EOF instead; passing half-closes on is a
superset that keeps request/response peers that shut down writing working.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable, Mapping, Sequence

from paychaos.faults.toxiproxy_server._stages import End, Item, Outlet, Stage, make_stage
from paychaos.faults.toxiproxy_server._toxics import Stream, Toxic

# Large transport buffers mean fewer pause/resume round trips on bulk transfers.
_WRITE_HIGH = 1 << 20
_HOLD_HIGH = 4 << 20
_HOLD_LOW = 1 << 20
_LINGER_RST = struct.pack("ii", 1, 0)


def _drop(data: bytes) -> None:
    pass


class Side(asyncio.Protocol):
    """One socket of a proxied connection, as seen by the event loop.

    It is both the *source* of one direction (what it reads is forwarded) and
    the *sink* of the other (the :class:`Outlet` at the end of that chain).
    """

    transport: asyncio.Transport

    def __init__(self) -> None:
        self._early: list[bytes] = []
        self._early_size = 0
        self._early_eof = False
        # Until the connection is wired up, early bytes and EOF are kept, not lost.
        self.forward: Callable[[bytes], object] = self._keep_early
        self.feeds: Link | None = None
        self.fed_by: Link | None = None
        self.conn: Connection | None = None
        self.lost = False
        #: Reading is paused (by back-pressure, or while too much arrived before wiring).
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport: TCP only
        # Reading starts at once: a client's first bytes are read while its upstream is still
        # being dialled, and pausing then resuming would cost two system calls per socket.
        # No TCP_NODELAY here: uvloop and asyncio both set it on every TCP transport, and
        # get_extra_info("socket") costs more than the rest of this method under uvloop.
        self.transport.set_write_buffer_limits(high=_WRITE_HIGH)

    def _keep_early(self, data: bytes) -> None:
        self._early.append(data)
        self._early_size += len(data)
        if self._early_size > _HOLD_HIGH and not self.paused:
            self.paused = True  # the Link resumes it once wired
            self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.forward(data)

    def eof_received(self) -> bool:
        if self.feeds is not None:
            self.feeds.source_ended()
        else:
            self._early_eof = True
        return True  # keep the socket open for the other direction

    def pause_writing(self) -> None:
        if self.fed_by is not None:
            self.fed_by.set_sink_paused(True)

    def resume_writing(self) -> None:
        if self.fed_by is not None:
            self.fed_by.set_sink_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.conn is not None:
            self.conn.close()

    def take_early(self) -> tuple[list[bytes], bool]:
        early, self._early = self._early, []
        return early, self._early_eof

    # The Outlet role: the end of the chain that writes into this socket.

    def push(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)
            if self.fed_by is not None:
                self.fed_by.sent += len(data)

    def finish(self, end: End) -> None:
        if self.conn is not None:
            self.conn.stream_ended(self, end)


class Link:
    """One direction of a connection: ``source`` socket → toxic stages → ``sink`` socket."""

    def __init__(
        self,
        conn: Connection,
        source: Side,
        sink: Side,
        toxics: Sequence[Toxic],
    ) -> None:
        self.loop = conn.loop
        self.rng = conn.rng
        self.source = source
        self.sink = sink
        #: Bytes read from the source, and written to the sink (for /metrics).
        self.received = 0
        self.sent = 0
        self._counted = conn.counted
        self.stages: list[Stage] = []
        self._head: Outlet = sink
        self._held = 0
        self._sink_paused = False
        self._started = False
        self._closed = False
        source.feeds = self
        sink.fed_by = self
        for toxic in toxics:
            self.stages.append(self._make(toxic))
        self._rewire()

    def start(self) -> None:
        early, eof = self.source.take_early()
        for data in early:
            self.received += len(data)
            self._head.push(data)
        if eof:
            self._head.finish(End.EOF)
        self._started = True
        self._sync_reading()

    def close(self) -> None:
        self._closed = True
        self.source.forward = _drop
        for stage in self.stages:
            stage.detach()
        self.stages.clear()

    # Toxic changes, applied to this live connection.

    def add(self, toxic: Toxic) -> None:
        if self._closed:
            return
        self.stages.append(self._make(toxic))
        self._rewire()

    def update(self, toxic: Toxic) -> None:
        index = self._index(toxic.name)
        if index is None:
            return
        old = self.stages[index]
        # Keep this connection's roll unless the probability itself changed, so retuning a
        # toxic's attributes does not reshuffle which connections it affects.
        applies = old.applies if toxic.toxicity == old.toxic.toxicity else None
        new = self._make(toxic, applies=applies, previous=old)
        held = old.detach()
        self.stages[index] = new
        self._rewire()
        self._replay(new, held)

    def remove(self, name: str) -> None:
        index = self._index(name)
        if index is None:
            return
        old = self.stages.pop(index)
        held = old.detach()
        self._rewire()
        after: Outlet = self.stages[index] if index < len(self.stages) else self.sink
        self._replay(after, held)
        if old.closes_when_removed and old.applies and not old.ended:
            after.finish(End.CLOSE)

    # The Context the stages see.

    def hold(self, nbytes: int) -> None:
        self._held += nbytes
        self._sync_reading()

    def set_sink_paused(self, paused: bool) -> None:
        self._sink_paused = paused
        self._sync_reading()

    def source_ended(self) -> None:
        self._head.finish(End.EOF)

    def _make(self, toxic: Toxic, *, applies: bool | None = None, previous: Stage | None = None) -> Stage:
        if applies is None:
            applies = self.rng.random() < toxic.toxicity
        return make_stage(self, toxic, self.sink, applies=applies, previous=previous)

    def _index(self, name: str) -> int | None:
        if self._closed:
            return None
        for i, stage in enumerate(self.stages):
            if stage.toxic.name == name:
                return i
        return None

    def _rewire(self) -> None:
        outlet: Outlet = self.sink
        for stage in reversed(self.stages):
            stage.next = outlet
            outlet = stage
        self._head = outlet
        if self._closed:
            self.source.forward = _drop
        elif self._counted:
            self.source.forward = self._count_in if self.stages else self._count_through
        elif self.stages:
            self.source.forward = outlet.push
        else:
            # The fast path: bytes go from data_received straight into the other socket.
            self.source.forward = self.sink.transport.write

    def _count_in(self, data: bytes) -> None:
        self.received += len(data)
        self._head.push(data)

    def _count_through(self, data: bytes) -> None:
        n = len(data)
        self.received += n
        self.sent += n
        self.sink.transport.write(data)

    def _replay(self, outlet: Outlet, items: list[Item]) -> None:
        for item in items:
            if isinstance(item, bytes):
                outlet.push(item)
            else:
                outlet.finish(item)

    def _sync_reading(self) -> None:
        if not self._started or self._closed:
            return
        source = self.source
        transport = source.transport
        if transport.is_closing():
            return
        if source.paused:
            if not self._sink_paused and self._held <= _HOLD_LOW:
                source.paused = False
                transport.resume_reading()
        elif self._sink_paused or self._held > _HOLD_HIGH:
            source.paused = True
            transport.pause_reading()


class Connection:
    """A client socket and its upstream socket, joined by two links."""

    def __init__(
        self,
        client: Side,
        upstream: Side,
        toxics: Mapping[Stream, Sequence[Toxic]],
        *,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        on_closed: Callable[[Connection], None],
        labels: tuple[str, str, str] = ("", "", ""),
        counted: bool = False,
    ) -> None:
        self.loop = loop
        self.rng = rng
        #: ``(proxy, listener, upstream)`` for /metrics; ``counted``: count bytes on the fast path.
        self.labels = labels
        self.counted = counted
        self.client = client
        self.upstream = upstream
        self.closed = False
        self._on_closed = on_closed
        self._write_closed: set[Side] = set()
        client.conn = upstream.conn = self
        self.links: dict[Stream, Link] = {
            "upstream": Link(self, client, upstream, toxics["upstream"]),
            "downstream": Link(self, upstream, client, toxics["downstream"]),
        }

    def start(self) -> None:
        if self.client.lost or self.upstream.lost:
            self.close()
            return
        for link in self.links.values():
            link.start()

    def stream_ended(self, sink: Side, end: End) -> None:
        if self.closed:
            return
        if end is End.RESET:
            self.close(reset=True)
        elif end is End.CLOSE:
            self.close()
        else:
            self._write_closed.add(sink)
            if len(self._write_closed) == 2:
                self.close()  # its FIN ends this direction too: no separate shutdown()
                return
            transport = sink.transport
            if not transport.is_closing() and transport.can_write_eof():
                transport.write_eof()

    def close(self, *, reset: bool = False, abort: bool = False) -> None:
        """End the connection: gracefully (flush, FIN), by abort, or with a TCP RST."""
        if self.closed:
            return
        self.closed = True
        for link in self.links.values():
            link.close()
        for side in (self.client, self.upstream):
            transport = side.transport
            if reset:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # Linger 0 turns close() into an RST, so the peer reads ECONNRESET.
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                transport.abort()
            elif abort:
                transport.abort()
            else:
                transport.close()
        self._on_closed(self)
        # Break the sides' references back to this connection and its links, so that reference
        # counting frees it all now: cycles left for the garbage collector make it run often.
        for side in (self.client, self.upstream):
            side.conn = side.feeds = side.fed_by = None
            side.forward = _drop
