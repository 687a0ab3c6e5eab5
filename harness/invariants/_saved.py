"""The evidence a run checked, kept in its folder, so that its verdicts can be recomputed from it alone.

After the verify phase a run writes ``RUN_DIR/evidence/``::

    evidence/
      manifest.json       what follows, and what was checked over it (a Manifest)
      debits.csv.gz       one file per evidence table, the run's history and faults included:
      refunds.csv.gz      COPY … TO STDOUT WITH CSV HEADER, gzipped
      …

The manifest holds the format version; each table's file, row count and
sha256; the tables the target could not provide and why; the run window; the
invariants checked (name, parameters and verdict, as results.json has them);
and the coverage as counted (the target's counters read its own databases,
which do not outlive the run). ``paychaos verify`` loads it all into a fresh
PostgreSQL and checks every invariant again (:mod:`paychaos.invariants._replay`).

The folder appears whole or not at all: it is written as ``evidence.partial/``
and renamed when complete.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
from pydantic import BaseModel, ConfigDict

from paychaos._evidence_tables import RUN_TABLES, TABLES
from paychaos.invariants._base import (
    DB_ERRORS,
    RunWindow,
    Status,
    Verdict,
    bounded_connect,
    close_quietly,
    unavailable,
)
from paychaos.rundir import RunDir

if TYPE_CHECKING:
    from paychaos.invariants._coverage import Count
    from paychaos.invariants._store import EvidenceStore

FORMAT = 1  # of the manifest and the files beside it; a reader refuses any other
_GZIP_LEVEL = 6  # level 9 takes about twice as long for a few percent less


class Named(Protocol):
    """An invariant as a run names it (an experiment's InvariantSpec, a Check): its registered name."""

    @property
    def name(self) -> str: ...


class SavedTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str  # in evidence/
    rows: int
    sha256: str  # of the file as written (gzipped)


class CheckedInvariant(BaseModel):
    """One invariant the run checked over this evidence, and the verdict it recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # its name in the registry (``sql``, ``python``, ``exactly_once_debit``, …)
    invariant: str  # as its verdict names it (``sql: no negative balance``)
    params: dict[str, Any]  # validated, as results.json has them
    status: Status
    count: int


class Manifest(BaseModel):
    """``evidence/manifest.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = FORMAT
    run_id: str
    saved_at: float  # epoch seconds
    tables: dict[str, SavedTable]  # every evidence table; none when the evidence could not be read
    problems: dict[str, str]  # table -> why the target could not provide it (its checks could not check)
    failure: str | None  # why the last refresh failed: then every check could not check
    window: RunWindow
    invariants: list[CheckedInvariant]
    coverage: list[dict[str, Any]]  # as counted by the run (Count.as_json)
    target: dict[str, Any]  # the target's model, for python invariants' processes
    target_source: str  # its target.yaml

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


def save_evidence(
    store: EvidenceStore,
    window: RunWindow,
    specs: Sequence[Named],
    verdicts: Sequence[Verdict],
    coverage: Sequence[Count],
) -> Manifest:
    """Write every evidence table and the manifest to ``RUN_DIR/evidence/``, bounded like a refresh.

    Raises EvidenceUnavailable (the database did not answer), OSError (the folder) or
    ValueError; nothing is left in the run folder but the reason then (see ``EvidenceStore.save``).
    """
    folder = RunDir(store.run_dir)
    partial = folder.evidence_partial
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        tables: dict[str, SavedTable] = {}
        if store.failure is None:  # after a failed refresh the tables are half-built: nothing to keep
            limit = store.limits.refresh
            try:
                tables = asyncio.run(asyncio.wait_for(_dump(store, partial), limit))
            except DB_ERRORS as exc:
                raise unavailable("the evidence database", exc, limit, store.limits.statement) from exc
        manifest = Manifest(
            run_id=folder.run_id,
            saved_at=time.time(),
            tables=tables,
            problems=dict(store.problems),
            failure=store.failure,
            window=window,
            invariants=[
                CheckedInvariant(
                    name=s.name, invariant=v.invariant, params=v.params, status=v.status, count=v.count
                )
                for s, v in zip(specs, verdicts, strict=True)
            ],
            coverage=[c.as_json() for c in coverage],
            target=store.target.model_dump(mode="json", by_alias=True),
            target_source=str(store.target.source),
        )
        (partial / RunDir.MANIFEST).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        shutil.rmtree(folder.evidence, ignore_errors=True)  # a save of this run before (none, normally)
        os.replace(partial, folder.evidence)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


async def _dump(store: EvidenceStore, folder: Path) -> dict[str, SavedTable]:
    conn = await bounded_connect(store.dsn, store.limits.statement, connect_timeout=store.limits.connect)
    try:
        saved = {}
        # One snapshot for every table, as the checks saw them (nothing writes to them now, anyway).
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            for name in [*TABLES, *RUN_TABLES]:
                path = folder / f"{name}{RunDir.TABLE_SUFFIX}"
                rows = await _copy_out(conn, name, path)
                saved[name] = SavedTable(file=path.name, rows=rows, sha256=sha256(path))
        return saved
    finally:
        await close_quietly(conn)


async def _copy_out(conn: asyncpg.Connection, table: str, path: Path) -> int:
    # mtime=0: the same rows make the same file, byte for byte
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as out,
    ):

        async def write(chunk: bytes) -> None:
            out.write(chunk)

        status = await conn.copy_from_table(table, output=write, format="csv", header=True)
    return copied(status)


def copied(status: str) -> int:
    """The row count of a COPY's status ("COPY 42")."""
    return int(status.rsplit(" ", 1)[-1])


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
