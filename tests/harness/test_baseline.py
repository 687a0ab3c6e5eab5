"""A run's baseline, decided before anything starts: --baseline RUN_DIR, the experiment's ``baseline``
(a run folder, or auto), --no-faults, and an slo vs_baseline gate with no baseline refused (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paychaos.errors import InvalidInput
from paychaos.experiment import ExperimentFile, load_experiment
from paychaos.invariants import REGISTRY
from paychaos.run import RunOptions, plan_run
from tests.conftest import ROOT
from tests.harness.report.conftest import FIXTURES

PAYSTACK = ROOT / "targets" / "paystack"
HELLO = FIXTURES / "passing-hello"
FAULT = "faults:\n  - {at: 5s, duration: 10s, link: gateway_bank, toxic: latency, latency: 300ms}\n"
GATE = "invariants:\n  - slo: {vs_baseline: {p99: 2x, error_rate: +1%}}\n"


def _file(tmp_path: Path, body: str) -> ExperimentFile:
    path = tmp_path / "x.yaml"
    path.write_text(f"name: t\ntarget: {{path: {PAYSTACK}}}\nload: {{users: 2, duration: 20s}}\n{body}")
    return load_experiment(path, invariants=REGISTRY)


def _slo(plan: object) -> dict[str, object]:
    return dict(next(c.params for c in plan.checks if c.name == "slo"))  # type: ignore[attr-defined]


def test_a_gate_without_a_baseline_is_refused_before_anything_starts(tmp_path: Path) -> None:
    file = _file(tmp_path, FAULT + GATE)
    out = tmp_path / "reports"
    with pytest.raises(InvalidInput) as refused:
        plan_run(file, RunOptions(out=out))
    assert str(refused.value) == (
        f"{file.path}:7:24: invariants[0].slo.vs_baseline: gates on a baseline, but this run has none; give "
        "--baseline RUN_DIR (e.g. the last release's run of this experiment), or write baseline: auto in the "
        "experiment (a run without the faults first)"
    )
    assert refused.value.exit_code == 2
    assert not out.exists()  # no run folder claimed


def test_baseline_auto_plans_a_run_without_faults_first(tmp_path: Path) -> None:
    file = _file(tmp_path, FAULT + GATE + "baseline: auto\n")
    plan = plan_run(file, RunOptions(out=tmp_path / "reports", quick=True))
    assert plan.baseline is not None
    assert (plan.baseline.auto, plan.baseline.path) == (True, None)
    assert "baseline" not in _slo(plan)  # not known until the baseline ran
    base = plan_run(file, RunOptions(out=tmp_path / "reports", quick=True, faults=False))
    assert base.experiment.faults == []
    assert base.experiment.load == plan.experiment.load
    assert base.experiment.seed == plan.experiment.seed
    assert base.baseline is None
    # A baseline is compared with none: an slo whose only limit was its gate has nothing left to check.
    assert [c.name for c in base.checks if c.name == "slo"] == []
    assert base.run_id.endswith("-t-baseline")
    assert base.rerun_command() == f"paychaos run {file.path} --quick --no-faults"
    later = plan.with_baseline(base.folder.path)
    assert later.baseline is not None
    assert later.baseline.auto
    assert _slo(later)["baseline"] == f"../{base.run_id}"  # relative to the run's folder
    assert _slo(later)["vs_baseline"] == {"p99": "2x", "error_rate": "+1%"}


def test_baseline_given_on_the_command_line_or_in_the_experiment(tmp_path: Path) -> None:
    file = _file(tmp_path, FAULT + GATE)
    plan = plan_run(file, RunOptions(out=tmp_path / "reports", baseline=HELLO))
    assert plan.baseline is not None
    assert (plan.baseline.auto, plan.baseline.path) == (False, HELLO)
    assert _slo(plan)["baseline"] == os.path.relpath(HELLO, plan.folder.path.resolve())
    assert plan.rerun_command().endswith(f"--baseline {HELLO}")
    written = _file(tmp_path, FAULT + GATE + f"baseline: {os.path.relpath(HELLO, tmp_path)}\n")
    plan = plan_run(written, RunOptions(out=tmp_path / "reports"))
    assert plan.baseline is not None
    assert plan.baseline.path is not None
    assert plan.baseline.path.resolve() == HELLO
    auto = plan_run(written, RunOptions(out=tmp_path / "reports", baseline="auto"))  # the command line wins
    assert auto.baseline is not None
    assert auto.baseline.auto
    plain = plan_run(_file(tmp_path, FAULT), RunOptions(out=tmp_path / "reports", baseline=HELLO))
    assert plain.baseline is not None
    assert plain.baseline.path == HELLO


def test_a_baseline_that_is_no_finished_run_is_refused(tmp_path: Path) -> None:
    file = _file(tmp_path, FAULT + GATE)
    out = tmp_path / "reports"
    with pytest.raises(InvalidInput, match=r"^--baseline: .* is no run folder: a run folder is what"):
        plan_run(file, RunOptions(out=out, baseline=tmp_path))
    (tmp_path / "died").mkdir()
    (tmp_path / "died" / "experiment.yaml").write_text("name: t\n")
    with pytest.raises(
        InvalidInput, match=r"^--baseline: .*died holds no results.json: the run never finished"
    ):
        plan_run(file, RunOptions(out=out, baseline=tmp_path / "died"))
    written = _file(tmp_path, FAULT + GATE + "baseline: no/such/run\n")
    with pytest.raises(InvalidInput, match=r"x.yaml:\d+:\d+: baseline: no such run folder: .*no/such/run"):
        plan_run(written, RunOptions(out=out))
    assert not out.exists()


def test_the_run_sets_the_slo_baseline_a_file_may_not(tmp_path: Path) -> None:
    # Refused when the file loads, so `paychaos validate` says it too.
    with pytest.raises(InvalidInput, match=r"x.yaml:\d+:\d+: invariants\[0\].slo.baseline: the run sets it"):
        _file(tmp_path, FAULT + "invariants:\n  - slo: {vs_baseline: {p99: 2x}, baseline: ../old}\n")


def test_a_baseline_run_keeps_an_slos_own_limits_without_its_gate(tmp_path: Path) -> None:
    both = "invariants:\n  - slo: {p99: 3s, vs_baseline: {p99: 2x}}\n"
    base = plan_run(_file(tmp_path, FAULT + both), RunOptions(out=tmp_path / "reports", faults=False))
    assert _slo(base) == {"p99": "3s"}


def test_no_faults_is_a_baseline_and_takes_none(tmp_path: Path) -> None:
    file = _file(tmp_path, FAULT + GATE)
    with pytest.raises(InvalidInput, match="--no-faults makes a baseline run, compared with none"):
        plan_run(file, RunOptions(out=tmp_path / "reports", baseline=HELLO, faults=False))
    plan = plan_run(file, RunOptions(out=tmp_path / "reports", faults=False))  # its gate goes with the faults
    assert plan.experiment.faults == []
    assert plan.baseline is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("invariants:\n  - slo: {vs_baseline: {p99: twice}}\n",
         "invariants[0].slo.vs_baseline.p99: a latency gate is a factor of the baseline's, e.g. 2x; got 'twice'"),
        ("invariants:\n  - slo: {vs_baseline: {}}\n", "invariants[0].slo.vs_baseline: vs_baseline gates p50"),
        ("baseline: ''\n", "baseline: "),
    ],
)  # fmt: skip
def test_a_gate_or_baseline_written_wrong_is_a_located_error(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _file(tmp_path, body)
    assert f"{tmp_path / 'x.yaml'}:" in str(refused.value)
    assert message in str(refused.value)
