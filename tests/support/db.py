"""Synchronous one-off queries against a stack's databases (tests only)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg


def query(dsn: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def scalar(dsn: str, sql: str, *args: Any) -> Any:
    rows = query(dsn, sql, *args)
    return next(iter(rows[0].values())) if rows else None


def execute(dsn: str, script: str) -> None:
    """Run a script of one or more statements (no parameters)."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(script)
        finally:
            await conn.close()

    asyncio.run(run())
