"""The exit code a run earns: a pass needs verdicts, all holding, and every coverage requirement met."""

from __future__ import annotations

from typing import Any

from harness._results import exit_code, not_exercised, verdict_word
from harness.errors import ExitCode

HOLDS = [{"status": "holds"}]


def _count(value: int | None, required: int | None) -> dict[str, Any]:
    met = None if required is None else value is not None and value >= required
    return {"name": "voids", "value": value, "required": required, "met": met}


def test_no_verdict_is_never_a_pass() -> None:
    assert exit_code("completed", []) == ExitCode.INFRASTRUCTURE
    assert exit_code("aborted", []) == ExitCode.INFRASTRUCTURE
    assert exit_code("completed", HOLDS) == ExitCode.HELD


def test_a_requirement_the_run_did_not_meet_is_not_exercised_not_a_pass() -> None:
    short = [_count(0, 1), _count(5, None)]
    assert exit_code("completed", HOLDS, short) == ExitCode.INFRASTRUCTURE
    assert verdict_word(ExitCode.INFRASTRUCTURE, short) == "not exercised"
    message = not_exercised(short)
    assert message is not None
    assert message.startswith("did not exercise what the experiment requires: voids = 0, required >= 1.")
    uncounted = [_count(None, 1)]
    assert exit_code("completed", HOLDS, uncounted) == ExitCode.INFRASTRUCTURE
    assert "voids = could not count" in (not_exercised(uncounted) or "")
    met = [_count(3, 1)]
    assert exit_code("completed", HOLDS, met) == ExitCode.HELD
    assert not_exercised(met) is None


def test_a_violation_outranks_what_was_not_exercised() -> None:
    assert exit_code("completed", [{"status": "violated"}], [_count(0, 1)]) == ExitCode.VIOLATED
    assert verdict_word(ExitCode.VIOLATED, [_count(0, 1)]) == "violated"


def test_fewer_verdicts_than_invariants_is_never_a_pass() -> None:
    assert exit_code("completed", HOLDS, expected=2) == ExitCode.INFRASTRUCTURE
    assert exit_code("aborted", HOLDS, expected=2) == ExitCode.INFRASTRUCTURE
    assert exit_code("completed", HOLDS * 2, expected=2) == ExitCode.HELD
    assert exit_code("completed", [{"status": "violated"}], expected=2) == ExitCode.VIOLATED
