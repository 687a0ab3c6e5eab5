"""`paychaos run` end to end against the sample stack: verdicts, evidence, interruption, guards, failures."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from paychaos.faults import read_journal
from paychaos.invariants import (
    Check,
    Evidence,
    EvidenceStore,
    InvariantDef,
    RunWindow,
    Verdict,
    check_one,
    defaults,
)
from paychaos.load import read_history
from paychaos.postgres import Server
from paychaos.report import validate_results
from paychaos.system import load_target
from tests.conftest import ROOT
from tests.support.db import query
from tests.support.wait import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAYCHAOS = [sys.executable, "-m", "paychaos.cli"]


def _experiment(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(f"target: {{path: {ROOT / 'targets' / 'paystack'}}}\n" + body)
    return path


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAYCHAOS, "run", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False
    )


def _results(out: Path) -> tuple[Path, dict[str, Any]]:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir, json.loads((run_dir / "results.json").read_text())


def test_hello_holds_and_the_latency_shows_in_the_history(tmp_path: Path) -> None:
    result = _run(str(ROOT / "experiments" / "hello.yaml"), "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir, results = _results(tmp_path)
    checked = len(defaults(set(load_target(ROOT / "targets" / "paystack").evidence.tables)))
    assert len(results["invariants"]) == checked  # every default invariant, none named in hello.yaml
    assert f"PASSED hello: {checked} invariant(s) held" in result.stdout
    validate_results(results)
    assert (results["status"], results["verdict"], results["exit_code"]) == ("completed", "held", 0)
    assert [p["name"] for p in results["phases"]] == [
        "prepare", "target up", "steady state", "load", "heal", "settle", "verify", "report"]  # fmt: skip
    assert results["backend"]["kind"] == "embedded"
    assert {v["status"] for v in results["invariants"]} == {"holds"}
    fault = results["faults"][0]
    t0 = results["load_started_at"]
    window = (t0 + fault["applied_at"], t0 + fault["healed_at"])
    pays = [op for op in read_history(run_dir / "history") if op["kind"] == "pay" and op["outcome"] == "ok"]
    during = [op["end"] - op["start"] for op in pays if window[0] + 0.5 < op["start"] < window[1] - 1]
    before = [op["end"] - op["start"] for op in pays if op["end"] < window[0]]
    assert during
    assert before
    assert min(during) >= 0.3  # every payment while the bank link was slow took the added 300 ms
    assert sorted(before)[len(before) // 2] < 0.3
    events = [e["event"] for e in read_journal(run_dir / "faults.jsonl")]
    assert events == ["applied", "healed"]
    for name in ("experiment.yaml", "load.json", "locust.log", "logs/gateway.log", "logs/postgres.log", "report.html",
                 "junit.xml"):  # fmt: skip
        assert (run_dir / name).exists(), name


def test_ctrl_c_heals_stops_everything_keeps_the_evidence_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen([*PAYCHAOS, "run", str(ROOT / "experiments" / "hello.yaml"), "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)  # fmt: skip
    journal = wait_until(
        lambda: next(iter(tmp_path.glob("*/faults.jsonl")), None), timeout=120, what="a fault"
    )
    wait_until(lambda: any(e["event"] == "applied" for e in read_journal(journal)), timeout=60)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 7  # services, PostgreSQL, the proxy, Locust
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "INTERRUPTED hello" in output
    run_dir, results = _results(tmp_path)
    assert results["status"] == "interrupted"
    assert [e["event"] for e in read_journal(run_dir / "faults.jsonl")] == ["applied", "healed"]
    assert list(read_history(run_dir / "history"))  # what was gathered is kept
    wait_until(
        lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), timeout=20
    )


def test_a_tripped_guard_stops_injection_and_the_run_still_verifies(tmp_path: Path) -> None:
    experiment = _experiment(
        tmp_path,
        """
name: guarded
load: {users: 5, duration: 9s, scenarios: {pay: 1}}
faults:
  - {at: 2s, duration: 6s, link: gateway_bank, toxic: latency, latency: 400ms}
guards:
  - {metric: p99, above: 200ms, for: 1s}
invariants: [exactly_once_debit, conservation]
""",
    )
    result = _run(str(experiment), "--out", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stdout + result.stderr
    _, results = _results(tmp_path / "runs")
    assert results["status"] == "aborted"
    guard = results["guard"]
    assert guard["metric"] == "p99"
    assert guard["value"] > 0.2
    fault = results["faults"][0]
    assert fault["healed_at"] < 2 + 6 - 1  # healed when the guard tripped, not at the end of its window
    assert fault["healed_at"] == pytest.approx(guard["at"], abs=0.5)
    assert {v["status"] for v in results["invariants"]} == {"holds"}


def test_an_invalid_experiment_exits_2_and_runs_nothing(tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, "name: broken\nload: {users: 5, duratoin: 10s}\n")
    result = _run(str(experiment), "--out", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert "unknown key 'duratoin'" in result.stderr
    assert "did you mean 'duration'?" in result.stderr
    assert not (tmp_path / "runs").exists()
    unknown = _run(
        str(ROOT / "experiments" / "hello.yaml"), "--defect", "no-reconcilr", "--out", str(tmp_path / "runs")
    )
    assert unknown.returncode == 2
    assert "unknown defect 'no-reconcilr' for target 'paystack'" in unknown.stderr


def test_infrastructure_that_is_not_there_exits_3_with_the_reason_recorded(tmp_path: Path) -> None:
    started = time.monotonic()
    result = _run(
        str(ROOT / "experiments" / "hello.yaml"), "--toxiproxy", "http://127.0.0.1:1", "--out", str(tmp_path)
    )
    assert result.returncode == 3
    assert "the Toxiproxy at http://127.0.0.1:1 (from --toxiproxy) does not answer" in result.stdout
    _, results = _results(tmp_path)
    assert (results["status"], results["verdict"]) == ("error", "error")
    assert time.monotonic() - started < 60


def test_a_run_on_an_existing_server_leaves_no_database_behind(postgres: Server, tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, "name: external\nload: {users: 3, duration: 3s, scenarios: {pay: 1}}\n"
                             "invariants: [exactly_once_debit, conservation]\n")  # fmt: skip
    before = _databases(postgres)
    result = _run(str(experiment), "--db", postgres.dsn("postgres"), "--out", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _databases(postgres) == before


def test_a_run_that_did_not_exercise_what_it_requires_exits_3_never_0(tmp_path: Path) -> None:
    experiment = _experiment(
        tmp_path,
        """
name: unexercised
load: {users: 3, duration: 3s, scenarios: {pay: 1}}
exclude: {no_double_payout: this load sends no payouts}
coverage: {voids: 1, declines: 1}
""",
    )  # no fault: nothing ever makes the stack void a payment
    result = _run(str(experiment), "--out", str(tmp_path / "runs"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert (
        "NOT EXERCISED unexercised: did not exercise what the experiment requires: voids = 0, required >= 1."
        in (result.stdout)
    )
    run_dir, results = _results(tmp_path / "runs")
    validate_results(results)
    assert (results["status"], results["verdict"], results["exit_code"]) == ("completed", "not exercised", 3)
    names = [v["invariant"] for v in results["invariants"]]
    assert "no_double_payout" not in names
    assert "webhook_authenticity" in names
    assert {v["status"] for v in results["invariants"]} == {"holds"}
    counts = {c["name"]: c for c in results["coverage"]}
    assert (counts["voids"]["value"], counts["voids"]["met"]) == (0, False)
    assert counts["declines"]["value"] > 0  # the target's failure paths run in every experiment
    assert counts["declines"]["met"] is True
    assert counts["forged_requests"]["value"] > 0
    assert 'name="coverage"' in (run_dir / "junit.xml").read_text()
    assert 'type="not_exercised"' in (run_dir / "junit.xml").read_text()
    assert 'data-counter="voids" data-met="False"' in (run_dir / "report.html").read_text()


def _databases(server: Server) -> set[str]:
    return {r["datname"] for r in query(server.dsn("postgres"), "SELECT datname FROM pg_database")}


def test_a_python_invariant_that_calls_exit_0_makes_the_run_exit_3_not_pass(tmp_path: Path) -> None:
    experiment = _experiment(
        tmp_path,
        """
name: exits-zero
load: {users: 3, duration: 3s, scenarios: {pay: 1}}
invariants:
  - python: {function: "tests.harness.invariants.hostile_checks:exits_0"}
""",
    )
    result = _run(str(experiment), "--quick", "--out", str(tmp_path / "runs"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ERROR exits-zero: could not check: python: tests.harness.invariants.hostile_checks:exits_0" in (
        result.stdout
    )
    run_dir, results = _results(tmp_path / "runs")
    validate_results(results)
    assert (results["status"], results["verdict"], results["exit_code"]) == ("completed", "error", 3)
    *defaults_, python = results["invariants"]
    assert {v["status"] for v in defaults_} == {"holds"}
    assert (python["status"], python["params"]["timeout"]) == ("could_not_check", "120s")
    assert python["reason"].startswith("the invariant's code called exit(0)")
    assert (run_dir / "report.html").exists()
    assert (run_dir / "junit.xml").exists()


def test_sigterm_during_a_python_invariant_kills_it_and_still_writes_the_results(tmp_path: Path) -> None:
    started = tmp_path / "started.pid"
    experiment = _experiment(
        tmp_path,
        f"""
name: loops
load: {{users: 3, duration: 3s, scenarios: {{pay: 1}}}}
invariants:
  - python: {{function: "tests.harness.invariants.hostile_checks:loops", params: {{started: "{started}"}}}}
""",
    )
    proc = subprocess.Popen([*PAYCHAOS, "run", str(experiment), "--quick", "--out", str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)  # fmt: skip
    child = int(
        wait_until(lambda: started.exists() and started.read_text(), timeout=180, what="the invariant")
    )
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    run_dir, results = _results(tmp_path / "runs")
    validate_results(results)
    assert (results["status"], results["exit_code"]) == ("interrupted", 130)
    # Every invariant it was to check has a verdict saying why it has none.
    checked = len(defaults(set(load_target(ROOT / "targets" / "paystack").evidence.tables))) + 1
    assert len(results["invariants"]) == checked
    never = "never checked: interrupted (Ctrl-C or SIGTERM); every fault healed, everything stopped"
    assert {(v["status"], v["reason"]) for v in results["invariants"]} == {("could_not_check", never)}
    assert (run_dir / "report.html").exists()


def test_a_check_that_calls_exit_is_could_not_check_but_ctrl_c_still_stops(tmp_path: Path) -> None:
    def ends(error: BaseException) -> InvariantDef:
        def check(evidence: Evidence, params: object) -> Verdict:
            raise error

        return InvariantDef("ends", "raises what it is given", check)

    store = EvidenceStore(load_target(ROOT / "targets" / "paystack"), evidence_dsn="postgresql://unused",
                          source_dsn=str, service_url=str, run_dir=tmp_path)  # fmt: skip
    evidence = Evidence(store, RunWindow(0, 0, 0), str)
    spec = Check("ends")
    verdict = check_one(spec, evidence, ends(SystemExit(0)))
    assert (verdict.status, verdict.reason) == ("could_not_check", "internal error: called exit(0)")
    verdict = check_one(spec, evidence, ends(GeneratorExit("closed")))
    assert (verdict.status, verdict.reason) == ("could_not_check", "internal error: GeneratorExit: closed")
    with pytest.raises(KeyboardInterrupt):
        check_one(spec, evidence, ends(KeyboardInterrupt()))


def test_two_runs_at_once_keep_their_faults_for_their_full_duration(tmp_path: Path) -> None:
    """The second run's prepare step and a plain `paychaos heal` both see the first run's folder,
    with its toxic in place: neither may touch it while the first run lives."""
    out = tmp_path / "reports"  # where a plain `paychaos heal` looks
    first = _experiment(tmp_path, "name: first\nload: {users: 4, duration: 24s, scenarios: {pay: 1}}\n"
                        "faults: [{at: 1s, duration: 20s, link: gateway_bank, toxic: latency, latency: 300ms}]\n"
                        "exclude: {no_double_payout: this load sends no payouts}\n")  # fmt: skip
    second = tmp_path / "second.yaml"
    second.write_text(first.read_text().replace("name: first", "name: second").split("faults:")[0]
                      .replace("duration: 24s", "duration: 2s") + "exclude: {no_double_payout: no payouts}\n")  # fmt: skip
    proc = subprocess.Popen([*PAYCHAOS, "run", str(first), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)  # fmt: skip
    journal = wait_until(
        lambda: next(iter(out.glob("*-first/faults.jsonl")), None), timeout=120, what="a run"
    )
    wait_until(
        lambda: any(e["event"] == "applied" for e in read_journal(journal)), timeout=60, what="a fault"
    )
    named = subprocess.run([*PAYCHAOS, "heal", str(journal.parent)], capture_output=True, text=True,
                           cwd=ROOT, timeout=60, check=False)  # fmt: skip
    assert named.returncode == 2, named.stdout + named.stderr
    assert "still running" in named.stderr
    plain = subprocess.run([*PAYCHAOS, "heal"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                           check=False)  # fmt: skip
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "left alone" in plain.stdout
    other = _run(str(second), "--out", str(out))
    assert other.returncode == 0, other.stdout + other.stderr
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, output
    events = read_journal(journal)
    assert [e["event"] for e in events] == ["applied", "healed"]
    assert "by" not in events[1]  # healed by the run itself, at its end, by nobody else
    results = json.loads((journal.parent / "results.json").read_text())
    fault = results["faults"][0]
    # All twenty seconds, not cut short by the other run or the heal (times are when apply and heal
    # returned, so the toxic's API call can take a little off).
    assert fault["healed_at"] - fault["applied_at"] >= 19.5
