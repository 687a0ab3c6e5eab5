"""results.json: what a run found, as data (schema version 1), and the exit code it implies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import ExitCode

SCHEMA_VERSION = 1


def exit_code(
    status: str,
    verdicts: list[dict[str, Any]],
    coverage: list[dict[str, Any]] | None = None,
    *,
    expected: int | None = None,
) -> ExitCode:
    """0 every invariant holds and the run did what it had to · 1 one is violated · 3 the harness
    could not do its job, an invariant could not be checked, nothing was checked, fewer verdicts
    than the ``expected`` invariants, or the run did not exercise what the experiment requires
    · 130 interrupted.

    A pass is earned: a missing verdict, or a requirement the faults never met, is never 0.

    >>> exit_code("completed", [{"status": "holds"}], expected=2)
    <ExitCode.INFRASTRUCTURE: 3>
    """
    if status == "interrupted":
        return ExitCode.INTERRUPTED
    if any(v["status"] == "violated" for v in verdicts):
        return ExitCode.VIOLATED
    if status == "error" or not verdicts or any(v["status"] == "could_not_check" for v in verdicts):
        return ExitCode.INFRASTRUCTURE
    if expected is not None and len(verdicts) < expected:
        return ExitCode.INFRASTRUCTURE
    if any(c.get("met") is False for c in coverage or []):
        return ExitCode.INFRASTRUCTURE
    return ExitCode.HELD


def verdict_word(code: ExitCode, coverage: list[dict[str, Any]] | None = None) -> str:
    if code == ExitCode.INFRASTRUCTURE and any(c.get("met") is False for c in coverage or []):
        return "not exercised"
    return {
        ExitCode.HELD: "held",
        ExitCode.VIOLATED: "violated",
        ExitCode.INFRASTRUCTURE: "error",
        ExitCode.INTERRUPTED: "interrupted",
    }.get(code, "error")


def not_exercised(coverage: list[dict[str, Any]]) -> str | None:
    """What the run failed to make the stack do, as one line; None if it did everything required."""
    short = [c for c in coverage if c.get("met") is False]
    if not short:
        return None
    said = "; ".join(
        f"{c['name']} = {'could not count' if c.get('value') is None else c['value']}, "
        f"required >= {c['required']}"
        for c in short
    )
    return (f"did not exercise what the experiment requires: {said}. The faults or the load never made "
            "the stack take that path; make them hit it (e.g. lose requests with stream: upstream, "
            "add the scenario, run longer) before trusting a pass")  # fmt: skip


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write atomically: a reader never sees half a file, a crash leaves the previous one."""
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **results}, indent=2, default=str))
    os.replace(scratch, path)
