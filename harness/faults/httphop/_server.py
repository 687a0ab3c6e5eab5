"""Starting and stopping a hop: the control API, the links, the journal, on one event loop.

Run as a process (``python -m paychaos.faults.httphop``, see ``__main__``), so that the relay gets
an interpreter and a core of its own rather than competing with the harness for the GIL; the
harness starts it with ``paychaos.faults._hop.start_hop``. uvloop is used when importable: it
cuts the event loop's share of each relayed request roughly in half.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from paychaos._aio import serve_until_signalled
from paychaos.faults.httphop._api import build_app
from paychaos.faults.httphop._hub import Hub, is_loopback
from paychaos.faults.httphop._journal import Journal


class HopServer:
    """The hop's control API on ``host:port`` (0 picks a port), journalling to ``journal``.

    >>> async with HopServer(journal=Path("run/httphop.jsonl")) as hop:   # doctest: +SKIP
    ...     print(hop.url)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, journal: Path) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"--host {host} is not a loopback address; the hop only listens on loopback "
                "(127.0.0.0/8, ::1 or localhost)"
            )
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.journal_path = journal
        self._journal: Journal | None = None
        self._hub: Hub | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Open the journal and serve the API. Raises OSError if either cannot be opened."""
        journal = Journal(self.journal_path)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            journal.close()
            raise
        self.port = sock.getsockname()[1]
        hub = Hub(journal)
        runner = web.AppRunner(build_app(hub), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            journal.close()
            raise
        self._journal, self._hub, self._runner = journal, hub, runner

    async def stop(self) -> None:
        """Close the API, every link and connection (writing the lines of actions cut short), the journal."""
        runner, self._runner = self._runner, None
        hub, self._hub = self._hub, None
        journal, self._journal = self._journal, None
        if runner is not None:
            await runner.cleanup()
        if hub is not None:
            await hub.close()
        if journal is not None:
            journal.close()

    async def __aenter__(self) -> HopServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def serve(
    host: str, port: int, *, journal: Path, on_ready: Callable[[HopServer], None] | None = None
) -> None:
    """Run a hop in this thread until SIGINT or SIGTERM, then stop it cleanly."""
    serve_until_signalled(HopServer(host, port, journal=journal), on_ready)
