"""The evidence database: paychaos's evidence tables, filled from the target and the run's journals.

It lives on the target's PostgreSQL server (a database of its own), so the
copy is local and fast: each target table is a ``COPY (query) TO STDOUT`` on
the source database streamed into ``COPY … FROM STDIN`` here, in CSV, which
lets PostgreSQL cast the target's types (uuid, numeric, …) to the schema's.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from harness._evidence_tables import INDEXES, RUN_TABLES, TABLES
from harness.faults import read_journal
from harness.invariants._base import read_only
from harness.load import read_history
from harness.target import Target


class EvidenceStore:
    """Create once per run; ``refresh()`` before each round of checks."""

    def __init__(
        self,
        target: Target,
        *,
        evidence_dsn: str,
        source_dsn: Callable[[str], str],
        service_url: Callable[[str], str],
        run_dir: Path,
    ) -> None:
        self.target = target
        self.dsn = evidence_dsn
        self._source_dsn = source_dsn
        self._service_url = service_url
        self.run_dir = run_dir
        self.problems: dict[str, str] = {}  # table -> why it could not be filled

    def refresh(self) -> None:
        asyncio.run(self._refresh())

    async def _refresh(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await create_tables(conn)
            self.problems = {}
            for name in TABLES:
                spec = self.target.evidence.tables.get(name)  # type: ignore[call-overload]
                if spec is None:
                    self.problems[name] = f"target {self.target.name!r} provides no {name!r} evidence table"
                    continue
                try:
                    await self._fill(conn, name, spec.source, spec.query, spec.path)
                except (TimeoutError, OSError, asyncpg.PostgresError, httpx.HTTPError, ValueError) as exc:
                    self.problems[name] = f"{name} (from {spec.source}): {type(exc).__name__}: {exc}"
            await _copy_rows(conn, "history", _history_rows(self.run_dir / "history"))
            await _copy_rows(conn, "faults", _fault_rows(self.run_dir / "faults.jsonl"))
            await index_and_analyze(conn)
        finally:
            await conn.close()

    async def _fill(
        self, conn: asyncpg.Connection, table: str, source: str, query: str | None, path: str | None
    ) -> None:
        spec = self.target.evidence.sources[source]
        if spec.kind == "sql":
            assert spec.database is not None
            assert query is not None
            source_conn = await asyncpg.connect(self._source_dsn(spec.database), timeout=10)
            try:
                out = io.BytesIO()
                async with source_conn.transaction(readonly=True):
                    await source_conn.copy_from_query(
                        query, output=out, format="csv", header=True, timeout=120
                    )
            finally:
                await source_conn.close()
            data = out.getvalue()
        else:
            assert spec.service is not None
            assert path is not None
            async with httpx.AsyncClient(timeout=120) as http:
                reply = await http.get(f"{self._service_url(spec.service)}{path}")
            reply.raise_for_status()
            rows = [json.loads(line) for line in reply.text.splitlines() if line.strip()]
            data = _csv(rows[0].keys() if rows else [], (r.values() for r in rows))
        header = next(csv.reader(io.StringIO(data.split(b"\n", 1)[0].decode())), [])
        known = [c for c, _, _ in TABLES[table]]
        unknown = [c for c in header if c not in known]
        if unknown:
            raise ValueError(f"columns {unknown} are not in the {table} table; it has {', '.join(known)}")
        await conn.copy_to_table(table, source=io.BytesIO(data), columns=header, format="csv", header=True)

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return read_only(self.dsn, sql, *args, where="the evidence database", timeout=120, work_mem="256MB")


async def create_tables(conn: asyncpg.Connection) -> None:
    """(Re)create every evidence table, empty."""
    async with conn.transaction():
        for name, columns in {**TABLES, **RUN_TABLES}.items():
            await conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            await conn.execute(f'CREATE TABLE "{name}" ({", ".join(f"{c} {t}" for c, t, _ in columns)})')


async def index_and_analyze(conn: asyncpg.Connection) -> None:
    """Index what the invariants join and look up on, then give the planner fresh statistics."""
    for table, column in INDEXES:
        await conn.execute(f'CREATE INDEX IF NOT EXISTS "{table}_{column}" ON "{table}" ({column})')
    for name in [*TABLES, *RUN_TABLES]:
        await conn.execute(f'ANALYZE "{name}"')


def _csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in row])
    return out.getvalue().encode()


async def _copy_rows(conn: asyncpg.Connection, table: str, rows: Iterable[list[Any]]) -> None:
    columns = [c for c, _, _ in RUN_TABLES[table]]
    await conn.copy_to_table(
        table, source=io.BytesIO(_csv(columns, rows)), columns=columns, format="csv", header=True
    )


def _at(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def _history_rows(folder: Path) -> Iterable[list[Any]]:
    if not folder.exists():
        return
    for op in read_history(folder):
        yield [
            op["id"], op["kind"], op.get("order_id"), op.get("key"), op.get("amount"), _at(op["start"]),
            _at(op["end"]), op["outcome"], op.get("status"), op.get("payment_id"), op.get("payment_state"),
            op.get("expected", False), op.get("forged", False), op.get("refusal_expected", False),
            op.get("told"),
        ]  # fmt: skip


def _fault_rows(journal: Path) -> Iterable[list[Any]]:
    if not journal.exists():
        return
    applied: dict[str, dict[str, Any]] = {}
    healed: dict[str, str] = {}
    for event in read_journal(journal):
        if event["event"] == "applied":
            applied[event["id"]] = event
        elif event["event"] == "healed":
            healed[event["id"]] = event["at"]
    for fault_id, event in applied.items():
        yield [fault_id, event["kind"], event["target"], event["action"], event["at"], healed.get(fault_id)]
