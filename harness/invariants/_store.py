"""The evidence database: paychaos's evidence tables, filled from the target and the run's journals.

It lives on the target's PostgreSQL server (a database of its own), so the
copy is local and fast: each target table is a ``COPY (query) TO STDOUT`` on
the source database streamed into ``COPY … FROM STDIN`` here, in CSV, which
lets PostgreSQL cast the target's types (uuid, numeric, …) to the schema's.

Two roles touch it. The owner (the DSN the store is given) rebuilds it; the
invariants read it, and the target's databases, as a reader role the store
creates: LOGIN only (no superuser, no CREATEDB/CREATEROLE, no membership in any
role, so neither ``COPY … TO PROGRAM``, files, signals to other backends nor
``SET ROLE`` to the owner), SELECT on the evidence and the target's tables and
nothing else, READ ONLY, with timeouts. Every step of a refresh is timed too,
so a stalled server ends in "could not check", never in a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx

from paychaos._evidence_tables import INDEXES, RUN_TABLES, TABLES
from paychaos.faults import fault_windows
from paychaos.invariants._base import (
    CONNECT_TIMEOUT,
    DB_ERRORS,
    LOCK_TIMEOUT,
    READ_TIMEOUT,
    EvidenceUnavailable,
    RunWindow,
    Verdict,
    bounded_connect,
    close_quietly,
    read_only,
    unavailable,
)
from paychaos.invariants._saved import save_evidence
from paychaos.postgres import scram_verifier
from paychaos.rundir import RunDir
from paychaos.system import Target

if TYPE_CHECKING:
    from paychaos.invariants._coverage import Count
    from paychaos.invariants._saved import Named

log = logging.getLogger("paychaos.evidence")

_ALL = "*"  # a fallback to the owner that holds for every database


@dataclass(frozen=True)
class Limits:
    """Seconds each step may take before it is given up ("could not check", never a hang)."""

    connect: float = CONNECT_TIMEOUT  # a login
    read: float = READ_TIMEOUT  # one invariant's query, as the reader
    statement: float = 120.0  # one statement of the refresh (e.g. a table's copy)
    refresh: float = 900.0  # the whole refresh


class EvidenceStore:
    """Create once per run; ``refresh()`` before each round of checks.

    ``dsns_are_reader``: the DSNs given are already a reader's (a python
    invariant's child process): read with them as they are, create no role.
    """

    def __init__(
        self,
        target: Target,
        *,
        evidence_dsn: str,
        source_dsn: Callable[[str], str],
        service_url: Callable[[str], str],
        run_dir: Path,
        limits: Limits = Limits(),
        dsns_are_reader: bool = False,
    ) -> None:
        self.target = target
        self.dsn = evidence_dsn
        self._source_dsn = source_dsn
        self._service_url = service_url
        self.run_dir = run_dir
        self.limits = limits
        self.problems: dict[str, str] = {}  # table -> why it could not be filled
        self.failure: str | None = None  # why the last refresh failed (then no read is attempted)
        self.reader = f"paychaos_reader_{secrets.token_hex(4)}"
        self._reader_password = secrets.token_hex(24)
        self._reader_created = dsns_are_reader
        self._admitted: set[str] = set()  # databases the reader may read (keys: DSNs without credentials)
        self._owner_dsns: dict[str, str] = {}  # those databases, as the owner reaches them
        self._as_owner: dict[str, str] = {}  # database (or _ALL) -> why its reads run as the owner
        self._as_given = dsns_are_reader
        self._lock = threading.Lock()  # the checks read from two threads

    @property
    def isolation(self) -> str | None:
        """Why some reads run as the owner rather than the reader role; None when none do."""
        return "; ".join(dict.fromkeys(self._as_owner.values())) or None

    def refresh(self) -> None:
        """Rebuild the evidence tables, as the owner. A failure is kept in ``failure``: every
        invariant is then "could not check" with that reason; the next refresh may succeed."""
        where = "the evidence database could not be refreshed"
        try:
            self.reader_dsn(self.dsn, where=where)
            asyncio.run(asyncio.wait_for(self._refresh(), self.limits.refresh))
        except EvidenceUnavailable as exc:
            self.failure = str(exc)
        except DB_ERRORS as exc:
            self.failure = str(unavailable(where, exc, self.limits.refresh, self.limits.statement))
        else:
            self.failure = None

    def reader_dsn(self, dsn: str, *, where: str) -> str:
        """``dsn`` (the owner's) with the reader role's credentials, once the reader may SELECT there.

        Where the server will not have it (the owner may not create roles, or
        its pg_hba.conf refuses the new role), ``dsn`` itself: those reads run
        as the owner, still READ ONLY and timed, and ``isolation`` says why.
        """
        if self._as_given:
            return dsn
        key = _without_credentials(dsn)
        with self._lock:
            if key not in self._admitted:
                limit = self.limits.connect + 2 * self.limits.statement
                try:
                    asyncio.run(asyncio.wait_for(self._admit(dsn, key), limit))
                except DB_ERRORS as exc:
                    raise unavailable(where, exc, limit, self.limits.statement) from exc
                self._admitted.add(key)
                self._owner_dsns[key] = dsn
        if _ALL in self._as_owner or key in self._as_owner:
            return dsn
        return _with_credentials(dsn, self.reader, self._reader_password)

    async def _admit(self, dsn: str, key: str) -> None:
        """As the owner: create the reader (once), then let it SELECT every table of this database."""
        conn = await bounded_connect(dsn, self.limits.statement, connect_timeout=self.limits.connect)
        try:
            owner = await conn.fetchval("SELECT current_user")
            if not self._reader_created and _ALL not in self._as_owner:
                try:
                    await self._create_reader(conn)
                    self._reader_created = True
                except asyncpg.InsufficientPrivilegeError as exc:
                    self._weaker(_ALL, f"{owner!r} may not create roles on this server ({exc})", owner)
            if _ALL in self._as_owner:
                return
            try:
                await _grant_select(conn, self.reader)
            except asyncpg.InsufficientPrivilegeError as exc:
                self._weaker(key, f"{owner!r} may not grant SELECT in {key} ({exc})", owner)
                return
        finally:
            await close_quietly(conn)
        try:  # the server's pg_hba.conf may not let the new role in
            reader = await bounded_connect(
                _with_credentials(dsn, self.reader, self._reader_password),
                self.limits.statement,
                connect_timeout=self.limits.connect,
            )
            await close_quietly(reader)
        except asyncpg.InvalidAuthorizationSpecificationError as exc:
            self._weaker(key, f"the server refused the reader role's login to {key} ({exc})", owner)

    def drop_reader(self) -> None:
        """Remove the reader role and its grants (on a server the run does not own, leave nothing)."""
        if not self._reader_created or self._as_given or _ALL in self._as_owner:
            return
        try:
            limit = self.limits.connect + 4 * self.limits.statement
            asyncio.run(asyncio.wait_for(self._drop_reader(), limit))
        except DB_ERRORS as exc:
            log.warning("could not drop the reader role %s: %s; drop it by hand", self.reader, exc)

    async def _drop_reader(self) -> None:
        role = _ident(self.reader)
        dsns = list(self._owner_dsns.values()) or [self.dsn]
        for n, dsn in enumerate(dsns):
            conn = await bounded_connect(dsn, self.limits.statement, connect_timeout=self.limits.connect)
            try:
                await conn.execute(f"DROP OWNED BY {role}")  # its grants in this database
                if n == len(dsns) - 1:
                    await conn.execute(f"DROP ROLE IF EXISTS {role}")
            finally:
                await close_quietly(conn)

    async def _create_reader(self, conn: asyncpg.Connection) -> None:
        role = _ident(self.reader)
        # The password goes as a SCRAM verifier: a server that logs statements never sees it.
        verifier = scram_verifier(self._reader_password)
        ms = {"statement_timeout": self.limits.read, "lock_timeout": min(LOCK_TIMEOUT, self.limits.read),
              "idle_in_transaction_session_timeout": self.limits.read + self.limits.connect}  # fmt: skip
        async with conn.transaction():
            await conn.execute(
                f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION "
                f"NOBYPASSRLS PASSWORD '{verifier}'"
            )
            # Its own defaults as well, for whatever logs in as it without bounded_connect's settings.
            for name, seconds in ms.items():
                await conn.execute(f"ALTER ROLE {role} SET {name} = '{max(1, round(seconds * 1000))}'")
            await conn.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")

    def _weaker(self, key: str, why: str, owner: str) -> None:
        reason = (
            f"invariants read as {owner!r}, not a read-only role of their own: {why}; "
            "only READ ONLY transactions and timeouts hold back their SQL"
        )
        self._as_owner[key] = reason
        log.warning("%s", reason)

    async def _refresh(self) -> None:
        conn = await self._connect(self.dsn)
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
                except TimeoutError:
                    # PostgreSQL does not answer (a service's slowness is an httpx error, below): the
                    # evidence database is on that server too, and waiting for it table after table
                    # would only make the run later. The whole round fails instead.
                    raise
                except (*DB_ERRORS, httpx.HTTPError, ValueError) as exc:
                    self.problems[name] = f"{name} (from {spec.source}): {type(exc).__name__}: {exc}"
            folder = RunDir(self.run_dir)
            await _copy_rows(conn, "history", _history_rows(folder))
            await _copy_rows(conn, "faults", _fault_rows(folder))
            await index_and_analyze(conn)
        finally:
            await close_quietly(conn)

    async def _connect(self, dsn: str) -> asyncpg.Connection:
        return await bounded_connect(dsn, self.limits.statement, connect_timeout=self.limits.connect)

    async def _fill(
        self, conn: asyncpg.Connection, table: str, source: str, query: str | None, path: str | None
    ) -> None:
        spec = self.target.evidence.sources[source]
        if spec.kind == "sql":
            assert spec.database is not None
            assert query is not None
            source_conn = await self._connect(self._source_dsn(spec.database))
            try:
                out = io.BytesIO()
                async with source_conn.transaction(readonly=True):
                    await source_conn.copy_from_query(query, output=out, format="csv", header=True)
            finally:
                await close_quietly(source_conn)
            data = out.getvalue()
        else:
            assert spec.service is not None
            assert path is not None
            async with httpx.AsyncClient(timeout=self.limits.statement) as http:
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

    def save(
        self,
        window: RunWindow,
        specs: Sequence[Named],
        verdicts: Sequence[Verdict],
        coverage: Sequence[Count],
        say: Callable[[str], None] = log.info,
    ) -> RunDir | None:
        """Keep the evidence in the run folder, ``RUN_DIR/evidence/``: every table as the last refresh
        left it, and a manifest of what was checked over it (see harness/invariants/_saved.py), so
        that ``paychaos verify`` can check the run again once its stack is gone.

        Bounded like a refresh. A failure changes no verdict: it is said (``say``, the log, and
        ``RUN_DIR/evidence-error.txt``, which the report and ``verify`` show) and None returned.

        >>> store.save(evidence.window, specs, verdicts, coverage, progress.event)  # doctest: +SKIP
        """
        folder = RunDir(self.run_dir)
        started = time.monotonic()
        try:
            manifest = save_evidence(self, window, specs, verdicts, coverage)
            folder.evidence_error.unlink(missing_ok=True)
            size = sum(f.stat().st_size for f in folder.evidence.iterdir())
        except Exception as exc:  # a harness bug in saving too: the run's verdicts stand
            why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, EvidenceUnavailable) else str(exc)
            log.warning("evidence not saved: %s", why)
            say(f"evidence not saved ({why}); `paychaos verify` cannot check this run again")
            with contextlib.suppress(OSError):
                folder.evidence_error.write_text(why + "\n", encoding="utf-8")
            return None
        say(f"evidence saved in {RunDir.EVIDENCE}/: {len(manifest.tables)} tables, {manifest.rows:,} rows, "
            f"{size / 1e6:.1f} MB, in {time.monotonic() - started:.1f}s")  # fmt: skip
        return folder

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of a read-only query over the evidence tables, as the reader role."""
        where = "the evidence database"
        return read_only(
            self.reader_dsn(self.dsn, where=where), sql, *args, where=where,
            timeout=self.limits.read, connect_timeout=self.limits.connect, work_mem="256MB",
        )  # fmt: skip


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


async def _grant_select(conn: asyncpg.Connection, reader: str) -> None:
    """Let ``reader`` SELECT every table and view of this database, now and later; take from
    everyone the right to create here (temporary tables, and the ``public`` schema before PG 15)."""
    database, role = _ident(await conn.fetchval("SELECT current_database()")), _ident(reader)
    schemas = [_ident(r[0]) for r in await conn.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'"
    )]  # fmt: skip
    async with conn.transaction():
        await conn.execute(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC")
        await conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        for schema in schemas:
            await conn.execute(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC")
            await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
            # Tables the owner makes later (the evidence tables, at every refresh) are readable too.
            await conn.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}"
            )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _without_credentials(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _with_credentials(dsn: str, user: str, password: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


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


def _history_rows(folder: RunDir) -> Iterable[list[Any]]:
    for op in folder.read_history():
        yield [
            op["id"], op["kind"], op.get("order_id"), op.get("key"), op.get("amount"), _at(op["start"]),
            _at(op["end"]), op["outcome"], op.get("status"), op.get("payment_id"), op.get("payment_state"),
            op.get("expected", False), op.get("forged", False), op.get("refusal_expected", False),
            op.get("told"), _at(op.get("intended")),
        ]  # fmt: skip


def _fault_rows(folder: RunDir) -> Iterable[list[Any]]:
    for w in fault_windows(folder.read_journal()):
        event = w.applied
        healed = None if w.healed is None else w.healed["at"]
        yield [w.id, event["kind"], event["target"], event["action"], event["at"], healed]
