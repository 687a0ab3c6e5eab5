"""`paychaos verify`: a run's verdicts recomputed from its folder alone, after its stack is gone.

End to end: real runs of the sample stack, then `paychaos verify` on their folders (a correct run
matches, a violated one matches, planted rows and edited verdicts are DIFFERS, exit 3). Then the
evidence store's save and the replay without a stack, over planted rows.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest

from paychaos.invariants import Evidence, EvidenceStore, RunWindow, replay_run
from paychaos.invariants._checking import Check, check_one
from paychaos.invariants._coverage import Count
from paychaos.invariants._saved import sha256
from paychaos.invariants._store import Limits, create_tables
from paychaos.postgres import Server
from paychaos.report._run import load_run
from paychaos.rundir import RunDir
from paychaos.system import load_target
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration]

PAYCHAOS = [sys.executable, "-m", "paychaos.cli"]
PAYSTACK = ROOT / "targets" / "paystack"


def _paychaos(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAYCHAOS, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False
    )


def _run(out: Path, *args: str) -> RunDir:
    result = _paychaos("run", *args, "--quick", "--quiet", "--out", str(out))
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return RunDir(run_dir)


def _verify(run: RunDir | Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _paychaos("verify", str(run), *args, timeout=120)


def _copy(run: RunDir, to: Path) -> RunDir:
    shutil.copytree(run.path, to / run.run_id)
    return RunDir(to / run.run_id)


def _gone(run: RunDir) -> None:
    """Everything the run started (its PostgreSQL, services, proxy, Locust) has stopped."""
    for line in run.processes.read_text().splitlines():
        record = json.loads(line)
        try:
            alive = abs(psutil.Process(record["pid"]).create_time() - record["created"]) < 1
        except psutil.NoSuchProcess:
            alive = False
        assert not alive, record


def _rows(table: Path) -> list[dict[str, str]]:
    with gzip.open(table, "rt", newline="") as text:
        return list(csv.DictReader(text))


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    return _run(tmp_path_factory.mktemp("hello"), str(ROOT / "experiments" / "hello.yaml"))


# -- end to end ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_finished_run_verifies_from_its_folder_alone(hello: RunDir, tmp_path: Path) -> None:
    _gone(hello)
    results = hello.read_results()
    assert results["exit_code"] == 0
    manifest = json.loads(hello.manifest.read_text())
    assert set(manifest["tables"]) >= {"debits", "payments", "history", "faults"}
    for name, saved in manifest["tables"].items():
        assert sha256(hello.evidence_table(name)) == saved["sha256"]
    assert [(i["invariant"], i["status"]) for i in manifest["invariants"]] == [
        (v["invariant"], v["status"]) for v in results["invariants"]
    ]
    assert manifest["coverage"] == results["coverage"]

    result = _verify(hello, "--json", str(tmp_path / "verify.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"VERIFIED {hello.run_id}: {len(results['invariants'])} verdict(s)" in result.stdout
    checked = json.loads((tmp_path / "verify.json").read_text())
    assert checked["differences"] == []
    assert [(c["invariant"], c["recomputed"]["status"], c["recomputed"]["count"]) for c in checked["invariants"]] == [
        (v["invariant"], v["status"], v["count"]) for v in results["invariants"]
    ]  # fmt: skip
    assert {c["outcome"] for c in checked["invariants"]} == {"matches"}


@pytest.mark.slow
def test_planted_rows_and_an_edited_verdict_are_flagged_exit_3(hello: RunDir, tmp_path: Path) -> None:
    run = _copy(hello, tmp_path)
    table = run.evidence_table("debits")
    rows, refunded = _rows(table), {r["debit_key"] for r in _rows(run.evidence_table("refunds"))}
    posted = next(r for r in rows if r["posted"] == "t" and r["key"] not in refunded)
    twice = {**posted, "key": posted["key"] + "-planted"}  # the same order debited a second time
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows([*rows, twice])
    table.write_bytes(gzip.compress(out.getvalue().encode()))

    result = _verify(run)
    assert result.returncode == 3, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("exactly_once_debit"))
    assert line.split()[1:] == ["recorded", "holds", "recomputed", "VIOLATED", "(1)", "DIFFERS", "—", "1",
                                "order(s)", "debited", "wrongly"]  # fmt: skip
    assert (
        "verdicts differ from the run's own: exactly_once_debit: recorded holds, recomputed violated (1)"
        in (result.stderr)
    )
    assert "the evidence is not as the run saved it: evidence/debits.csv.gz changed after the run" in (
        result.stderr
    )

    # The manifest made to agree: the verdicts still give the planted rows away.
    manifest = json.loads(run.manifest.read_text())
    manifest["tables"]["debits"]["sha256"] = sha256(table)
    run.manifest.write_text(json.dumps(manifest))
    result = _verify(run)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "verdicts differ from the run's own: exactly_once_debit" in result.stderr
    assert "evidence is not as the run saved it" not in result.stderr

    # The evidence as it was, and a verdict edited in results.json instead.
    shutil.copyfile(hello.evidence_table("debits"), table)
    shutil.copyfile(hello.manifest, run.manifest)
    results = run.read_results()
    results["invariants"][0]["status"], results["invariants"][0]["count"] = "violated", 2
    run.results.write_text(json.dumps(results))
    result = _verify(run)
    assert result.returncode == 3, result.stdout + result.stderr
    first = results["invariants"][0]["invariant"]
    assert f"verdicts differ from the run's own: {first}: recorded violated (2), recomputed holds" in (
        result.stderr
    )


@pytest.mark.slow
def test_a_run_folder_without_evidence_exits_2(hello: RunDir, tmp_path: Path) -> None:
    run = _copy(hello, tmp_path)
    shutil.rmtree(run.evidence)
    result = _verify(run)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{run}: nothing to check again: no evidence/ folder (the run ended before its verify phase" in (
        result.stderr
    )
    assert "a new run can be verified: paychaos run " in result.stderr


@pytest.mark.slow
def test_a_violated_run_verifies_with_its_counts_and_says_what_it_cannot_recompute(tmp_path: Path) -> None:
    experiment = tmp_path / "promo.yaml"
    promo = (ROOT / "experiments" / "promo-misconfig.yaml").read_text()
    experiment.write_text(promo.replace("../targets/paystack", str(PAYSTACK)) + """
invariants:
  - slo: {max_error_rate: 0.9}
  - sql: {query: "SELECT key FROM debits WHERE amount > 0 ORDER BY key LIMIT 3", description: planted}
  - sql: {query: "SELECT 1 WHERE false", database: bank, description: in the bank}
  - python: {function: "tests.harness.invariants.custom_check:few_accounts", params: {most: 1}}
""")  # fmt: skip
    run = _run(tmp_path / "runs", str(experiment), "--defect", "uncapped-promo")
    results = run.read_results()
    assert results["exit_code"] == 1
    recorded = {v["invariant"]: (v["status"], v["count"]) for v in results["invariants"]}
    assert recorded["amount_integrity"][0] == "violated"
    assert recorded["sql: in the bank"] == ("holds", 0)
    _gone(run)

    result = _verify(run, "--json", str(tmp_path / "verify.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    checked = {c["invariant"]: c for c in json.loads((tmp_path / "verify.json").read_text())["invariants"]}
    assert set(checked) == set(recorded)
    for name, (status, count) in recorded.items():
        if name == "sql: in the bank":
            continue
        assert (checked[name]["outcome"], checked[name]["recomputed"]["status"]) == ("matches", status), name
        assert checked[name]["recomputed"]["count"] == count, name
    bank = checked["sql: in the bank"]
    assert bank["outcome"] == "not recomputable"
    assert bank["recomputed"]["reason"].startswith("not recomputable: it reads the target's database 'bank'")
    assert checked["sql: planted"]["recomputed"]["status"] == "violated"
    assert checked["python: tests.harness.invariants.custom_check:few_accounts"]["recomputed"]["count"] == 1
    assert "1 not recomputable (they read the target's databases): the run's stand; violated" in result.stdout


# -- the store's save and the replay, without a stack --------------------------------------------


@pytest.fixture
def store(postgres: Server, tmp_path: Path) -> Iterator[EvidenceStore]:
    """An evidence database with a few planted rows; fulfilments "not provided" by the target."""
    name = f"verify_{tmp_path.name[-24:].lower().replace('-', '_')}"
    postgres.create_databases([name])

    async def plant() -> None:
        conn = await asyncpg.connect(postgres.dsn(name))
        try:
            await create_tables(conn)
            await conn.execute("""
                INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, txn_id, at)
                VALUES ('k1', 'p1', 'o1', 'a1', 500, true, 'posted', 't1', '2026-01-16 14:40:00+00'),
                       ('k2', 'p1', 'o1', 'a1', 500, true, 'posted', 't2', '2026-01-16 14:40:01+00');
                INSERT INTO accounts VALUES ('a1', -1000), ('m', 1000);
                INSERT INTO history (id, kind, order_id, started, ended, outcome)
                VALUES ('op1', 'pay', 'o1', '2026-01-16 14:40:00+00', '2026-01-16 14:40:00.5+00', 'ok');
            """)  # fmt: skip
        finally:
            await conn.close()

    asyncio.run(plant())
    run_dir = tmp_path / "20260116-144000-planted"
    run_dir.mkdir()
    store = EvidenceStore(
        load_target(PAYSTACK), evidence_dsn=postgres.dsn(name), source_dsn=postgres.dsn,
        service_url=lambda service: "", run_dir=run_dir,
    )  # fmt: skip
    store.problems = {"fulfilments": "target 'paystack' provides no 'fulfilments' evidence table (planted)"}
    yield store
    store.drop_reader()
    postgres.drop_databases([name])


CHECKS = [
    Check("exactly_once_debit"),
    Check("fulfilled_once"),
    Check("slo", {"max_error_rate": 0.5}),
    Check("sql", {"query": "SELECT id FROM accounts WHERE balance < 0", "description": "overdrawn"}),
    Check("sql", {"query": "SELECT 1 WHERE false", "database": "bank", "description": "in the bank"}),
]


def _checked(store: EvidenceStore) -> tuple[Evidence, list[Any]]:
    evidence = Evidence(store, RunWindow(1.0, 2.0, 2.0), lambda database: store.dsn)
    return evidence, [check_one(c, evidence) for c in CHECKS]


def test_saved_evidence_replays_to_the_same_verdicts(store: EvidenceStore) -> None:
    evidence, verdicts = _checked(store)
    assert [(v.status, v.count) for v in verdicts] == [
        ("violated", 1), ("could_not_check", 0), ("holds", 0), ("violated", 1), ("holds", 0)]  # fmt: skip
    coverage = [Count("operations", "client operations sent", 1, required=2)]
    said: list[str] = []
    assert store.save(evidence.window, CHECKS, verdicts, coverage, said.append) == RunDir(store.run_dir)
    run = RunDir(store.run_dir)
    assert said[0].startswith("evidence saved in evidence/: 15 tables, 5 rows")
    assert not run.evidence_partial.exists()
    manifest = json.loads(run.manifest.read_text())
    assert manifest["tables"]["debits"]["rows"] == 2
    assert manifest["problems"] == store.problems
    assert manifest["window"] == {"load_start": 1.0, "load_end": 2.0, "healed_at": 2.0}
    assert manifest["invariants"][3] == {"name": "sql", "invariant": "sql: overdrawn", "status": "violated",
                                         "count": 1, "params": verdicts[3].params}  # fmt: skip
    assert manifest["coverage"] == [coverage[0].as_json()]

    replay = replay_run(run.path)  # no results.json: the manifest's verdicts are the run's own
    assert replay.recorded_from == "evidence/manifest.json"
    assert [c.outcome for c in replay.checks] == ["matches"] * 4 + ["not recomputable"]
    assert replay.checks[1].verdict.reason == store.problems["fulfilments"]
    assert replay.differences == []
    assert int(replay.exit_code) == 1  # violated, whatever else (could not check, coverage short)
    assert replay.as_json()["verdict"] == "violated"


def test_a_failed_refresh_is_kept_and_replays_as_could_not_check(store: EvidenceStore) -> None:
    store.failure = "the evidence database: no answer within 900s (is PostgreSQL stopped or overloaded?)"
    evidence, verdicts = _checked(store)
    assert {v.reason for v in verdicts} == {store.failure}
    assert store.save(evidence.window, CHECKS, verdicts, [], lambda line: None) is not None
    manifest = json.loads(RunDir(store.run_dir).manifest.read_text())
    assert (manifest["tables"], manifest["failure"]) == ({}, store.failure)
    replay = replay_run(store.run_dir)
    assert [c.outcome for c in replay.checks] == ["matches"] * 5
    assert {c.verdict.reason for c in replay.checks} == {store.failure}
    assert int(replay.exit_code) == 3


def test_a_save_that_fails_changes_no_verdict_and_says_why(store: EvidenceStore) -> None:
    evidence, verdicts = _checked(store)
    store.dsn = "postgresql://postgres@127.0.0.1:1/nothing"  # nothing listens there
    store.limits = Limits(connect=2, statement=2)
    said: list[str] = []
    assert store.save(evidence.window, CHECKS, verdicts, [], said.append) is None
    run = RunDir(store.run_dir)
    assert not run.evidence.exists()
    assert not run.evidence_partial.exists()
    assert said[0].startswith("evidence not saved (the evidence database: ")
    assert "`paychaos verify` cannot check this run again" in said[0]
    why = run.evidence_error.read_text().strip()
    assert why.startswith("the evidence database: ")

    result = _verify(run)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"the run could not save its evidence ({why})" in result.stderr
    run.results.write_text(json.dumps({"run_id": run.run_id, "status": "completed", "invariants": []}))
    assert any(f"could not be saved in evidence/ ({why})" in note for note in load_run(run.path).notes)


def test_evidence_of_another_format_is_refused_exit_2(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.evidence.mkdir()
    run.manifest.write_text(json.dumps({"format": 99}))
    result = _verify(run)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "evidence format 99; this paychaos reads format 1" in result.stderr
