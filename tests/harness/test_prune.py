"""paychaos prune: old run folders go, the newest and the running stay, nothing else is touched."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from paychaos._ownership import RunLock
from paychaos.cli import main
from paychaos.errors import InvalidInput
from paychaos.prune import human_size, leftovers, parse_age, prune, runs_in

NOW = float(int(time.time()))  # the fixture runs ended days before now, as the command's clock reads it
DAY = 86400.0


def _run(out: Path, name: str, *, days_ago: float | None, size: int = 1000, results: bool = True) -> Path:
    """A finished run folder: experiment.yaml, results.json (ended ``days_ago`` days before NOW) and a
    history of ``size`` bytes."""
    run = out / name
    (run / "history").mkdir(parents=True)
    (run / "experiment.yaml").write_text("name: x\n")
    (run / "history" / "load-1.jsonl").write_bytes(b"x" * size)
    if results and days_ago is not None:
        ended = NOW - days_ago * DAY
        (run / "results.json").write_text(json.dumps({"started_at": ended - 60, "ended_at": ended}))
    return run


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "reports"
    for name, days in [("20261101-100000-a", 30), ("20261120-100000-b", 12), ("20261126-100000-c", 6),
                       ("20261130-100000-d", 2), ("20261201-100000-e", 0.1)]:  # fmt: skip
        _run(out, name, days_ago=days, size=1_000_000)
    (out / "screenshots").mkdir()  # not a run: never touched
    (out / "screenshots" / "a.png").write_bytes(b"png")
    (out / "notes.txt").write_text("mine")
    (out / "empty-folder").mkdir()
    return out


def _left(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def test_keep_n_keeps_the_newest_runs_and_touches_nothing_else(out: Path) -> None:
    done = prune(out, keep=2, now=NOW)
    assert [(d.path.name, d.status) for d in done] == [
        ("20261126-100000-c", "removed"), ("20261120-100000-b", "removed"), ("20261101-100000-a", "removed")]  # fmt: skip
    assert all(d.size > 1_000_000 for d in done)
    assert _left(out) == [
        "20261130-100000-d",
        "20261201-100000-e",
        "empty-folder",
        "notes.txt",
        "screenshots",
    ]


def test_older_than_removes_only_older_runs_and_keep_protects_the_newest(out: Path) -> None:
    done = prune(out, older_than=parse_age("7d"), now=NOW)
    assert [d.path.name for d in done] == ["20261120-100000-b", "20261101-100000-a"]
    assert "20261126-100000-c" in _left(out)
    # both rules: a run goes only if neither keeps it
    assert [d.path.name for d in prune(out, keep=3, older_than=parse_age("1d"), now=NOW)] == []
    assert [d.path.name for d in prune(out, keep=1, older_than=parse_age("1d"), now=NOW)] == [
        "20261130-100000-d", "20261126-100000-c"]  # fmt: skip
    assert [p for p in _left(out) if p.startswith("2026")] == ["20261201-100000-e"]


def test_dry_run_lists_and_removes_nothing(out: Path) -> None:
    before = _left(out)
    done = prune(out, keep=0, dry_run=True, now=NOW)
    assert [d.status for d in done] == ["would remove"] * 5
    assert _left(out) == before


def test_a_running_run_is_left_alone(out: Path) -> None:
    running = out / "20261101-100000-a"
    with RunLock(running):  # another open file description: flock refuses it as it would another process
        done = prune(out, keep=0, now=NOW)
    left = {d.path.name: d for d in done}
    assert left["20261101-100000-a"].status == "left alone"
    assert left["20261101-100000-a"].reason == f"still running (pid {os.getpid()})"
    assert [p for p in _left(out) if p.startswith("2026")] == ["20261101-100000-a"]


def test_a_dead_run_that_left_faults_or_processes_is_left_for_heal(out: Path) -> None:
    faulty = out / "20261101-100000-a"
    applied = {"event": "applied", "id": "f2", "kind": "link", "action": "toxic", "target": "gateway_bank"}
    (faulty / "faults.jsonl").write_text(json.dumps(applied) + "\n" + '{"event": "applied", "id": "f3", "k')
    busy = out / "20261120-100000-b"
    me = {"role": "service", "name": "bank", "pid": os.getpid(), "created": psutil.Process().create_time()}
    (busy / "processes.jsonl").write_text(json.dumps(me) + "\n")
    compose = out / "20261126-100000-c"
    (compose / "processes.jsonl").write_text(
        json.dumps({"role": "compose", "name": "wp-1", "compose": "wp-1", "state": "up"}) + "\n")  # fmt: skip
    healed = out / "20261130-100000-d"  # its fault healed, its process gone, its project down: removable
    (healed / "faults.jsonl").write_text(
        json.dumps(applied) + "\n" + json.dumps({"event": "healed", "id": "f2"})
    )
    gone = {"role": "service", "name": "bank", "pid": 4_000_000, "created": 1.0}
    down = {"role": "compose", "name": "wp-2", "compose": "wp-2", "state": "down"}
    (healed / "processes.jsonl").write_text(json.dumps(gone) + "\n" + json.dumps({**down, "state": "up"}) + "\n"
                                            + json.dumps(down) + "\n")  # fmt: skip
    assert leftovers(faulty) == ["1 fault(s) not healed (f2)"]
    assert leftovers(busy) == [f"service bank running (pid {os.getpid()})"]
    assert leftovers(compose) == ["Compose project wp-1 up"]
    assert leftovers(healed) == []
    done = {d.path.name: d for d in prune(out, keep=1, now=NOW)}
    assert done["20261101-100000-a"].status == "left alone"
    assert (
        done["20261101-100000-a"].reason
        == f"it left 1 fault(s) not healed (f2): paychaos heal {faulty} first"
    )
    assert (done["20261120-100000-b"].status, done["20261126-100000-c"].status) == (
        "left alone",
        "left alone",
    )
    assert done["20261130-100000-d"].status == "removed"


def _links_to(run: Path, baseline: Path) -> None:
    """Record ``baseline`` as the run's baseline in its results.json, as a baseline run does."""
    results = json.loads((run / "results.json").read_text())
    results["baseline"] = {"run_dir": str(baseline), "link": os.path.relpath(baseline, run)}
    (run / "results.json").write_text(json.dumps(results))


def test_a_baseline_stays_while_a_run_that_links_to_it_stays(out: Path) -> None:
    _links_to(out / "20261201-100000-e", out / "20261101-100000-a")  # kept, links to the oldest
    _links_to(out / "20261126-100000-c", out / "20261120-100000-b")  # both go: so does its baseline
    done = {d.path.name: d for d in prune(out, keep=2, now=NOW)}
    assert (done["20261101-100000-a"].status, done["20261101-100000-a"].reason) == (
        "left alone",
        "the baseline of 20261201-100000-e, which stays",
    )
    assert done["20261120-100000-b"].status == done["20261126-100000-c"].status == "removed"
    assert [p for p in _left(out) if p.startswith("2026")] == [
        "20261101-100000-a", "20261130-100000-d", "20261201-100000-e"]  # fmt: skip


def test_the_baseline_of_a_run_left_alone_stays_too(out: Path) -> None:
    _links_to(out / "20261120-100000-b", out / "20261101-100000-a")
    with RunLock(out / "20261120-100000-b"):
        done = {d.path.name: d for d in prune(out, keep=0, now=NOW)}
    assert done["20261120-100000-b"].status == "left alone"
    assert done["20261101-100000-a"].reason == "the baseline of 20261120-100000-b, which stays"
    # Unlocked, a dry run says what would happen: the run would go, and its baseline with it.
    assert {d.path.name: d.status for d in prune(out, keep=0, dry_run=True, now=NOW)} == {
        "20261120-100000-b": "would remove", "20261101-100000-a": "would remove"}  # fmt: skip


def test_runs_are_dated_by_results_else_their_run_id_else_their_files(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    _run(out, "20261122-101500-interrupted", days_ago=None)  # killed before results.json: its id's stamp
    copied = _run(out, "copied", days_ago=1)  # results.json says when, whatever its files' times say
    bare = _run(out, "bare", days_ago=None)  # neither: its newest file
    os.utime(bare / "experiment.yaml", (NOW - 3 * DAY, NOW - 3 * DAY))
    os.utime(bare / "history", (NOW - 5 * DAY, NOW - 5 * DAY))
    when = {r.path.name: r.when for r in runs_in(out)}
    assert when["20261122-101500-interrupted"] == datetime(2026, 11, 22, 10, 15).timestamp()
    assert when["copied"] == NOW - DAY
    assert when["bare"] == NOW - 3 * DAY
    assert copied.stat().st_mtime > NOW - DAY  # its files are new: the results date it


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * DAY), ("36h", 36 * 3600.0), ("2w", 14 * DAY), ("1d12h", 1.5 * DAY), ("90m", 5400.0),
     ("0.5d", DAY / 2), (" 3 D ", 3 * DAY)],
)  # fmt: skip
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "7 days", "-1d", "1y"])
def test_ages_that_are_none(text: str) -> None:
    with pytest.raises(ValueError, match="invalid age"):
        parse_age(text)


def test_sizes_read_as_du_si() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 812_400_000, 3_100_000_000)] == [
        "0 B", "999 B", "1.0 kB", "812.4 MB", "3.1 GB"]  # fmt: skip


def test_prune_needs_a_rule_and_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="say which runs to remove"):
        prune(tmp_path)
    with pytest.raises(InvalidInput, match="no such folder"):
        prune(tmp_path / "nowhere", keep=1)
    with pytest.raises(InvalidInput, match="--keep -1"):
        prune(tmp_path, keep=-1)


def test_the_command_prints_what_it_removed_and_the_space_freed(
    out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prune", "--out", str(out), "--keep", "3", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"would remove  {out / '20261120-100000-b'}  (")
    assert lines[0].endswith(", 1.0 MB)")
    assert lines[-1] == "would remove 2 run(s) and free 2.0 MB (dry run: nothing removed)"
    assert len([p for p in _left(out) if p.startswith("2026")]) == 5

    with RunLock(out / "20261101-100000-a"):
        assert main(["prune", "--out", str(out), "--older-than", "7d"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"removed       {out / '20261120-100000-b'}  (")
    assert lines[1].startswith(f"left alone    {out / '20261101-100000-a'}  (")
    assert lines[1].endswith(f"1.0 MB): still running (pid {os.getpid()})")
    assert lines[2] == "removed 1 run(s), freed 1.0 MB; 1 left alone"

    assert main(["prune", "--out", str(out), "--keep", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines[:-1]] == ["removed"] * 3
    assert lines[-1] == "removed 3 run(s), freed 3.0 MB"
    assert _left(out) == ["20261201-100000-e", "empty-folder", "notes.txt", "screenshots"]


@pytest.mark.parametrize(
    ("args", "message"),
    [((), "say which runs to remove: --keep N"), (("--older-than", "soon"), "--older-than: invalid age 'soon'"),
     (("--keep", "2", "--out", "nowhere"), "nowhere: no such folder")],
)  # fmt: skip
def test_prune_mistakes_exit_2(
    args: tuple[str, ...],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out, reports/, is relative
    (tmp_path / "reports").mkdir()
    assert main(["prune", *args]) == 2
    assert message in capsys.readouterr().err


def test_the_newest_run_stays_even_when_every_run_is_old(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    for i in range(3):
        _run(out, f"run-{i}", days_ago=100 + i)
    assert [d.path.name for d in prune(out, keep=1, older_than=DAY, now=time.time())] == ["run-1", "run-2"]
