"""What each toxic does to a byte stream: a :class:`Stage` per toxic, direction and connection.

A direction of a connection is a chain ``source → stage → stage → … → sink``, in
the order the toxics were added (Toxiproxy's chain). Stages are push-based and
run on the event loop thread only, so the chain can be rewired between two
calls without locks: a stage always forwards to whatever ``self.next`` is *now*.

Stages that hold data do it with loop timers, never tasks, so that taking a
stage out of a live chain is synchronous: :meth:`Stage.detach` cancels its timer
and hands back what it still held, in order, for the next stage.

Timing is honoured at any scale and never early. Every due time is on
``time.monotonic`` (uvloop's ``loop.time()`` is a millisecond-old cached value),
a timer that fires before its due time is re-armed rather than trusted, and
toxics that pace a stream (slicer, bandwidth) keep a schedule in *virtual* time:
piece ``n`` is due ``n × delay`` after the first, and a timer that fires late
sends every piece already due at once, so lateness is caught up and never adds
up. A loop's timers tick in milliseconds, so with uvloop a wait under a tick is a
short spin through the loop (other connections keep being served), and with
asyncio's own loop pieces due within the same tick leave together.

A stream ends with an :class:`End` travelling the same path as the data, so it
is never delivered before bytes that were sent ahead of it.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import deque
from collections.abc import Callable
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


#: The clock every due time is on: precise, unlike uvloop's cached ``loop.time()``.
now = time.monotonic


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
        self._due = 0.0
        self._on_due: Callable[[], None] = _nothing

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

    def _wake_at(self, due: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` once :func:`now` reaches ``due``: late maybe, early never."""
        self._due = due
        self._on_due = callback
        self._timer = self.ctx.loop.call_later(max(0.0, due - now()), self._timer_fired)

    def _timer_fired(self) -> None:
        # Loop timers round to milliseconds and uvloop measures them from a cached clock,
        # so one may fire before its time: then it only waits again for what is left.
        remaining = self._due - now()
        if remaining > 0:
            self._timer = self.ctx.loop.call_later(remaining, self._timer_fired)
            return
        self._timer = None
        self._on_due()

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


def _nothing() -> None:
    pass


def latency_ms(latency: int, jitter: int, rng: random.Random) -> int:
    """One chunk's delay, as Toxiproxy draws it: whole milliseconds, uniform on
    ``[latency - jitter, latency + jitter)``; a negative draw means no delay."""
    if jitter > 0:
        return latency + rng.randrange(2 * jitter) - jitter
    return latency


class Latency(Stage):
    """Delays every chunk by ``latency`` ± ``jitter`` ms from the moment it reaches this stage."""

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._latency = toxic.attr("latency")
        self._jitter = toxic.attr("jitter")
        self._queue: deque[tuple[float, Item]] = deque()
        self._last_due = 0.0

    def push(self, data: bytes) -> None:
        delay = latency_ms(self._latency, self._jitter, self.ctx.rng)
        self.ctx.hold(len(data))
        self._enqueue(now() + max(0, delay) / 1000, data)

    def finish(self, end: End) -> None:
        # The end follows the last chunk out; it is not delayed on its own account.
        self._enqueue(now(), end)

    def _enqueue(self, due: float, item: Item) -> None:
        # A TCP stream cannot reorder bytes: jitter never lets a chunk overtake an earlier one.
        due = max(due, self._last_due)
        self._last_due = due
        self._queue.append((due, item))
        if self._timer is None:
            self._release()

    def _release(self) -> None:
        queue = self._queue
        t = now()
        while queue and queue[0][0] <= t:
            self._forward(queue.popleft()[1])
        if queue and self._timer is None:
            self._wake_at(queue[0][0], self._release)

    def detach(self) -> list[Item]:
        self._stop_timer()
        items: deque[Item] = deque(item for _, item in self._queue)
        self._queue.clear()
        return self._give_back(items)


class Bandwidth(Stage):
    """Lets at most ``rate`` KB/s through, in slices of at most 100 ms worth of bytes.

    As in Toxiproxy, a chunk leaves once its own transmission time has passed, a
    timer that fires late shortens the next wait (so the rate holds over time),
    and an idle link earns no credit: a burst after a pause is still paced.
    """

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._rate = max(0, toxic.attr("rate")) * 1000  # bytes per second
        self._slice = max(1, self._rate // 10)
        self._queue: deque[Item] = deque()
        self._free_at = 0.0  # when the link finished sending what it already let through
        self._size = 0  # bytes of the queue's head the pending timer releases

    def push(self, data: bytes) -> None:
        if self._rate == 0 and not self._queue:
            self.next.push(data)
            return
        self.ctx.hold(len(data))
        self._queue.append(data)
        if self._timer is None and len(self._queue) == 1:
            self._free_at = max(self._free_at, now())  # idle until now: no credit
            self._schedule()

    def finish(self, end: End) -> None:
        self._queue.append(end)
        if self._timer is None and len(self._queue) == 1:
            self._schedule()

    def _schedule(self) -> None:
        queue = self._queue
        while queue:
            head = queue[0]
            if isinstance(head, End):
                queue.popleft()
                self._forward(head)
                continue
            self._size = min(len(head), self._slice)
            # Virtual time: the next slice is due one transmission time after the last one
            # was due, not after the timer that sent it actually fired.
            self._free_at += self._size / self._rate if self._rate else 0.0
            if self._free_at > now():
                self._wake_at(self._free_at, self._release)
                return
            self._release_head()

    def _release(self) -> None:
        self._release_head()
        self._schedule()

    def _release_head(self) -> None:
        head = self._queue[0]
        assert isinstance(head, bytes)
        size = self._size
        if size < len(head):
            self._queue[0] = head[size:]
            head = head[:size]
        else:
            self._queue.popleft()
        self._forward(head)

    def detach(self) -> list[Item]:
        self._stop_timer()
        return self._give_back(self._queue)


def slice_points(length: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Where the slicer cuts ``length`` bytes: the pieces' end offsets, in order.

    Toxiproxy's way: a span longer than ``average + variation`` is split near its
    middle (± ``variation``) and each half is split again, so pieces vary evenly
    with no tendency to a short one at either end. ``average`` must be positive.
    """
    ends: list[int] = []
    spans = [(0, length)]
    while spans:
        start, end = spans.pop()
        if end - start - average <= variation:
            ends.append(end)
            continue
        mid = start + (end - start) // 2 + rng.randint(-variation, variation)
        mid = min(max(mid, start + 1), end - 1)
        spans.append((mid, end))  # popped after the left half: pieces come out in order
        spans.append((start, mid))
    return ends


class Slicer(Stage):
    """Cuts chunks into pieces of about ``average_size`` ± ``size_variation`` bytes, and
    waits ``delay`` µs after each piece, as Toxiproxy does."""

    def __init__(self, ctx: Context, toxic: Toxic, next_: Outlet) -> None:
        super().__init__(ctx, toxic, next_)
        self._average = toxic.attr("average_size")
        self._variation = max(0, min(toxic.attr("size_variation"), self._average - 1))
        self._delay = max(0, toxic.attr("delay")) / 1_000_000
        self._queue: deque[Item] = deque()
        self._free_at = 0.0  # when the next piece may leave

    def push(self, data: bytes) -> None:
        if self._average <= 0:
            # Nothing sensible to slice into; pass through rather than emit empty pieces.
            self.next.push(data)
            return
        if not self._queue and self._timer is None:
            self._free_at = max(self._free_at, now())  # idle until now: no credit
        start = 0
        for end in slice_points(len(data), self._average, self._variation, self.ctx.rng):
            self._queue.append(data[start:end])
            start = end
        self.ctx.hold(len(data))
        self._drain()

    def finish(self, end: End) -> None:
        if not self._queue and self._timer is None:
            self._free_at = max(self._free_at, now())
        self._queue.append(end)
        self._drain()

    def _drain(self) -> None:
        if self._timer is not None:
            return
        queue = self._queue
        delay = self._delay
        t = now()
        while queue:
            if self._free_at > t:
                t = now()
                if self._free_at > t:
                    self._wake_at(self._free_at, self._drain)
                    return
            item = queue.popleft()
            self._forward(item)
            if delay and isinstance(item, bytes):
                # Virtual time: due ``delay`` after the previous piece was due, so a late
                # timer is caught up by sending what is already due, never by drifting.
                self._free_at += delay

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
        self._wake_at(now() + self._delay, self._fire)

    def _fire(self) -> None:
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
            self._wake_at(now() + timeout / 1000, self._expire)

    def push(self, data: bytes) -> None:
        pass  # dropped, as Toxiproxy drops it: the peer never sees it, even after removal

    def finish(self, end: End) -> None:
        self.detach()
        super().finish(end)

    def _expire(self) -> None:
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
            self._wake_at(now() + self._timeout, self._fire)
        else:
            self._fire()

    def _fire(self) -> None:
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
    "noop": Stage,
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
