"""rebuild: report.html and junit.xml again from a run folder, even one whose run never wrote results.json."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from paychaos.errors import InvalidInput
from paychaos.report import rebuild, validate_results
from tests.harness.report.test_html import charts_of


def _junit_counts(path: Path) -> tuple[int, int, int]:
    root = ET.parse(path).getroot()
    return int(root.get("tests", -1)), int(root.get("failures", -1)), int(root.get("errors", -1))


def test_a_finished_run_is_rebuilt_from_its_results(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-retry-new-key")
    results = rebuild(run)
    assert results == json.loads((run / "results.json").read_text())
    assert (run / "report.html").is_file()
    assert _junit_counts(run / "junit.xml") == (5, 2, 0)
    report = [p for p in ET.parse(run / "junit.xml").iter("property") if p.get("name") == "report"]
    assert report[0].get("value") == str(run / "report.html")
    assert sorted(p.name for p in run.iterdir()) == [
        "experiment.yaml", "faults.jsonl", "history", "junit.xml", "load.json", "report.html", "results.json",
    ]  # fmt: skip


def test_a_run_that_crashed_before_writing_results_is_rebuilt_as_interrupted(
    sample_run: Callable[[str], Path],
) -> None:
    run = sample_run("failing-drop-on-overload")
    expected = json.loads((run / "results.json").read_text())
    (run / "results.json").unlink()
    results = rebuild(run)
    validate_results(results)  # the rebuilt structure is a results.json like any other
    assert not (run / "results.json").exists()  # never written: the run did not say this
    assert (results["status"], results["verdict"], results["exit_code"]) == (
        "interrupted",
        "interrupted",
        130,
    )
    assert results["error"].startswith("results.json is missing; report rebuilt from the history")
    assert results["invariants"] == []
    assert results["experiment"]["name"] == "peak-overload"
    assert results["experiment"]["seed"] == 2110
    assert results["experiment"]["description"].startswith("Didi, 21 October")
    assert results["target"] == {"name": "paystack", "defects": []}
    assert results["load_started_at"] == expected["load_started_at"]  # the start marker
    assert results["load"]["operations"] == 937 - 1  # the fixture's lines, the start marker aside
    assert results["started_at"] <= results["load_started_at"] < results["ended_at"]
    assert results["ended_at"] >= max(f["healed_at"] for f in results["faults"]) + results["load_started_at"]
    # the faults come from the journal, on the load's clock
    faults = {f["id"]: f for f in results["faults"]}
    assert sorted(faults) == ["f1", "f2", "f3"]
    assert faults["f2"]["label"] == "gateway_bank: toxic reset_peer"
    assert faults["f2"]["applied_at"] == pytest.approx(4.07, abs=0.01)
    assert faults["f2"]["healed_at"] == pytest.approx(10.08, abs=0.01)

    html = (run / "report.html").read_text()
    assert '<header class="verdict interrupted" id="verdict">' in html
    assert '<section class="notes rebuilt" id="notes">' in html
    assert "results.json is missing: the run stopped before writing its results" in html
    assert "No invariant was checked" in html
    assert (
        len(charts_of(html)["timeline"]["layout"]["shapes"]) >= 6
    )  # three fault windows, each with its edge

    root = ET.parse(run / "junit.xml").getroot()
    assert _junit_counts(run / "junit.xml") == (1, 0, 1)
    (case,) = root.iter("testcase")
    assert case.get("name") == "run"
    assert case.find("error").get("type") == "interrupted"  # type: ignore[union-attr]


def test_a_copied_run_folder_is_dated_by_what_happened_in_it(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("passing-hello")
    (run / "results.json").unlink()
    (run / "experiment.yaml").touch()  # copied now, long after the run
    results = rebuild(run)
    assert results["started_at"] == results["load_started_at"] == 1795309717.2201128
    assert results["ended_at"] > results["started_at"] + 10


def test_a_torn_results_file_counts_as_missing(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("passing-hello")
    (run / "results.json").write_text('{"schema_version": 1, "run_id": "2026')
    results = rebuild(run)
    assert results["status"] == "interrupted"
    assert results["error"].startswith("results.json is unreadable (JSONDecodeError")


def test_faults_left_in_place_are_called_out(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-retry-new-key")
    journal = run / "faults.jsonl"
    journal.write_text(
        "".join(line + "\n" for line in journal.read_text().splitlines() if '"healed"' not in line)
    )
    rebuild(run)
    html = (run / "report.html").read_text()
    assert "faults applied and never healed: f1 (gateway_bank: latency)" in html
    assert f"<code>paychaos heal {run}</code>" in html


def test_a_crash_before_any_load_still_gives_a_report(tmp_path: Path) -> None:
    run = tmp_path / "20261122-010000-hello"
    run.mkdir()
    (run / "experiment.yaml").write_text(
        "name: hello\ndescription: just a story\ntarget: {path: ../targets/paystack}\n"
    )
    results = rebuild(run)
    validate_results(results)
    assert results["load_started_at"] is None
    assert results["faults"] == []
    assert "No client operation was recorded" in (run / "report.html").read_text()


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such run folder"):
        rebuild(tmp_path / "missing")
