"""Running one walletpay process: an aiohttp server on its port until SIGTERM, and JSON helpers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("walletpay")


def _default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def dumps(value: object) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def reply(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, text=dumps(body), content_type="application/json")


def json_lines(rows: list[dict[str, Any]]) -> web.Response:
    """One JSON object a line, every row with the same keys in the same order (paychaos's http source)."""
    text = "".join(dumps(row) + "\n" for row in rows)
    return web.Response(status=200, text=text, content_type="application/x-ndjson")


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve ``app`` on host:port until ``stop`` is set."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    log.info("listening on %s:%d", host, port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; SIGTERM and SIGINT set ``stop``."""

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(go())
