"""The exit code a run earns (a pass needs verdicts, all holding, and every coverage requirement met),
the words it is said in, and results.json written only when it matches its schema."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest

from paychaos._results import (
    NOT_EXERCISED,
    SCHEMA_VERSION,
    STATUS_WORDS,
    VERDICT_WORDS,
    exit_code,
    not_exercised,
    verdict_word,
    write_results,
)
from paychaos._results_model import InvariantStatus, VerdictWord
from paychaos.errors import ExitCode, InfrastructureError
from paychaos.report import validate_results
from tests.harness.report.conftest import sample_results

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


# -- the words, and writing ----------------------------------------------------------------------


def test_every_exit_code_has_one_word() -> None:
    assert set(VERDICT_WORDS) == set(ExitCode)
    assert [verdict_word(code) for code in (ExitCode.HELD, ExitCode.VIOLATED, ExitCode.INTERRUPTED)] == [
        "held",
        "violated",
        "interrupted",
    ]
    assert verdict_word(ExitCode.INFRASTRUCTURE) == "error"
    assert verdict_word(ExitCode.INFRASTRUCTURE, [_count(0, 1)]) == NOT_EXERCISED


def test_every_verdict_word_a_run_can_write_is_one_the_schema_takes() -> None:
    written = {verdict_word(code) for code in ExitCode if code != ExitCode.INVALID} | {NOT_EXERCISED}
    assert written == set(get_args(VerdictWord))
    assert set(STATUS_WORDS) == set(get_args(InvariantStatus))


def test_write_results_writes_what_matches_the_schema(tmp_path: Path) -> None:
    results = sample_results("passing-hello")
    del results["schema_version"]  # write_results adds it
    path = tmp_path / "results.json"
    write_results(path, results)
    written = json.loads(path.read_text())
    assert written == {"schema_version": SCHEMA_VERSION, **results}
    validate_results(written)


def test_write_results_refuses_a_harness_bug_and_writes_nothing(tmp_path: Path) -> None:
    results = sample_results("failing-retry-new-key")
    results["invariants"][0]["checked"] = Decimal(12)  # json.dumps(default=str) would write "12"
    results["phases"][0]["status"] = "finished"
    path = tmp_path / "results.json"
    path.write_text("{}")  # a previous file stays as it was
    with pytest.raises(InfrastructureError) as caught:
        write_results(path, results)
    message = str(caught.value)
    assert message.startswith("harness bug: the results do not match results.json schema version 1")
    assert "invariants[0].checked: " in message
    assert "phases[0].status: " in message
    assert path.read_text() == "{}"
    assert not list(tmp_path.glob("*.tmp"))


def test_results_that_do_not_match_still_leave_a_results_file_saying_error(tmp_path: Path) -> None:
    """A harness bug in the results must not leave a folder without results.json (the run's own
    _finish writes this bare record instead, exit 3, and the traceback to harness-error.txt)."""
    from paychaos.run._runner import _bare

    results = sample_results("failing-retry-new-key")
    del results["schema_version"]
    results["phases"][0]["status"] = "finished"  # the bug
    path = tmp_path / "results.json"
    with pytest.raises(InfrastructureError):
        write_results(path, results)
    write_results(path, _bare(results, "internal error: results.json: …"))
    written = json.loads(path.read_text())
    validate_results(written)
    assert (written["verdict"], written["exit_code"], written["run_id"]) == ("error", 3, results["run_id"])
