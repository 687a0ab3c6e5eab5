"""The detection matrix, as CI proves it: every experiment passes on the correct stack, every defect is caught.

Each row is one run of an experiment's quick profile (see harness/matrix.py):
correct stack → exit 0; a defect switched on → exit 1 with the defect's
expected invariants among the violated ones. The runs go two at a time, as
``paychaos matrix --jobs 2`` runs them, each a ``paychaos run`` process; each
test waits for its own row.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paychaos.matrix import Case, Outcome, cases, run_all
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


class Rows:
    """The matrix's outcomes as they come, in CASES order (the order pytest runs test_matrix in)."""

    def __init__(self, outcomes: Iterator[Outcome]) -> None:
        self._outcomes = outcomes
        self._done: dict[str, Outcome] = {}

    def of(self, case: Case) -> Outcome:
        while case.label not in self._done:
            outcome = next(self._outcomes)
            self._done[outcome.case.label] = outcome
        return self._done[case.label]


@pytest.fixture(scope="module")
def rows(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rows]:
    # Only the rows this session runs (-k picks some), in the order it runs them.
    selected = [item.callspec.params["case"] for item in request.session.items
                if isinstance(item, pytest.Function) and item.originalname == "test_matrix"]  # fmt: skip
    outcomes = run_all(selected, out=tmp_path_factory.mktemp("matrix"), quick=True, jobs=2)
    try:
        yield Rows(outcomes)
    finally:
        outcomes.close()  # a run cut short (-x, Ctrl-C) starts no other


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_matrix(case: Case, rows: Rows) -> None:
    outcome = rows.of(case)
    if case.defect is None:
        assert outcome.exit_code == 0, (
            f"{case.label}: {outcome.violated or outcome.error}; see {outcome.run_dir}"
        )
    else:
        assert outcome.exit_code == 1, (
            f"{case.label}: exit {outcome.exit_code} ({outcome.error}); see {outcome.run_dir}"
        )
        assert set(case.expect) <= set(outcome.violated), f"{case.label}: violated {outcome.violated}"
