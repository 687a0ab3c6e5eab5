"""asyncio helpers the harness's own servers share (the embedded Toxiproxy, the HTTP hop)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

S = TypeVar("S", bound=AbstractAsyncContextManager[object])


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve_until_signalled(server: S, on_ready: Callable[[S], None] | None = None) -> None:
    """Run ``server`` (started and stopped by ``async with``) in this thread until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Signal handlers only work in the main thread; elsewhere the caller stops us.
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with server:
            if on_ready is not None:
                on_ready(server)
            await stop.wait()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
