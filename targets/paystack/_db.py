"""PostgreSQL access for the services: a pool, schema set-up, and the evidence views."""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn = asyncpg.Connection | PoolConnectionProxy
"""A single connection (possibly borrowed from a pool): what a transaction needs."""

Queryable = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
"""Anything one statement can run on: the pool itself or one of its connections."""

log = logging.getLogger(__name__)

# Serialises schema creation when several processes of one service start at once.
_SCHEMA_LOCK = 0x7061_7973  # "pays"


async def open_pool(dsn: str, *, size: int, timeout: float, connect_within: float) -> asyncpg.Pool:
    """Open a pool, retrying while the database (or the link to it) is not there yet."""
    deadline = time.monotonic() + connect_within
    while True:
        try:
            return await asyncpg.create_pool(
                dsn, min_size=min(2, size), max_size=size, command_timeout=timeout, reset=_keep_session
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"cannot connect to {_redact(dsn)} after {connect_within:g}s: {exc}"
                ) from exc
            log.info("database not reachable yet (%s); retrying", exc)
            await asyncio.sleep(0.2)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query (RESET ALL, UNLISTEN, …): a round trip per statement.

    The services never change session state: no SET, LISTEN or session-level
    advisory locks, and every transaction is a context manager that ends it.
    """


async def apply_schema(pool: asyncpg.Pool, package: str, filename: str = "schema.sql") -> None:
    sql = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(sql)


def _redact(dsn: str) -> str:
    scheme, sep, rest = dsn.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return dsn
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"
