"""Outgoing HTTP between services, with the three outcomes a caller must tell apart.

A call either returns a :class:`Reply` (the peer answered, whatever the status)
or raises :class:`CallFailed` with ``kind`` ``"timeout"`` or ``"connection"``:
the request may or may not have been processed, and only the caller knows how
to find out (ask by idempotency key, void, reconcile). Nothing here retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class CallFailed(Exception):
    def __init__(self, kind: Literal["timeout", "connection"], url: str, detail: str) -> None:
        super().__init__(f"{kind} calling {url}: {detail}")
        self.kind = kind


class Http:
    """One pooled client per service; open in the app's lifespan."""

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # Idle connections are dropped well before the peers' keep-alive (75 s),
        # so a request is never written onto a socket the server is closing.
        connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=15, ttl_dns_cache=None)
        self._session = aiohttp.ClientSession(
            connector=connector, json_serialize=lambda o: orjson.dumps(o).decode()
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Reply:
        assert self._session is not None, "Http.open() was not called"
        try:
            async with self._session.request(
                method,
                url,
                json=json,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                raw = await resp.read()
                return Reply(resp.status, orjson.loads(raw) if raw else None)
        except TimeoutError as exc:
            raise CallFailed("timeout", url, f"no answer within {timeout:g}s") from exc
        except (aiohttp.ClientError, OSError, orjson.JSONDecodeError) as exc:
            raise CallFailed("connection", url, f"{type(exc).__name__}: {exc}") from exc
