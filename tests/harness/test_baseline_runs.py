"""Baselines end to end on the sample stack: ``baseline: auto`` makes two run folders, the slo's
vs_baseline gate fails a run slower than its baseline with a located message, results.json and the
report hold the comparison, and ``paychaos compare`` works on the two real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from paychaos.report import validate_results
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAYCHAOS = [sys.executable, "-m", "paychaos.cli"]
# hello, with a gate: p99 at most twice the baseline's in every phase. The fault adds 300 ms to each
# payment's trip to the bank, so the fault phase's p99 is many times the baseline's: violated there.
GATED = """name: hello-gate
seed: 42
target: {{path: {target}}}
load: {{users: 10, duration: 20s}}
faults:
  - {{at: 5s, duration: 10s, link: gateway_bank, toxic: latency, latency: 300ms}}
invariants:
  - slo: {{vs_baseline: {{p99: 2x, error_rate: +1%}}}}
baseline: auto
quick: {{scale: 0.5, settle: 30s}}
"""


def _paychaos(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAYCHAOS, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One `paychaos run` of the gated experiment with baseline: auto (two runs: ~1 min)."""
    folder = tmp_path_factory.mktemp("baseline")
    experiment = folder / "hello-gate.yaml"
    experiment.write_text(GATED.format(target=ROOT / "targets" / "paystack"))
    result = _paychaos("run", str(experiment), "--quick", "--quiet", "--out", str(folder / "reports"))
    return result, folder / "reports"


def _results(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "results.json").read_text())
    return data


def test_baseline_auto_runs_the_experiment_without_faults_first_in_a_folder_of_its_own(
    gated: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, reports = gated
    runs = sorted(p for p in reports.iterdir() if p.is_dir())
    assert len(runs) == 2, result.stdout + result.stderr
    (base,) = [p for p in runs if p.name.endswith("-hello-gate-baseline")]
    (run,) = [p for p in runs if p.name.endswith("-hello-gate")]
    baseline, results = _results(base), _results(run)
    validate_results(baseline)
    validate_results(results)
    assert baseline["faults"] == []
    assert baseline["load_started_at"] is not None
    assert baseline["command"].endswith("--quick --no-faults")
    assert baseline["baseline"] is None
    assert baseline["experiment"]["seed"] == results["experiment"]["seed"]
    assert (base / "report.html").is_file()
    assert baseline["started_at"] < results["started_at"]  # first
    record = results["baseline"]
    assert (record["run_dir"], record["link"], record["auto"]) == (str(base), f"../{base.name}", True)
    assert (record["faults"], record["split"], record["verdict"]) == (
        0,
        "this run's faults",
        baseline["verdict"],
    )
    assert [p["phase"] for p in record["phases"]] == ["steady", "fault", "recovery", "all"]
    assert "baseline: the experiment without its faults first (same load, same seed)" in result.stdout
    assert f"baseline: {base} (" in result.stdout
    assert f"paychaos compare {base} {run}" in result.stdout


def test_the_gate_fails_a_run_slower_than_its_baseline_naming_the_phase_and_both_numbers(
    gated: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, reports = gated
    assert result.returncode == 1, result.stdout + result.stderr
    (run,) = [p for p in reports.iterdir() if p.name.endswith("-hello-gate")]
    results = _results(run)
    slo = next(v for v in results["invariants"] if v["invariant"] == "slo")
    assert slo["status"] == "violated", slo
    assert slo["params"]["vs_baseline"] == {"p50": None, "p95": None, "p99": 2.0, "error_rate": 0.01}
    assert slo["params"]["baseline"] == results["baseline"]["link"]
    fault = next(e for e in slo["examples"] if e["phase"] == "fault")
    assert (fault["metric"], fault["gate"]) == ("p99", "2x")
    assert fault["value"] > fault["limit"] == pytest.approx(2 * fault["baseline"])
    assert fault["value"] > 0.3  # every payment in the fault phase waited on the slowed bank
    said = f"fault: p99 {fault['value'] * 1000:.1f} ms vs the baseline's {fault['baseline'] * 1000:.1f} ms"
    assert said in slo["reason"]
    assert said in result.stdout  # the progress line says it too
    # the figures the gate held the run to are the comparison's (the slo's exact percentiles, in SQL)
    recorded = {p["phase"]: p for p in results["baseline"]["phases"]}
    for row in slo["details"]["phases"]:
        mine = recorded[row["phase"]]["run"]
        assert mine["operations"] == row["operations"]
        for metric in ("error_rate", "p50", "p95", "p99"):
            assert mine[metric] == pytest.approx(row[metric], abs=2e-6), (row["phase"], metric)
    for row in slo["details"]["baseline"]["phases"]:
        theirs = recorded[row["phase"]]["baseline"]
        assert (theirs["operations"], theirs["p99"]) == (row["operations"], row["p99"])


def test_the_report_shows_the_comparison(gated: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, reports = gated
    (run,) = [p for p in reports.iterdir() if p.name.endswith("-hello-gate")]
    page = (run / "report.html").read_text()
    assert 'id="baseline-section"' in page
    assert 'data-phase="fault" data-metric="p99" data-over="true"' in page


def test_compare_works_on_the_two_real_runs(gated: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, reports = gated
    (base,) = [p for p in reports.iterdir() if p.name.endswith("-baseline")]
    (run,) = [p for p in reports.iterdir() if p.name.endswith("-hello-gate")]
    shown = _paychaos("compare", str(base), str(run), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"A {base}  hello-gate, " in shown.stdout
    assert "no faults; split at the other run's fault times" in shown.stdout
    assert f"B {run}  hello-gate, FAILED, 1 fault(s)" in shown.stdout
    assert "slo" in shown.stdout
    assert "VIOLATED" in shown.stdout
    printed = _paychaos("compare", str(base), str(run), "--json", timeout=60)
    assert printed.returncode == 0, printed.stderr
    data = json.loads(printed.stdout)
    assert (data["a"]["split"], data["b"]["split"]) == ("the other run's faults", "own faults")
    fault = next(p for p in data["phases"] if p["phase"] == "fault")
    assert fault["ratio"]["p99"] > 2
    assert fault["a"]["operations"] > 0
    assert fault["b"]["operations"] > 0
    assert data["notes"] == []  # the same experiment, seed, profile and defects
    recorded = _results(run)["baseline"]["phases"]
    assert [p["b"] for p in data["phases"]] == [p["run"] for p in recorded]
