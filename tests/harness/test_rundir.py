"""RunDir: a run folder's layout, one name per file, and its readers. No sockets, no processes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from paychaos._ownership import LOCK_NAME, PROCESSES_NAME
from paychaos.faults import JOURNAL_NAME
from paychaos.rundir import RunDir


def test_every_file_a_run_writes_has_one_name_and_a_path_under_the_run_folder(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "20261122-101500-hello")
    expected = {
        run.experiment: "experiment.yaml", run.load_spec: "load.json", run.locust_log: "locust.log",
        run.history: "history", run.faults: "faults.jsonl", run.processes: "processes.jsonl",
        run.lock: ".lock", run.logs: "logs", run.results: "results.json", run.report: "report.html",
        run.junit: "junit.xml", run.harness_error: "harness-error.txt", run.evidence: "evidence",
        run.evidence_partial: "evidence.partial", run.evidence_error: "evidence-error.txt",
    }  # fmt: skip
    for path, name in expected.items():
        assert path == run.path / name
    assert run.manifest == run.path / "evidence" / "manifest.json"
    assert run.evidence_table("debits") == run.path / "evidence" / "debits.csv.gz"
    assert run.run_id == "20261122-101500-hello"


def test_the_names_other_modules_still_define_are_the_same() -> None:
    # Until the fault journal and the ownership ledger name their files through RunDir.
    assert (RunDir.FAULTS, RunDir.LOCK, RunDir.PROCESSES) == (JOURNAL_NAME, LOCK_NAME, PROCESSES_NAME)


def test_it_is_a_path_like_value(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert os.fspath(run) == str(tmp_path) == str(run)
    assert Path(run) == tmp_path
    assert run == RunDir(str(tmp_path))
    assert len({run, RunDir(tmp_path)}) == 1
    assert run != tmp_path
    assert repr(run) == f"RunDir({str(tmp_path)!r})"


def test_read_results(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    with pytest.raises(FileNotFoundError):
        run.read_results()
    run.results.write_text('{"verdict": "held", "exit_code": 0}')
    assert run.read_results() == {"verdict": "held", "exit_code": 0}
    run.results.write_text('{"verdict": ')
    with pytest.raises(json.JSONDecodeError):
        run.read_results()
    run.results.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        run.read_results()


def test_read_journal_skips_a_torn_last_line_and_is_empty_without_a_journal(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.read_journal() == []
    applied = {"event": "applied", "id": "f1", "kind": "toxic", "target": "gateway_bank", "action": "latency"}
    run.faults.write_text(json.dumps(applied) + "\n" + '{"event": "hea')
    assert run.read_journal() == [applied]


def test_read_history_reads_every_process_file_and_skips_markers(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert list(run.read_history()) == []
    run.history.mkdir()
    (run.history / "load-1.jsonl").write_text(
        json.dumps({"event": "started", "at": 1.0}) + "\n" + json.dumps({"id": "a", "kind": "pay"}) + "\n"
    )
    (run.history / "load-2.jsonl").write_text(json.dumps({"id": "b", "kind": "refund"}) + "\n{torn")
    assert [op["id"] for op in run.read_history()] == ["a", "b"]
