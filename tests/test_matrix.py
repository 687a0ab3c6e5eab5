"""The detection matrix, as CI proves it: every experiment passes on the correct stack, every defect is caught.

Each row is one run of an experiment's quick profile (see harness/matrix.py):
correct stack → exit 0; a defect switched on → exit 1 with the defect's
expected invariants among the violated ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from paychaos.matrix import Case, cases, run_case
from paychaos.system import load_target
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TARGET = load_target(ROOT / "targets" / "paystack")
# hello runs on the correct stack in tests/harness/test_runner.py already; every other experiment runs here.
CASES = list(cases(TARGET, [p for p in sorted((ROOT / "experiments").glob("*.yaml")) if p.stem != "hello"]))


def test_every_defect_names_an_experiment_that_exists() -> None:
    for name, defect in TARGET.defects.items():
        for catch in defect.catches():
            assert (TARGET.root / catch.experiment).exists(), name


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_matrix(case: Case, tmp_path: Path) -> None:
    outcome = run_case(case, out=tmp_path, quick=True, console=Console(quiet=True))
    if case.defect is None:
        assert outcome.exit_code == 0, (
            f"{case.label}: {outcome.violated or outcome.error}; see {outcome.run_dir}"
        )
    else:
        assert outcome.exit_code == 1, (
            f"{case.label}: exit {outcome.exit_code} ({outcome.error}); see {outcome.run_dir}"
        )
        assert set(case.expect) <= set(outcome.violated), f"{case.label}: violated {outcome.violated}"
