"""The data path: a client's connection, its upstream connection, and the loop that relays between them.

Each client connection gets one task that takes its requests one at a time, in order (so
pipelined requests are answered in order), asks the link which rule acts, and relays. The
upstream connection is opened on the first request, kept while both sides keep it alive, and
opened again for the next request if the upstream closed it. Nothing is ever retried: a request
the upstream may have seen is never sent twice unless a ``duplicate`` rule says so.

Answers stream through: each chunk the upstream sends is written to the client from
``data_received``, with the framer only watching for the answer's end. Actions that must see a
whole answer first (``delay`` of the response, ``lose_response``) collect it instead.

When a client closes its connection, its task is cancelled and its upstream connection closed,
as the upstream would have seen had the client talked to it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import httptools

from paychaos.faults.httphop._http import CONTINUE, Refusal, Request, RequestReader, ResponseFramer, hop_error

if TYPE_CHECKING:
    from paychaos.faults.httphop._link import Link, RuleState

_LINGER_RST = struct.pack("ii", 1, 0)
#: Requests read ahead of the one being handled before the client is paused (pipelining depth).
_QUEUE_HIGH = 16
_QUEUE_LOW = 4
_CONNECT_TIMEOUT = 10.0


class UpstreamError(Exception):
    """The upstream gave no complete answer."""


class UpstreamUnreachable(UpstreamError):
    """No connection could be made: nothing was sent, and the client is told with a 502."""


class UpstreamBroke(UpstreamError):
    """The connection failed after the request was sent: the client's connection is closed too."""


@dataclass(frozen=True)
class Answer:
    status: int
    keep_alive: bool
    raw: bytes | None  # the whole answer, when it was collected rather than streamed


class UpstreamConnection(asyncio.Protocol):
    """The hop's connection to the upstream: sends one request at a time and frames the answer."""

    transport: asyncio.Transport

    def __init__(self) -> None:
        self.closed = False
        self._framer: ResponseFramer | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._sink: asyncio.Transport | None = None
        self._parts: list[bytes] = []
        self._streamed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: Request, sink: asyncio.Transport | None) -> asyncio.Future[Answer]:
        """Send ``request``; the answer streams to ``sink`` (or is collected if None)."""
        self._framer = ResponseFramer(head=request.head)
        self._sink = sink
        self._parts = []
        self._streamed = False
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request.wire())
        return waiter

    def data_received(self, data: bytes) -> None:
        framer = self._framer
        if framer is None:
            self.close()  # the upstream spoke out of turn: its next answer could not be trusted
            return
        sink = self._sink
        if sink is not None:
            if not sink.is_closing():
                sink.write(data)
            self._streamed = True
        else:
            self._parts.append(data)
        try:
            framer.feed(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroke(f"the upstream sent a malformed answer ({exc})"))
            self.close()
            return
        if framer.complete:
            self._done(framer)

    def eof_received(self) -> bool:
        framer = self._framer
        if framer is not None and framer.ended():
            self._done(framer)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._framer is not None:
            where = "in the middle of its answer" if self._framer.status else "before answering"
            self._fail(UpstreamBroke(f"the upstream closed the connection {where}"))

    def _done(self, framer: ResponseFramer) -> None:
        raw = b"".join(self._parts) if self._sink is None else None
        waiter = self._waiter
        self._framer = self._waiter = self._sink = None
        self._parts = []
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(framer.status, framer.keep_alive, raw))
        if not framer.keep_alive:
            self.close()

    def _fail(self, exc: UpstreamError) -> None:
        waiter = self._waiter
        self._framer = self._waiter = self._sink = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.abort()


async def connect(link: Link) -> UpstreamConnection:
    """A fresh connection to the link's upstream; UpstreamUnreachable if none can be made."""
    host, port = link.upstream
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(_CONNECT_TIMEOUT):
            _, protocol = await loop.create_connection(UpstreamConnection, host, port)
    except TimeoutError:
        raise UpstreamUnreachable(
            f"upstream {link.upstream_text} did not accept a connection within {_CONNECT_TIMEOUT:g}s"
        ) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise UpstreamUnreachable(f"upstream {link.upstream_text} unreachable: {reason}") from None
    return protocol


async def deliver_once(link: Link, request: Request) -> Answer:
    """Send ``request`` on a connection of its own, collect the answer, close the connection."""
    upstream = await connect(link)
    try:
        return await upstream.send(request, None)
    finally:
        upstream.close()


class ClientConnection(asyncio.Protocol):
    """A client's connection to a link's listener."""

    transport: asyncio.Transport

    def __init__(self, link: Link) -> None:
        self.link = link
        self.reader = RequestReader()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._queue: deque[Request | Refusal] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._upstream: UpstreamConnection | None = None
        self._busy = False
        self._eof = False
        self._reading_paused = False
        self._writing_paused = False
        self._silent = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.link.connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        ready = reader.take()
        if ready:
            self._queue.extend(ready)
            if reader.done or len(self._queue) >= _QUEUE_HIGH:
                self._pause_reading()
            self._wakeup()
        if reader.awaiting_continue and not self._busy and not self._queue:
            self._send_continue()

    def eof_received(self) -> bool:
        self._eof = True
        self._wakeup()
        # Keep the socket open for the answers to requests already read, unless none will ever
        # come: a client that stopped sending to a connection held silent is gone.
        return not self._silent

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.link.connections.discard(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self._upstream is not None:
            self._upstream.close()

    def pause_writing(self) -> None:
        # The client reads slower than the upstream answers: slow the upstream down, don't buffer.
        self._writing_paused = True
        if self._upstream is not None and not self._upstream.closed:
            self._upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._upstream is not None and not self._upstream.closed:
            self._upstream.transport.resume_reading()

    # the connection's task
    async def _serve(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._eof or self.reader.done:
                        break
                    self._wake = asyncio.get_running_loop().create_future()
                    await self._wake
                    continue
                item = self._queue.popleft()
                if self._reading_paused and not self.reader.done and len(self._queue) <= _QUEUE_LOW:
                    self._reading_paused = False
                    self.transport.resume_reading()
                if isinstance(item, Refusal):
                    self.transport.write(
                        hop_error(item.status, item.message, keep_alive=False, version="1.1")
                    )
                    break
                self._busy = True
                keep = await self._handle(item)
                self._busy = False
                if not keep or self.closed:
                    break
                if self.reader.awaiting_continue and not self._queue:
                    self._send_continue()
        except asyncio.CancelledError:
            pass  # the client went away, or the link closed: nothing left to answer
        finally:
            self._wake = None
            if self._upstream is not None:
                self._upstream.close()
            if not self.closed:
                self.transport.close()

    async def _handle(self, request: Request) -> bool:
        """Relay one request; False if the client's connection must close afterwards."""
        state = self.link.decide(request)
        if state is not None:
            from paychaos.faults.httphop._apply import apply  # actions build on this module

            return await apply(self, request, state)
        try:
            answer = await self.exchange(request, stream=True)
        except UpstreamUnreachable as exc:
            self.answer_502(request, exc)
            return request.keep_alive
        except UpstreamBroke:
            return False
        return request.keep_alive and answer.keep_alive

    # what actions use
    async def exchange(self, request: Request, *, stream: bool) -> Answer:
        """Send ``request`` on this connection's upstream connection (opened if need be), await the answer.

        ``stream``: the answer goes to the client as it arrives; otherwise it is collected in
        ``Answer.raw`` and the client sees nothing yet.
        """
        upstream = self._upstream
        if upstream is None or upstream.closed:
            upstream = self._upstream = await connect(self.link)
            if self._writing_paused:
                upstream.transport.pause_reading()
        waiter = upstream.send(request, self.transport if stream else None)
        self.link.note_forwarded()
        try:
            return await waiter
        except BaseException:
            upstream.close()  # cut short: a late answer must not be taken for the next request's
            raise

    def answer_502(self, request: Request, exc: UpstreamError) -> None:
        self.transport.write(
            hop_error(
                502, str(exc), keep_alive=request.keep_alive, version=request.version, head=request.head
            )
        )

    def write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    async def keep_silent(self, state: RuleState) -> None:
        """Answer nothing until the client leaves (this task is cancelled) or the rule is deleted."""
        self._silent = True
        if self._eof:
            return
        try:
            await state.hold(None)
        finally:
            self._silent = False

    def reset(self) -> None:
        """Close with a TCP RST, so the client reads ECONNRESET rather than a clean end."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()

    # helpers
    def _wakeup(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _send_continue(self) -> None:
        # Only when nothing is ahead of this request, or "100 Continue" would land amid earlier answers.
        self.reader.awaiting_continue = False
        self.write(CONTINUE)
