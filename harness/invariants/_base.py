"""What an invariant is: a named check over a run's evidence, returning a verdict that is data.

A violated invariant is a result (``violated``, with a count and examples), not
an exception. ``could_not_check`` says the evidence was out of reach and why;
it never reads as ``holds``. Eventual invariants are polled after the heal
until they hold or the settle deadline passes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from harness.invariants._store import EvidenceStore

Status = Literal["holds", "violated", "could_not_check"]
MAX_EXAMPLES = 20


@dataclass
class Verdict:
    invariant: str
    status: Status
    count: int = 0  # violations found
    examples: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""  # why it could not be checked, or a one-line summary
    checked: int | None = None  # how many items were examined
    converged_after: float | None = None  # eventual: seconds after the heal until it held
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the SLO's per-phase table

    def as_json(self) -> dict[str, Any]:
        return {
            "invariant": self.invariant, "status": self.status, "count": self.count,
            "examples": self.examples[:MAX_EXAMPLES], "reason": self.reason, "checked": self.checked,
            "converged_after": self.converged_after, "params": self.params, "details": self.details,
        }  # fmt: skip


class EvidenceUnavailable(Exception):
    """The evidence an invariant needs could not be read (the reason goes into the verdict)."""


@dataclass(frozen=True)
class RunWindow:
    """When things happened, in epoch seconds (the run's own clock is relative to ``load_start``)."""

    load_start: float
    load_end: float
    healed_at: float


class Evidence:
    """Everything an invariant may read: the evidence tables, and the target's databases (read-only)."""

    def __init__(self, store: EvidenceStore, window: RunWindow, target_dsn: Callable[[str], str]) -> None:
        self.store = store
        self.window = window
        self._target_dsn = target_dsn

    def require(self, *tables: str) -> None:
        """Raise EvidenceUnavailable unless every table was filled."""
        missing = [self.store.problems[t] for t in tables if t in self.store.problems]
        if missing:
            raise EvidenceUnavailable("; ".join(missing))

    def provided(self, table: str) -> bool:
        """Whether the target filled ``table`` (an invariant may check more when it did)."""
        return table not in self.store.problems

    def sql(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of a read-only query over the evidence tables."""
        try:
            return self.store.query(sql, *args)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise EvidenceUnavailable(f"evidence database: {type(exc).__name__}: {exc}") from exc

    def query(self, database: str, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of a read-only query on one of the target's own databases."""
        return read_only(self._target_dsn(database), sql, *args, where=f"database {database!r}")


def read_only(
    dsn: str, sql: str, *args: Any, where: str, timeout: float = 60, work_mem: str | None = None
) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn, timeout=10)
        for kind in ("json", "jsonb"):  # evidence comes back as data, not as JSON text
            await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        try:
            async with conn.transaction(readonly=True):
                if work_mem:  # room for whole-table hash aggregates instead of sorts on disk
                    await conn.execute(f"SET LOCAL work_mem = '{work_mem}'")
                return [dict(r) for r in await conn.fetch(sql, *args, timeout=timeout)]
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise EvidenceUnavailable(f"{where}: {type(exc).__name__}: {exc}") from exc


def found(
    ev: Evidence, name: str, violators: str, examples: str, checked: int | None, summary: str, *args: Any
) -> Verdict:
    """Count every row of ``violators`` and keep the first few, each with the evidence ``examples`` adds.

    ``violators`` is a query over the evidence tables; ``examples`` is the
    select list of one example, reading the violator's columns as ``v.*``,
    evaluated for the kept rows only (evidence lookups are the costly part).
    """
    rows = ev.sql(
        f"""WITH v AS MATERIALIZED ({violators})
            SELECT (SELECT count(*) FROM v) AS _total, {examples}
            FROM (SELECT * FROM v ORDER BY 1, 2 LIMIT {MAX_EXAMPLES}) v ORDER BY 2, 3""",
        *args,
    )
    if not rows:
        return Verdict(name, "holds", checked=checked)
    total = int(rows[0]["_total"])
    for row in rows:
        del row["_total"]
    return Verdict(
        name, "violated", count=total, examples=rows, checked=checked, reason=summary.format(n=total)
    )


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Check = Callable[[Evidence, Any], Verdict]


@dataclass(frozen=True)
class InvariantDef:
    name: str
    description: str
    check: Check
    params: type[BaseModel] = NoParams
    eventual: bool = False
    needs: tuple[str, ...] = ()  # evidence tables it reads (the history is always there)
    default: bool = False  # checked when an experiment names no invariants

    def run(self, evidence: Evidence, params: dict[str, Any]) -> Verdict:
        """Check with the given (unvalidated) parameters; missing evidence raises EvidenceUnavailable."""
        evidence.require(*self.needs)
        return self.check(evidence, self.params.model_validate(params))


REGISTRY: dict[str, InvariantDef] = {}


def invariant(
    name: str,
    *,
    params: type[BaseModel] = NoParams,
    eventual: bool = False,
    needs: tuple[str, ...] = (),
    default: bool = False,
) -> Callable[[Check], Check]:
    """Register a built-in invariant; its docstring's first line is its description."""

    def register(check: Check) -> Check:
        doc = (check.__doc__ or "").strip().splitlines()
        REGISTRY[name] = InvariantDef(name, doc[0] if doc else "", check, params, eventual, needs, default)
        return check

    return register


def defaults(tables: set[str]) -> list[str]:
    """The invariants checked when an experiment names none: every default one the evidence allows."""
    return [d.name for d in REGISTRY.values() if d.default and set(d.needs) <= tables]
