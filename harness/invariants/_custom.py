"""The SLO invariant (from the history, per phase) and the custom ones: SQL, and Python by import path."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from paychaos.durations import Duration
from paychaos.invariants._base import MAX_EXAMPLES, Evidence, Verdict, invariant
from paychaos.invariants._child import run_in_child

Phase = Literal["steady", "fault", "recovery"]


class SloParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    phases: list[Phase] = Field(
        default=["steady", "fault", "recovery"], description="phases the limits apply to"
    )
    max_error_rate: float | None = Field(
        default=None, ge=0, le=1, description="failed or unknown, as a fraction"
    )
    p50: Duration | None = None
    p95: Duration | None = None
    p99: Duration | None = None
    kind: str | None = Field(default=None, description="only operations of this kind")


# steady: before the first fault; fault: from the first fault to the last heal; recovery: after it.
# Latency counts from the intended start when the load is open-loop (no coordinated omission).
_PHASE_STATS = """
WITH bounds AS (
    SELECT min(applied) AS first_fault, max(coalesce(healed, 'infinity')) AS last_heal FROM faults),
ops AS (
    SELECT h.outcome, coalesce(h.expected, false) AS expected,
           extract(epoch FROM h.ended - coalesce(h.intended, h.started)) AS latency,
           CASE WHEN b.first_fault IS NULL OR h.started < b.first_fault THEN 'steady'
                WHEN h.started <= b.last_heal THEN 'fault' ELSE 'recovery' END AS phase
    FROM history h CROSS JOIN bounds b WHERE $1::text IS NULL OR h.kind = $1)
SELECT phase, count(*) AS operations, avg((outcome <> 'ok' AND NOT expected)::int)::float AS error_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency) AS p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency) AS p99
FROM ops GROUP BY phase ORDER BY min(array_position(ARRAY['steady', 'fault', 'recovery'], phase))
"""


@invariant("slo", params=SloParams)
def slo(ev: Evidence, params: Any) -> Verdict:
    """Error rate and latency percentiles of the client operations stay within limits, per phase."""
    stats = ev.sql(_PHASE_STATS, params.kind)
    limits = {"error_rate": params.max_error_rate, "p50": params.p50, "p95": params.p95, "p99": params.p99}
    rows = []
    for row in stats:
        if row["phase"] not in params.phases:
            continue
        for metric, limit in limits.items():
            if limit is not None and row[metric] is not None and row[metric] > limit:
                rows.append({"phase": row["phase"], "metric": metric, "value": row[metric], "limit": limit,
                             "operations": row["operations"]})  # fmt: skip
    verdict = Verdict("slo", "violated" if rows else "holds", count=len(rows), examples=rows,
                      checked=sum(r["operations"] for r in stats))  # fmt: skip
    verdict.details = {"phases": stats}
    if rows:
        verdict.reason = ", ".join(
            f"{r['metric']} {r['value']:.3g} > {r['limit']:.3g} ({r['phase']})" for r in rows
        )
    return verdict


class SqlParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    query: str = Field(description="a SELECT whose rows are violations")
    database: str | None = Field(default=None, description="a target database; absent: the evidence tables")
    description: str = ""


@invariant("sql", params=SqlParams)
def sql(ev: Evidence, params: Any) -> Verdict:
    """Custom: a read-only query whose rows are violations."""
    # As a role that may only SELECT, READ ONLY, timed: a query that tries anything else (COPY … TO
    # PROGRAM, writing, signalling other backends) fails, and the verdict is could_not_check.
    rows = ev.sql(params.query) if params.database is None else ev.query(params.database, params.query)
    name = f"sql: {params.description}" if params.description else "sql"
    weaker = ev.store.isolation  # the server would not have a reader role: say so beside the verdict
    details = {"isolation": weaker} if weaker else {}
    if not rows:
        return Verdict(name, "holds", details=details)
    return Verdict(
        name, "violated", count=len(rows), examples=rows[:MAX_EXAMPLES], reason=f"{len(rows)} row(s)",
        details=details,
    )  # fmt: skip


class PythonParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    function: str = Field(pattern=r"^[\w.]+:\w+$", description="module.path:function")
    params: dict[str, Any] = {}
    timeout: Duration = Field(
        default=120.0, gt=0, description="how long it may run (in a process of its own) before it is killed"
    )


@invariant("python", params=PythonParams)
def python(ev: Evidence, params: Any) -> Verdict:
    """Custom: function(evidence, **params) returning a Verdict, or the list of violations."""
    # In a child process: an exit, a crash or a hang in the user's code is could_not_check, not the run's end.
    return run_in_child(ev, params.function, params.params, timeout=params.timeout)
