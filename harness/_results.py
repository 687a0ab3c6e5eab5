"""results.json: what a run found, as data (schema version 1), the exit code it implies, and its words.

The one table of the words a verdict is said in lives here: :data:`VERDICT_WORDS` (a run's, by
exit code) and :data:`STATUS_WORDS` (an invariant's). The file's shape is the models' in
``harness/_results_model.py``; :func:`write_results` checks it before writing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from paychaos._results_model import SCHEMA_VERSION, InvariantStatus, Results
from paychaos.errors import ExitCode, InfrastructureError

VERDICT_WORDS: dict[ExitCode, str] = {
    ExitCode.HELD: "held",
    ExitCode.VIOLATED: "violated",
    ExitCode.INVALID: "invalid",  # never in a results.json: an invalid experiment leaves no run folder
    ExitCode.INFRASTRUCTURE: "error",
    ExitCode.INTERRUPTED: "interrupted",
}
"""A run's verdict in one word, by its exit code (results.json's ``verdict``)."""
NOT_EXERCISED = "not exercised"
"""The verdict of exit code 3 when the run fell short of a coverage requirement, rather than failing."""
STATUS_WORDS: dict[InvariantStatus, str] = {
    "holds": "holds",
    "violated": "violated",
    "could_not_check": "could not check",
}
"""An invariant's status (results.json's ``invariants[].status``) as words for people."""
OUTCOME_WORDS: dict[ExitCode, str] = {
    ExitCode.HELD: "PASSED",
    ExitCode.VIOLATED: "FAILED",
    ExitCode.INFRASTRUCTURE: VERDICT_WORDS[ExitCode.INFRASTRUCTURE].upper(),
    ExitCode.INTERRUPTED: VERDICT_WORDS[ExitCode.INTERRUPTED].upper(),
}
"""A run's verdict as a command's last line starts it: PASSED, FAILED, ERROR, INTERRUPTED."""


def outcome_word(code: ExitCode | int, verdict: str | None = None) -> str:
    """:data:`OUTCOME_WORDS` for ``code``; NOT EXERCISED when results.json's ``verdict`` says so.

    >>> outcome_word(ExitCode.INFRASTRUCTURE, NOT_EXERCISED)
    'NOT EXERCISED'
    """
    if verdict == NOT_EXERCISED:
        return NOT_EXERCISED.upper()
    return next((w for c, w in OUTCOME_WORDS.items() if c == code), OUTCOME_WORDS[ExitCode.INFRASTRUCTURE])


def exit_word(code: ExitCode | int) -> str:
    """:data:`VERDICT_WORDS` for an exit code given as a number; the number itself if it is none of them."""
    return next((w for c, w in VERDICT_WORDS.items() if c == code), str(int(code)))


def status_mark(status: str, count: int, *, loud: bool = False) -> str:
    """An invariant's status in a progress or verify line: ``holds``, ``VIOLATED (3)``, ``could not check``
    (``COULD NOT CHECK`` when ``loud``); an unknown status as it is.

    >>> status_mark("violated", 3)
    'VIOLATED (3)'
    """
    if status == "violated":
        return f"{STATUS_WORDS['violated'].upper()} ({count})"
    if status == "could_not_check":
        word = STATUS_WORDS["could_not_check"]
        return word.upper() if loud else word
    return STATUS_WORDS["holds"] if status == "holds" else status


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
    """results.json's ``verdict``: :data:`VERDICT_WORDS`, but "not exercised" for a requirement not met.

    >>> verdict_word(ExitCode.INFRASTRUCTURE, [{"met": False}])
    'not exercised'
    """
    if code == ExitCode.INFRASTRUCTURE and any(c.get("met") is False for c in coverage or []):
        return NOT_EXERCISED
    return VERDICT_WORDS.get(code, VERDICT_WORDS[ExitCode.INFRASTRUCTURE])


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
    """Check ``results`` against :class:`~paychaos._results_model.Results`, then write it atomically:
    a reader never sees half a file, a crash leaves the previous one.

    A results structure that does not match is a harness bug: it raises
    :class:`~paychaos.errors.InfrastructureError` (exit 3) and writes nothing, rather than a file that
    breaks its readers.
    """
    data = {"schema_version": SCHEMA_VERSION, **results}
    check_results(data)
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(data, indent=2, default=str))
    os.replace(scratch, path)


def check_results(data: dict[str, Any]) -> Results:
    """``data`` as a :class:`Results`; InfrastructureError, listing where and why, if it is not one."""
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        listed = "\n".join(f"  - {p}" for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise InfrastructureError(
            f"harness bug: the results do not match results.json schema version {SCHEMA_VERSION}, "
            f"so none were written ({len(problems)} problem(s)):\n{listed}{more}"
        ) from None


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
