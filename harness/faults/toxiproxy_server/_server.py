"""Starting and stopping the server: in a caller's event loop, in a thread, or as a CLI.

Three ways in, one object underneath:

* async code: ``await server.start()`` / ``await server.stop()`` (or ``async with``);
* sync code (the harness runner): ``server.run_in_thread()`` gives a
  :class:`ServerThread` with ``.url`` and ``.close()``; the server gets its own
  event loop in a daemon thread, so the caller's thread stays free;
* a terminal: :func:`serve` blocks until SIGINT or SIGTERM.

The thread and the CLI run on uvloop when it is importable (it roughly halves
the per-chunk cost of the data path); ``start()`` runs on whatever loop it is
awaited in.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType

from aiohttp import web

from paychaos._aio import new_event_loop, serve_until_signalled
from paychaos.faults.toxiproxy_server._addresses import bind_listener, resolve_listen, shown_as_go
from paychaos.faults.toxiproxy_server._api import build_app
from paychaos.faults.toxiproxy_server._errors import ApiError
from paychaos.faults.toxiproxy_server._metrics import Metrics
from paychaos.faults.toxiproxy_server._registry import Registry

DEFAULT_PORT = 8474


class ToxiproxyServer:
    """An embedded, Toxiproxy-compatible TCP fault proxy.

    ``port=0`` picks a free port; :attr:`port` and :attr:`url` are the real ones
    once started. ``seed`` makes toxicity rolls, jitter and slicing reproducible.
    Every listener (the API's and each proxy's) must be a loopback address unless
    ``allow_non_loopback`` is set. ``proxy_metrics`` and ``runtime_metrics`` serve
    ``/metrics`` (Prometheus text), as Toxiproxy's flags of the same names do.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        seed: int | None = None,
        allow_non_loopback: bool = False,
        proxy_metrics: bool = False,
        runtime_metrics: bool = False,
    ) -> None:
        self.host = host
        self._port = port
        self.seed = seed
        self.allow_non_loopback = allow_non_loopback
        self.proxy_metrics = proxy_metrics
        self.runtime_metrics = runtime_metrics
        self._registry: Registry | None = None
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def started(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        """Bind the API. Raises OSError if the address is unusable, ValueError if not allowed."""
        if self._runner is not None:
            raise RuntimeError("ToxiproxyServer already started")
        shown = f"[{self.host}]:{self._port}" if ":" in self.host else f"{self.host}:{self._port}"
        try:
            family, sockaddr = await resolve_listen(shown, allow_non_loopback=self.allow_non_loopback)
            sock = bind_listener(family, sockaddr, shown_as_go(shown, sockaddr))
        except ApiError as exc:
            if exc.status == 400:
                raise ValueError(exc.message) from None
            raise OSError(exc.message) from None
        self._port = sock.getsockname()[1]
        metrics = Metrics(proxy=self.proxy_metrics, runtime=self.runtime_metrics)
        registry = Registry(
            rng=random.Random(self.seed),
            allow_non_loopback=self.allow_non_loopback,
            metrics=metrics.proxies,
        )
        runner = web.AppRunner(
            build_app(registry, metrics), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._registry = registry
        self._runner = runner

    async def stop(self) -> None:
        """Close the API, every proxy listener and every proxied connection. Idempotent."""
        runner, self._runner = self._runner, None
        registry, self._registry = self._registry, None
        if runner is not None:
            await runner.cleanup()
        if registry is not None:
            registry.close_all()

    async def __aenter__(self) -> ToxiproxyServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def run_in_thread(self, *, timeout: float = 10.0) -> ServerThread:
        """Start this server on its own event loop in a daemon thread; returns once it listens."""
        return ServerThread(self, timeout=timeout)


class ServerThread:
    """A :class:`ToxiproxyServer` running in a background thread, for synchronous callers.

    Use as a context manager, or call :meth:`close` when done.
    """

    def __init__(self, server: ToxiproxyServer, *, timeout: float = 10.0) -> None:
        self.server = server
        self._loop = new_event_loop()
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name=f"toxiproxy-server:{server.port}", daemon=True)
        self._thread.start()
        try:
            self._started.result(timeout=timeout)
        except BaseException:
            self._thread.join(timeout)
            raise

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._started.set_exception(exc)
            self._loop.close()
            return
        self._started.set_result(None)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the server and its thread. Idempotent."""
        if not self._thread.is_alive():
            return
        stopping = asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop)
        try:
            stopping.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    seed: int | None = None,
    allow_non_loopback: bool = False,
    proxy_metrics: bool = False,
    runtime_metrics: bool = False,
    on_ready: Callable[[ToxiproxyServer], None] | None = None,
) -> None:
    """Run a server in this thread until SIGINT or SIGTERM, then stop it cleanly."""
    server = ToxiproxyServer(
        host,
        port,
        seed=seed,
        allow_non_loopback=allow_non_loopback,
        proxy_metrics=proxy_metrics,
        runtime_metrics=runtime_metrics,
    )
    serve_until_signalled(server, on_ready)
