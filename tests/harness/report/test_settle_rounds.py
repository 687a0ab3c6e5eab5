"""The settle phase records each round's violations per eventual invariant, and results.json carries them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from paychaos._results_model import Results, SettleRecord
from paychaos.invariants import REGISTRY, Check, Evidence, InvariantDef, RunWindow, Verdict
from paychaos.invariants._builtin import Eventually
from paychaos.report import validate_results
from paychaos.run import _phases as phase
from paychaos.run._record import LoadRun, SettleLog
from tests.harness.report.conftest import as_run_now


class _Store:
    """Evidence that is "refreshed" each round (nothing to read: the checks below read nothing)."""

    failure = None
    problems: dict[str, str] = {}  # noqa: RUF012 - a stand-in, never changed

    def __init__(self) -> None:
        self.refreshed = 0

    def refresh(self) -> None:
        self.refreshed += 1


@pytest.fixture
def eventual(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, list[int | None]], None]:
    """Register an eventual invariant whose successive checks find the given violations (None: it
    could not check)."""

    def register(name: str, counts: list[int | None]) -> None:
        left = list(counts)

        def check(evidence: Evidence, params: Any) -> Verdict:
            n = left.pop(0) if len(left) > 1 else left[0]
            if n is None:
                return Verdict(name, "could_not_check", reason="evidence database: TimeoutError")
            return Verdict(name, "violated" if n else "holds", count=n)

        monkeypatch.setitem(REGISTRY, name, InvariantDef(name, name, check, Eventually, eventual=True))

    return register


def _plan(checks: list[Check], timeout: float = 5.0) -> Any:
    return SimpleNamespace(checks=tuple(checks), experiment=SimpleNamespace(settle=SimpleNamespace(timeout=timeout,
                                                                                                   poll=0.01)))  # fmt: skip


def test_each_round_is_kept_with_each_eventual_invariants_violations(
    eventual: Callable[[str, list[int | None]], None],
) -> None:
    eventual("drains", [3, 1, 0])
    eventual("flaky", [None, 2, 0])
    eventual("stuck", [5])
    checks = [Check("drains"), Check("flaky"), Check("stuck", {"within": "0.2s"})]
    store, healed = _Store(), time.time()  # healed just now: the deadlines are ahead
    evidence = Evidence(store, RunWindow(healed, healed, healed), str)  # type: ignore[arg-type]
    load = LoadRun(schedule=None)  # type: ignore[arg-type]
    settled = phase.settle(_plan(checks), evidence, load)
    assert [settled[i].status for i in range(3)] == ["holds", "holds", "violated"]
    log = load.settle
    assert isinstance(log, SettleLog)
    assert log.healed_at == healed
    assert log.deadlines == {"drains": 5.0, "flaky": 5.0, "stuck": 0.2}
    rounds = [p["violations"] for p in log.polls]
    assert rounds[:3] == [
        {"drains": 3, "flaky": None, "stuck": 5},
        {"drains": 1, "flaky": 2, "stuck": 5},
        {"drains": 0, "flaky": 0, "stuck": 5},
    ]
    assert all(r == {"stuck": 5} for r in rounds[3:])  # only the one still violated, to its deadline
    # and no round after it (but the one that finds it past its deadline, 0.2 s, not the 5 s of theirs)
    assert store.refreshed == len(rounds) + 1
    assert time.time() - healed < 2.0
    ats = [p["at"] for p in log.polls]
    assert ats == sorted(ats)
    assert ats[-1] < 2.0  # each in seconds after the heal (the checks here take no time)
    SettleRecord.model_validate(json.loads(json.dumps(log.as_json())))


def test_a_run_writes_its_currency_and_settle_rounds_and_older_results_still_read(
    sample_run: Callable[[str], Path],
) -> None:
    run = sample_run("failing-drop-on-overload")
    older = json.loads((run / "results.json").read_text())
    assert "settle" not in older
    assert "currency" not in older["target"]
    validate_results(older)
    assert Results.model_validate(older).settle is None
    now = as_run_now(run)
    validate_results(now)
    model = Results.model_validate(now)
    assert model.target.currency is not None
    assert (model.target.currency.code, model.target.currency.minor_unit) == ("CNY", 2)
    assert model.settle is not None
    assert model.settle.deadlines == {"no_stuck_orders": 30.0, "eventual_refund": 30.0}
    assert model.settle.polls[0].violations == {"no_stuck_orders": 290}
    # a run that ended before settling writes null; a target without a currency, null
    validate_results({**now, "settle": None, "target": {**now["target"], "currency": None}})
    with pytest.raises(ValueError, match="violations"):
        Results.model_validate(
            {**now, "settle": {**now["settle"], "polls": [{"at": 1.0, "violations": {"x": -1}}]}}
        )
