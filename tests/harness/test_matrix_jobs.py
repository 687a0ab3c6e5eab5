"""paychaos matrix --jobs: cases run as processes of their own, each in a folder of its own, and their
outcomes come back in the cases' order. The full matrix runs in tests/test_matrix.py; here, runs that
end before their load (fast), read back from the folders they wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from paychaos.matrix import Case, folder_of, run_all
from tests.conftest import ROOT

PAYSTACK = ROOT / "targets" / "paystack"


def _experiment(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\ntarget: {{path: {PAYSTACK}}}\n{body}")
    return path


def test_each_case_runs_in_a_folder_of_its_own_and_comes_back_in_order(tmp_path: Path) -> None:
    # Two cases whose runs stop at once: one does not load (an unknown key), one names a defect the
    # target does not have. Neither leaves results.json; each outcome says why, from its own log.
    broken = _experiment(
        tmp_path, "broken", "load: {users: 1, duration: 1s, scenarios: {pay: 1}}\nfaultz: []\n"
    )
    fine = _experiment(tmp_path, "fine", "load: {users: 1, duration: 1s, scenarios: {pay: 1}}\n")
    cases = [Case(broken, None, ()), Case(fine, "no-such-defect", ("exactly_once_debit",))]
    out = tmp_path / "matrix"
    outcomes = list(run_all(cases, out=out, quick=True, jobs=2))
    assert [o.case for o in outcomes] == cases
    assert sorted(p.name for p in out.iterdir()) == ["broken+correct", "fine+no-such-defect"]
    assert [folder_of(c) for c in cases] == ["broken+correct", "fine+no-such-defect"]
    first, second = outcomes
    assert (first.exit_code, second.exit_code) == (2, 2)
    assert not first.as_expected
    assert not second.as_expected
    assert first.error is not None
    assert "faultz" in first.error
    assert first.error.endswith(f"see {out / 'broken+correct' / 'run.log'}")
    assert second.error is not None
    assert "no-such-defect" in second.error


def test_jobs_must_be_one_or_more(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jobs must be 1 or more, got 0"):
        next(run_all([], out=tmp_path, quick=True, jobs=0))
