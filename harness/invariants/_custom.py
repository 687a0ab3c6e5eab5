"""The SLO invariant (from the history, per phase) and the custom ones: SQL, and Python by import path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from paychaos.durations import Duration
from paychaos.invariants._base import MAX_EXAMPLES, Evidence, EvidenceUnavailable, Verdict, invariant
from paychaos.invariants._child import run_in_child

Phase = Literal["steady", "fault", "recovery"]


_FACTOR = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*[x×]\s*$")
_POINTS = re.compile(r"^\s*\+?\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%\s*$")


def _factor(value: Any) -> Any:
    """``2x`` (or 2): at most that many times the baseline's."""
    if isinstance(value, str):
        found = _FACTOR.match(value)
        if not found:
            raise ValueError(f"a latency gate is a factor of the baseline's, e.g. 2x; got {value[:40]!r}")
        return float(found.group(1))
    return value


def _points(value: Any) -> Any:
    """``+1%`` (or 0.01): at most that many percentage points above the baseline's error rate."""
    if isinstance(value, str):
        found = _POINTS.match(value)
        if not found:
            said = f"got {value[:40]!r}"
            raise ValueError(f"an error-rate gate is points over the baseline's, e.g. +1%; {said}")
        return float(found.group(1)) / 100
    return value


def _share(value: Any) -> Any:
    """``5%`` (or 0.05): a share of operations, as guards write it too."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            said = f"got {value[:40]!r}"
            raise ValueError(f"an error rate is a percentage or a fraction, e.g. 5%; {said}") from None
    return value


Factor = Annotated[float, BeforeValidator(_factor), Field(gt=0)]
Points = Annotated[float, BeforeValidator(_points), Field(ge=0, le=1)]


class VsBaseline(BaseModel):
    """Limits relative to the baseline run's figures in the same phase."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    p50: Factor | None = Field(default=None, description="at most this factor of the baseline's p50, e.g. 2x")
    p95: Factor | None = Field(default=None, description="at most this factor of the baseline's p95, e.g. 2x")
    p99: Factor | None = Field(default=None, description="at most this factor of the baseline's p99, e.g. 2x")
    error_rate: Points | None = Field(
        default=None, description="at most this much above the baseline's, in points, e.g. +1%"
    )

    @model_validator(mode="after")
    def _some(self) -> VsBaseline:
        if all(v is None for v in self.limits().values()):
            raise ValueError("vs_baseline gates p50, p95, p99 (e.g. 2x) or error_rate (e.g. +1%); give one")
        return self

    def limits(self) -> dict[str, float | None]:
        return {"error_rate": self.error_rate, "p50": self.p50, "p95": self.p95, "p99": self.p99}


class SloParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    phases: list[Phase] = Field(
        default=["steady", "fault", "recovery"], description="phases the limits apply to"
    )
    max_error_rate: Annotated[float, BeforeValidator(_share), Field(ge=0, le=1)] | None = Field(
        default=None, description="failed or unknown, as a fraction (0.05) or a percentage (5%)"
    )
    p50: Duration | None = None
    p95: Duration | None = None
    p99: Duration | None = None
    kind: str | None = Field(default=None, description="only operations of this kind")
    vs_baseline: VsBaseline | None = Field(
        default=None,
        description="limits relative to a baseline run (--baseline RUN_DIR, or the experiment's baseline) "
        "in each of the phases: p99: 2x (at most twice the baseline's), error_rate: +1% (at most one point "
        "above)",
    )
    baseline: str | None = Field(
        default=None,
        description="set by the run, never in a file: the baseline run's folder, relative to this run's",
    )

    @model_validator(mode="after")
    def _limits_something(self) -> SloParams:
        # An slo with no limit holds whatever happens: a pass nobody earned.
        if (self.max_error_rate, self.p50, self.p95, self.p99, self.vs_baseline) == (None,) * 5:
            raise ValueError("an slo needs a limit: max_error_rate, p50, p95, p99 or vs_baseline (p99: 1s)")
        return self


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
    if not any(row["phase"] in params.phases for row in stats):
        # No operation to judge: an slo over nothing would hold whatever happened (a misspelt kind).
        kinds = [r["kind"] for r in ev.sql("SELECT DISTINCT kind FROM history ORDER BY kind")]
        which = f" of kind {params.kind!r}" if params.kind else ""
        there = ", ".join(kinds) or "none"
        return Verdict("slo", "could_not_check", reason=f"no client operation{which} started in the phases "
                       f"{', '.join(params.phases)}; the run's operations are of kinds: {there}")  # fmt: skip
    limits = {"error_rate": params.max_error_rate, "p50": params.p50, "p95": params.p95, "p99": params.p99}
    rows = []
    for row in stats:
        if row["phase"] not in params.phases:
            continue
        for metric, limit in limits.items():
            if limit is not None and row[metric] is not None and row[metric] > limit:
                rows.append({"phase": row["phase"], "metric": metric, "value": row[metric], "limit": limit,
                             "operations": row["operations"]})  # fmt: skip
    details: dict[str, Any] = {"phases": stats}
    said = [f"{r['metric']} {r['value']:.3g} > {r['limit']:.3g} ({r['phase']})" for r in rows]
    if params.vs_baseline is not None:
        from paychaos.compare import gate_reason

        gated, details["baseline"] = _vs_baseline(ev, params, stats)
        rows += gated
        said += [gate_reason(r) for r in gated]
    verdict = Verdict("slo", "violated" if rows else "holds", count=len(rows), examples=rows,
                      checked=sum(r["operations"] for r in stats))  # fmt: skip
    verdict.details = details
    verdict.reason = ", ".join(said)
    return verdict


# When the faults began and ended, epoch seconds (last_heal null: one was never healed).
_BOUNDS = """
SELECT extract(epoch FROM min(applied))::float8 AS first_fault,
       CASE WHEN bool_or(healed IS NULL) THEN NULL
            ELSE extract(epoch FROM max(healed))::float8 END AS last_heal
FROM faults
"""


def _vs_baseline(ev: Evidence, params: Any, stats: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    """The gate's violations, and the baseline's figures it was held against. The baseline is split by
    its own faults, or, when it applied none, at this run's boundaries (same seconds after its load
    started): its "fault" phase is the same stretch of the load without the fault."""
    from paychaos.compare import Bounds, check_gate, read_run
    from paychaos.errors import InvalidInput

    if params.baseline is None:
        raise EvidenceUnavailable(
            "vs_baseline: this run has no baseline to compare with (--baseline RUN_DIR, or baseline: auto)"
        )
    folder = Path(ev.store.run_dir) / params.baseline
    try:
        base = read_run(folder)
    except InvalidInput as exc:
        raise EvidenceUnavailable(f"vs_baseline: the baseline is not recomputable: {exc}") from None
    bounds = base.bounds
    if bounds is None:
        (row,) = ev.sql(_BOUNDS)
        t0 = ev.window.load_start
        if row["first_fault"] is not None:
            last = row["last_heal"]
            bounds = Bounds(row["first_fault"] - t0, float("inf") if last is None else last - t0)
    figures = base.figures(bounds, kind=params.kind)
    if not figures:
        raise EvidenceUnavailable(f"vs_baseline: the baseline {folder} sent no load to compare with")
    rows = check_gate(stats, figures, params.vs_baseline.limits(), params.phases)
    compared = {"run_dir": params.baseline, "run_id": base.run_id, "phases": [
        {"phase": f.phase, **f.as_json()} for f in figures if f.phase in params.phases]}  # fmt: skip
    return rows, compared


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
