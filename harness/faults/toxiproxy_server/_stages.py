"""What each toxic does to a byte stream: a :class:`Stage` per toxic, direction and connection.

A direction of a connection is a chain ``source → stage → stage → … → sink``, in
the order the toxics were added (Toxiproxy's chain). Stages are push-based and
run on the event loop thread only, so the chain can be rewired between two
calls without locks: a stage always forwards to whatever ``self.next`` is *now*.

Stages that hold data do it with loop timers (``call_at``), never tasks, so that
taking a stage out of a live chain is synchronous: :meth:`Stage.detach` cancels
its timer and hands back what it still held, in order, for the next stage.

A stream ends with an :class:`End` travelling the same path as the data, so it
is never delivered before bytes that were sent ahead of it.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections import deque
from typing import Protocol, TypeAlias

from paychaos.faults.toxiproxy_server._toxics import Toxic


class End(enum.Enum):
    """How a stream ends."""

    EOF = "eof"  # the sender finished: pass a half-close on
    CLOSE = "close"  # a toxic ended the connection: close both sockets
    RESET = "reset"  # a toxic wants the peers to see a TCP RST


Item: TypeAlias = bytes | End


class Outlet(Protocol):
    """Anything a stage can forward to: the next stage, or the sink socket."""

    def push(self, data: bytes) -> None: ...

    def finish(self, end: End) -> None: ...


class Context(Protocol):
    """What a stage needs from the direction it runs in."""

    loop: asyncio.AbstractEventLoop
    rng: random.Random

    def hold(self, nbytes: int) -> None:
        """Account for bytes parked in a stage (negative to release), for back-pressure."""


# Timers may fire up to one clock tick early; treating "nearly due" as due avoids re-arming
# a timer for a fraction of a millisecond.
_EARLY = 0.001


class Stage:
    """A toxic applied to one direction of one connection. The base class forwards untouched."""

    #: Removing the toxic ends the connection (Toxiproxy's timeout toxic does).
    closes_when_removed = False

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        self.ctx = ctx
        self.toxic = toxic
        self.next = next_
        self.ended = False
        #: False when this connection's toxicity roll said no: the stage only forwards.
        self.applies = True
        #: The one loop timer a stage may have pending; detach cancels it.
        self._timer: asyncio.TimerHandle | None = None

    def push(self, data: bytes) -> None:
        self.next.push(data)

    def finish(self, end: End) -> None:
        if not self.ended:
            self.ended = True
            self.next.finish(end)

    def detach(self) -> list[Item]:
        """Stop the timer; return the items still held, oldest first."""
        self._stop_timer()
        return []

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _forward(self, item: Item) -> None:
        if isinstance(item, bytes):
            self.ctx.hold(-len(item))
            self.next.push(item)
        else:
            self.ended = True
            self.next.finish(item)

    def _give_back(self, queue: deque[Item]) -> list[Item]:
        items = list(queue)
        queue.clear()
        self.ctx.hold(-sum(len(i) for i in items if isinstance(i, bytes)))
        return items


class Latency(Stage):
    """Delays every chunk by ``latency`` ± ``jitter`` ms from the moment it reaches this stage."""

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._latency = max(0, toxic.attr("latency")) / 1000
        self._jitter = max(0, toxic.attr("jitter")) / 1000
        self._queue: deque[tuple[float, Item]] = deque()
        self._last_due = 0.0

    def push(self, data: bytes) -> None:
        delay = self._latency
        if self._jitter:
            delay += self.ctx.rng.uniform(-self._jitter, self._jitter)
        self.ctx.hold(len(data))
        self._enqueue(self.ctx.loop.time() + delay, data)

    def finish(self, end: End) -> None:
        # The end follows the last chunk out; it is not delayed on its own account.
        self._enqueue(self.ctx.loop.time(), end)

    def _enqueue(self, due: float, item: Item) -> None:
        # A TCP stream cannot reorder bytes: jitter never lets a chunk overtake an earlier one.
        due = max(due, self._last_due)
        self._last_due = due
        self._queue.append((due, item))
        if self._timer is None:
            self._timer = self.ctx.loop.call_at(due, self._release)

    def _release(self) -> None:
        self._timer = None
        limit = self.ctx.loop.time() + _EARLY
        queue = self._queue
        while queue and queue[0][0] <= limit:
            self._forward(queue.popleft()[1])
        if queue and self._timer is None:
            self._timer = self.ctx.loop.call_at(queue[0][0], self._release)

    def detach(self) -> list[Item]:
        self._stop_timer()
        items: deque[Item] = deque(item for _, item in self._queue)
        self._queue.clear()
        return self._give_back(items)


class Bandwidth(Stage):
    """Lets at most ``rate`` KB/s through, in slices of at most 100 ms worth of bytes."""

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._rate = max(0, toxic.attr("rate")) * 1000  # bytes per second
        self._slice = max(1, self._rate // 10)
        self._queue: deque[Item] = deque()
        self._free_at = 0.0

    def push(self, data: bytes) -> None:
        if self._rate == 0 and not self._queue:
            self.next.push(data)
            return
        self.ctx.hold(len(data))
        self._queue.append(data)
        if self._timer is None:
            self._schedule()

    def finish(self, end: End) -> None:
        self._queue.append(end)
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        head = self._queue[0]
        if isinstance(head, End):
            self._queue.popleft()
            self._forward(head)
            return
        now = self.ctx.loop.time()
        # An idle link earns no credit: a burst after a pause is still paced.
        start = max(now, self._free_at)
        size = min(len(head), self._slice)
        self._free_at = start + (size / self._rate if self._rate else 0.0)
        self._timer = self.ctx.loop.call_at(self._free_at, self._release)

    def _release(self) -> None:
        self._timer = None
        head = self._queue[0]
        assert isinstance(head, bytes)
        size = min(len(head), self._slice)
        if size < len(head):
            self._queue[0] = head[size:]
            head = head[:size]
        else:
            self._queue.popleft()
        self._forward(head)
        if self._queue and self._timer is None:
            self._schedule()

    def detach(self) -> list[Item]:
        self._stop_timer()
        return self._give_back(self._queue)


class Slicer(Stage):
    """Cuts chunks into ``average_size`` ± ``size_variation`` byte pieces, ``delay`` µs apart."""

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._average = toxic.attr("average_size")
        self._variation = max(0, min(toxic.attr("size_variation"), self._average - 1))
        self._delay = max(0, toxic.attr("delay")) / 1_000_000
        self._queue: deque[Item] = deque()
        self._free_at = 0.0

    def push(self, data: bytes) -> None:
        if self._average <= 0:
            # Nothing sensible to slice into; pass through rather than emit empty pieces.
            self.next.push(data)
            return
        rng = self.ctx.rng
        offset = 0
        while offset < len(data):
            size = self._average + rng.randint(-self._variation, self._variation)
            self._queue.append(data[offset : offset + size])
            offset += size
        self.ctx.hold(len(data))
        self._drain()

    def finish(self, end: End) -> None:
        self._queue.append(end)
        self._drain()

    def _drain(self) -> None:
        if self._timer is not None:
            return
        loop = self.ctx.loop
        while self._queue:
            if self._delay and self._free_at > loop.time() + _EARLY:
                self._timer = loop.call_at(self._free_at, self._on_timer)
                return
            item = self._queue.popleft()
            self._forward(item)
            if self._delay:
                self._free_at = loop.time() + self._delay

    def _on_timer(self) -> None:
        self._timer = None
        self._drain()

    def detach(self) -> list[Item]:
        self._stop_timer()
        return self._give_back(self._queue)


class SlowClose(Stage):
    """Passes data through; holds the end of the stream back for ``delay`` ms."""

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._delay = max(0, toxic.attr("delay")) / 1000
        self._pending: End | None = None

    def finish(self, end: End) -> None:
        if self.ended or self._pending is not None:
            return
        self._pending = end
        self._timer = self.ctx.loop.call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        end, self._pending = self._pending, None
        if end is not None:
            self._forward(end)

    def detach(self) -> list[Item]:
        self._stop_timer()
        end, self._pending = self._pending, None
        return [] if end is None else [end]


class Timeout(Stage):
    """Swallows all data; closes the connection after ``timeout`` ms (0: never, until removed)."""

    closes_when_removed = True

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        timeout = toxic.attr("timeout")
        if timeout > 0:
            self._timer = ctx.loop.call_later(timeout / 1000, self._expire)

    def push(self, data: bytes) -> None:
        pass  # dropped, as Toxiproxy drops it: the peer never sees it, even after removal

    def finish(self, end: End) -> None:
        self.detach()
        super().finish(end)

    def _expire(self) -> None:
        self._timer = None
        if not self.ended:
            self._forward(End.CLOSE)


class ResetPeer(Stage):
    """On the first data (or end) to arrive, waits ``timeout`` ms and resets the connection.

    Data is dropped from then on, like Toxiproxy's ``reset_peer``.
    """

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._timeout = max(0, toxic.attr("timeout")) / 1000
        self._triggered = False
        self._pending: End | None = None

    def push(self, data: bytes) -> None:
        self._trigger()

    def finish(self, end: End) -> None:
        self._pending = end
        self._trigger()

    def _trigger(self) -> None:
        if self._triggered:
            return
        self._triggered = True
        if self._timeout:
            self._timer = self.ctx.loop.call_later(self._timeout, self._fire)
        else:
            self._fire()

    def _fire(self) -> None:
        self._timer = None
        self._pending = None
        if not self.ended:
            self._forward(End.RESET)

    def detach(self) -> list[Item]:
        self._stop_timer()
        end, self._pending = self._pending, None
        return [] if end is None else [end]


class LimitData(Stage):
    """Lets exactly ``bytes`` bytes through on this connection, then closes it."""

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet, sent: int = 0) -> None:
        super().__init__(ctx, toxic, next_)
        self._limit = toxic.attr("bytes")
        self.sent = sent

    def push(self, data: bytes) -> None:
        if self.ended:
            return
        remaining = self._limit - self.sent
        if remaining > 0:
            if len(data) > remaining:
                data = data[:remaining]
            self.sent += len(data)
            self.next.push(data)
        if self.sent >= self._limit:
            self.ended = True
            self.next.finish(End.CLOSE)


_STAGES: dict[str, type[Stage]] = {
    "latency": Latency,
    "bandwidth": Bandwidth,
    "slicer": Slicer,
    "slow_close": SlowClose,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
}


def make_stage(
    ctx: Context, toxic: Toxic, next_: Outlet, *, applies: bool, previous: Stage | None = None
) -> Stage:
    """The stage for ``toxic``; a pass-through one when its toxicity roll said no.

    ``previous`` is the stage this one replaces after an update: ``limit_data``
    keeps counting from where it was, as Toxiproxy keeps per-connection state.
    """
    if not applies:
        stage = Stage(ctx, toxic, next_)
        stage.applies = False
        return stage
    if toxic.type == "limit_data":
        sent = previous.sent if isinstance(previous, LimitData) else 0
        return LimitData(ctx, toxic, next_, sent)
    return _STAGES[toxic.type](ctx, toxic, next_)
