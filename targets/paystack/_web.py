"""What every paystack service shares: settings, JSON replies, health, evidence, the app's lifespan.

A service is a subclass of :class:`Service` that lists its routes and, if it
has work to do in the background, a ``run`` coroutine. The lifespan opens the
database pool and HTTP client, applies the schema, starts the background work
and tears everything down in reverse order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from paychaos_targets.paystack._db import apply_schema, open_pool
from paychaos_targets.paystack._http import Http

log = logging.getLogger("paystack")


def _json_default(value: Any) -> Any:
    # asyncpg returns its own UUID type; numeric columns come back as Decimal.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID) or type(value).__name__ == "UUID":
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def error(status: int, message: str, **extra: Any) -> JSON:
    """An error reply: ``{"error": message, ...}``; 503s carry Retry-After."""
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSON({"error": message, **extra}, status_code=status, headers=headers)


class BadRequest(Exception):
    """Raised inside a handler to answer 400/422 with a message for the caller."""

    def __init__(self, message: str, status: int = 422, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


async def read_json(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("body is not valid JSON", 400) from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", 400)
    return body


def field(body: dict[str, Any], name: str, kind: type, *, default: Any = ..., positive: bool = False) -> Any:
    """Read one field of a request body, or raise BadRequest saying what is wrong with it."""
    if name not in body or body[name] is None:
        if default is ...:
            raise BadRequest(f"{name} is required")
        return default
    value = body[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"{name} must be an integer number of minor units, got {value!r}")
    if kind is str and (not isinstance(value, str) or not value):
        raise BadRequest(f"{name} must be a non-empty string, got {value!r}")
    if not isinstance(value, kind):
        raise BadRequest(f"{name} must be a {kind.__name__}, got {value!r}")
    if positive and isinstance(value, int) and value <= 0:
        raise BadRequest(f"{name} must be positive, got {value!r}")
    return value


def fingerprint(**fields: Any) -> str:
    """A digest of a request's fields: a reused idempotency key must come with the same one."""
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Settings:
    """Options every service takes; services add their own with ``configure``."""

    host: str
    port: int
    db: str
    db_pool: int
    db_timeout: float
    defects: frozenset[str]

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--db", required=True, help="postgresql:// DSN of this service's database")
        parser.add_argument("--db-pool", type=int, default=16, help="database connections")
        parser.add_argument("--db-timeout", type=float, default=10.0, help="seconds per query")


Handler = Callable[[Request], Awaitable[Response]]


class Service:
    """Base of the five services. Subclasses set ``name`` and ``evidence`` and add routes."""

    name: ClassVar[str]
    evidence: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.defects = settings.defects
        self.http = Http()
        self._pool: asyncpg.Pool | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the pool opens in the app's lifespan"
        return self._pool

    # -- to override -----------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return []

    async def started(self) -> None:
        """Runs once the pool and client are open, before requests are served."""

    def background(self) -> list[Callable[[], Awaitable[None]]]:
        """Coroutines to run for the service's lifetime (pollers, sweepers)."""
        return []

    # -- shared ----------------------------------------------------------------------
    def app(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/healthz", self._health),
            Route("/evidence", self._evidence_index),
            Route("/evidence/{view}", self._evidence),
            *self.routes(),
        ]
        return Starlette(
            routes=[_guard(r) for r in routes],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        s = self.settings
        self._pool = await open_pool(s.db, size=s.db_pool, timeout=s.db_timeout, connect_within=30)
        await apply_schema(self._pool, f"paychaos_targets.paystack.{self.name}")
        await self.http.open()
        await self.started()
        self._tasks = [asyncio.create_task(_forever(self.name, job)) for job in self.background()]
        log.info("%s listening on %s:%d defects=%s", self.name, s.host, s.port, sorted(self.defects))
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.http.close()
            await self._pool.close()

    async def _health(self, request: Request) -> Response:
        try:
            await self.pool.fetchval("SELECT 1", timeout=2)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            return error(503, f"database unavailable: {exc}", service=self.name)
        return JSON({"status": "ok", "service": self.name, "defects": sorted(self.defects)})

    async def _evidence_index(self, request: Request) -> Response:
        return JSON({"views": [f"evidence_{v}" for v in self.evidence]})

    async def _evidence(self, request: Request) -> Response:
        """Stream a read-only evidence view as JSON lines (one row per line)."""
        view = request.path_params["view"].removeprefix("evidence_")
        if view not in self.evidence:
            return error(404, f"no evidence view {view!r}; see GET /evidence")

        async def rows() -> AsyncIterator[bytes]:
            async with self.pool.acquire() as conn, conn.transaction(readonly=True):
                async for row in conn.cursor(f"SELECT * FROM evidence_{view}", prefetch=2000):
                    yield dumps(dict(row)) + b"\n"

        return StreamingResponse(rows(), media_type="application/x-ndjson")


async def _forever(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Run a background loop; if it crashes, log and start it again rather than die silently."""
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: background job %s failed; restarting it", name, job)
            await asyncio.sleep(1)


def _guard(route: BaseRoute) -> BaseRoute:
    """Map client mistakes to 4xx and a lost database to 503, so no handler repeats the try/except."""
    if not isinstance(route, Route):
        return route
    endpoint = route.endpoint

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)  # type: ignore[no-any-return]
        except BadRequest as exc:
            return error(exc.status, str(exc), **exc.extra)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            return error(503, f"database unavailable: {exc}")
        except TimeoutError:
            return error(503, "database did not answer in time")

    return Route(route.path, guarded, methods=route.methods, name=route.name)
