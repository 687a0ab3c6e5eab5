"""``paychaos validate`` past the loader: scenario modules, python invariants, SQL, and ``--connect``.

The SQL checks are plain functions and run here as unit tests. Everything that imports a module
does it in a child process (that is the point: a module that hangs or exits must not take
validate with it), so those tests start processes and are marked integration.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from paychaos._process import free_port
from paychaos.cli import main
from paychaos.experiment import ExperimentFile, load_experiment
from paychaos.faults.toxiproxy_server import ToxiproxyServer
from paychaos.invariants import REGISTRY
from paychaos.postgres import Server
from paychaos.validate import EVIDENCE, Importer, connect_check, deep_check, sql_problems
from tests.conftest import ROOT

EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
LOCATED = re.compile(r"^\S+:\d+:\d+: ")

GOOD_MODULE = """\
from paychaos.load import Context

def pay(ctx: Context) -> None:
    pass

def refund(ctx: Context) -> None:
    pass

def payment_of(body):
    return None, None

SCENARIOS = {"pay": pay, "refund": refund}
"""

TARGET = """\
name: tiny
services:
  shop: {{command: ["{{python}}", "-c", "pass"], port: 18080}}
postgres: {{databases: [shop]}}
evidence:
  sources:
    db: {{kind: sql, database: shop}}
  tables:
    payments:
      source: db
      query: |
        SELECT p.id AS payment_id, p.state FROM shop_payments p
        JOIN shop_orders o ON o.id = p.order_id
coverage:
  retries: {{source: db, query: {coverage_query}}}
load:
  service: shop
  module: {module}
  scenarios:
{scenarios}
"""


def _write(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    module: str = GOOD_MODULE,
    scenarios: tuple[str, ...] = ("pay", "refund"),
    experiment: str = "",
    load: str = "{users: 1, duration: 10s}",
    coverage_query: str = "SELECT count(*) FROM shop_retries",
    extra_modules: dict[str, str] | None = None,
) -> ExperimentFile:
    """A target whose scenario module is ``module`` (importable as ``scen``), and an experiment on it."""
    code = tmp_path / "code"
    code.mkdir(parents=True)
    (code / "scen.py").write_text(module)
    for name, text in (extra_modules or {}).items():
        (code / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(code))
    listed = "\n".join(f"    {name}: {{weight: 1}}" for name in scenarios)
    (tmp_path / "target.yaml").write_text(
        TARGET.format(module="scen", scenarios=listed, coverage_query=coverage_query)
    )
    path = tmp_path / "x.yaml"
    path.write_text(f"name: t\ntarget: {{path: target.yaml}}\nload: {load}\n{experiment}")
    return load_experiment(path, invariants=REGISTRY)


def _problems(file: ExperimentFile, *, timeout: float = 10.0) -> list[str]:
    found = deep_check(file, importer=Importer(timeout=timeout))
    assert all(LOCATED.match(line) for line in found), found
    return found


def _at(file: ExperimentFile, text: str) -> int:
    """The line of ``text`` in the target file (1-based)."""
    lines = file.target.source.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


# -- SQL (unit tests: a parser, no database) -----------------------------------------------------


def test_a_syntax_error_says_where_in_the_query() -> None:
    (problem,) = sql_problems("SELECT key\nFROM debits WHER amount > 0", tables=EVIDENCE)
    assert problem == (
        'does not parse: syntax error at or near "amount", at line 2, column 18 of the query: '
        "'FROM debits WHER amount > 0'"
    )


def test_an_unknown_table_is_named_with_the_closest_evidence_table() -> None:
    (problem,) = sql_problems("SELECT * FROM debit WHERE NOT posted", tables=EVIDENCE)
    assert problem.startswith("reads 'debit', which is no evidence table;")
    assert "payout_requests" in problem
    assert problem.endswith("did you mean 'debits'?")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT d.key, count(*) FROM debits d JOIN refunds r ON r.debit_key = d.key GROUP BY d.key",
        """WITH twice AS (SELECT payment_id FROM debits WHERE posted GROUP BY payment_id HAVING count(*) > 1),
                late AS (SELECT t.payment_id FROM twice t JOIN payments p USING (payment_id))
           SELECT * FROM late""",
        "SELECT h.kind FROM history h LEFT JOIN faults f ON h.started BETWEEN f.applied AND f.healed",
        "SELECT 1 FROM public.accounts a WHERE a.balance < 0 AND a.xmin IS NOT NULL",
        "SELECT x.key FROM (SELECT key FROM debits) x, LATERAL (SELECT 1) y",
        "SELECT a.x FROM debits AS a(x)",  # the alias renames the columns
        "SELECT count(*) FROM pg_stat_activity, information_schema.tables",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT * FROM n",
        "SELECT d.key FROM debits d WHERE d.key IN (SELECT r.debit_key FROM refunds r)",
        "VALUES (1)",
    ],
)
def test_queries_that_would_run_pass(query: str) -> None:
    assert sql_problems(query, tables=EVIDENCE) == []


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("SELECT d.amout FROM debits d", "d.amout: debits has no column 'amout'; it has: key, "),
        ("SELECT d.amout FROM debits d", "did you mean 'amount'?"),
        ("DELETE FROM debits", "is DELETE …, not a SELECT; write one SELECT (or WITH … SELECT)"),
        ("WITH x AS (SELECT 1) UPDATE debits SET posted = true", "is WITH … UPDATE …, not a SELECT"),
        (
            "WITH gone AS (DELETE FROM debits RETURNING *) SELECT * FROM gone",
            "WITH gone AS (DELETE …) writes",
        ),
        ("SELECT 1; SELECT 2", "holds 2 statements; write one SELECT"),
        ("  -- nothing\n", "holds no statement"),
        ("SELECT * INTO copy FROM debits", "SELECT … INTO creates a table"),
        ("SELECT * FROM other.debits", "reads 'other.debits', which is no evidence table"),
    ],
)
def test_queries_that_would_fail_say_why(query: str, said: str) -> None:
    assert any(said in problem for problem in sql_problems(query, tables=EVIDENCE)), sql_problems(query)


def test_a_target_query_reads_tables_validate_cannot_know() -> None:
    assert sql_problems("SELECT id FROM shop_payments") == []
    assert sql_problems("SELEC id FROM shop_payments") != []


def test_an_sql_invariant_on_a_target_database_is_checked_too(tmp_path: Path) -> None:
    # A query on the target's own tables cannot be matched to them, but it must still be one SELECT,
    # on a database the target has.
    path = tmp_path / "x.yaml"
    path.write_text(f"name: x\ntarget: {{path: {ROOT / 'targets' / 'paystack'}}}\nload: {{users: 1, duration: 5s}}\n"
                    "invariants:\n  - sql: {query: DELETE FROM payments, database: bnk}\n"
                    "  - sql: {query: SELECT id FROM payments WHERE amount < 0, database: gateway}\n")  # fmt: skip
    problems = deep_check(load_experiment(path, invariants=REGISTRY))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "invariants[0].sql.database: unknown database 'bnk'; the target's: bank, gateway, merchant, notifier, "
        "reconciler; did you mean 'bank'?",
        "invariants[0].sql.query: is DELETE …, not a SELECT; write one SELECT (or WITH … SELECT): it only reads",
    ]


# -- the scenario module (a child process imports it) --------------------------------------------


@pytest.mark.integration
def test_a_good_target_and_experiment_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "- sql: {query: 'SELECT d.key FROM debits d JOIN refunds r ON r.debit_key = d.key'}\n"
    file = _write(tmp_path, monkeypatch, experiment=f"invariants:\n  {sql}")
    assert _problems(file) == []


@pytest.mark.integration
def test_a_missing_module_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _write(tmp_path, monkeypatch)
    (tmp_path / "target.yaml").write_text(
        (tmp_path / "target.yaml").read_text().replace("module: scen", "module: scne")
    )
    file = load_experiment(file.path, invariants=REGISTRY)
    (problem,) = _problems(file)
    assert problem.startswith(f"{file.target.source}:{_at(file, 'module: scne')}:11: load.module: ")
    assert "cannot import scne: no module named 'scne'; the load imports it the same way" in problem


@pytest.mark.integration
def test_a_module_raising_on_import_shows_the_last_line_and_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = _write(tmp_path, monkeypatch, module="import os\nraise ValueError('no config in ' + 'x')\n")
    (problem,) = _problems(file)
    origin = tmp_path / "code" / "scen.py"
    assert f"cannot import scen ({origin}): raised ValueError: no config in x (at {origin}:2)" in problem


@pytest.mark.integration
def test_a_module_that_exits_or_hangs_on_import_cannot_stop_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hangs = "import threading\nthreading.Event().wait()\n"
    file = _write(tmp_path, monkeypatch, module=hangs, extra_modules={
        "quits": "import sys\nsys.exit(4)\n", "dies": "import os\nos._exit(3)\n",
    })  # fmt: skip
    (problem,) = _problems(file, timeout=1.0)
    assert (
        f"cannot import scen ({tmp_path / 'code' / 'scen.py'}): importing it did not finish within 1s"
        in problem
    )
    importer = Importer(timeout=10)
    assert importer("quits", ()).problem == "called exit(4)"
    dies = importer("dies", ()).problem
    assert dies is not None
    assert dies.startswith("importing it ended the process (exit code 3")


@pytest.mark.integration
def test_missing_scenarios_and_payment_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _write(tmp_path, monkeypatch, module="X = 1\n")
    first, second = _problems(file)
    assert "has no SCENARIOS, where the load finds pay, refund; add SCENARIOS = {name: function}" in first
    assert "has no payment_of, and target.yaml gives no load.payment; add def payment_of(body)" in second


@pytest.mark.integration
def test_scenarios_that_are_no_mapping_of_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _write(tmp_path, monkeypatch, module="SCENARIOS = ['pay']\npayment_of = None\n")
    first, second = _problems(file)
    assert "SCENARIOS is a list, not a mapping" in first
    assert "holds payment_of as a NoneType" in second
    file = _write(tmp_path / "b", monkeypatch, module=GOOD_MODULE.replace('"refund": refund', '"refund": 3'))
    (problem,) = _problems(file)
    assert "SCENARIOS['refund'] is a int, not a function taking a Context" in problem


@pytest.mark.integration
def test_an_unknown_scenario_is_located_with_did_you_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = _write(tmp_path, monkeypatch, scenarios=("pay", "refnd"), load="{users: 1, scenarios: {refnd: 1}}")
    in_target, in_experiment = _problems(file)
    assert in_target.startswith(f"{file.target.source}:{_at(file, 'refnd:')}:5: load.scenarios.refnd: ")
    assert "no steps, and no 'refnd' in the SCENARIOS of scen" in in_target
    assert in_target.endswith("it has: pay, refund; did you mean 'refund'?")
    assert in_experiment.startswith(f"{file.path}:3:30: load.scenarios.refnd: ")


# -- python invariants ----------------------------------------------------------------------------

CHECKS = """\
from pathlib import Path

def no_negative_balance(evidence):
    Path(__file__).with_name("was-called").write_text("the invariant ran")
    return []

LIMIT = 3
"""


@pytest.mark.integration
def test_python_invariants_are_imported_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = """\
invariants:
  - python: {function: "checks:no_negative_balance"}
  - python: {function: "checks:no_negativ_balance"}
  - {name: python, params: {function: "checks:LIMIT"}}
  - python: {function: "nochecks:f"}
"""
    file = _write(tmp_path, monkeypatch, experiment=experiment, extra_modules={"checks": CHECKS})
    missing, not_callable, no_module = _problems(file)
    assert missing.startswith(f"{file.path}:6:24: invariants[1].python.function: ")
    assert missing.endswith("has no 'no_negativ_balance'; its functions: Path, no_negative_balance; "
                            "did you mean 'no_negative_balance'?")  # fmt: skip
    assert not_callable.startswith(f"{file.path}:7:")
    assert (
        "invariants[2].python.function: checks.LIMIT is a int, not a function taking the evidence"
        in not_callable
    )
    assert "invariants[3].python.function: cannot import nochecks: no module named 'nochecks'" in no_module
    assert not (tmp_path / "code" / "was-called").exists()


# -- the target's evidence and coverage queries ----------------------------------------------------


@pytest.mark.integration
def test_a_target_query_that_does_not_parse_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = _write(tmp_path, monkeypatch, coverage_query="'SELECT count(*) FROM shop_retries WHERE'")
    (problem,) = _problems(file)
    assert problem.startswith(f"{file.target.source}:{_at(file, 'retries:')}:")
    assert problem.endswith("coverage.retries.query: does not parse: syntax error at end of input")


# -- the command -----------------------------------------------------------------------------------


@pytest.mark.integration
def test_every_shipped_experiment_still_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, EXPERIMENTS)]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == len(EXPERIMENTS)


@pytest.mark.integration
def test_validate_reports_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, monkeypatch, experiment="invariants:\n  - sql: {query: 'SELECT * FROM debts'}\n")
    good = ROOT / "experiments" / "hello.yaml"
    assert main(["validate", str(bad.path), str(good)]) == 2
    out, err = capsys.readouterr()
    assert f"{good}: ok (hello against paystack)" in out
    assert f"{bad.path}: ok" not in out
    assert f"{bad.path}:5:" in err
    assert "did you mean 'debits'?" in err


def test_connection_options_need_connect(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--db", "postgresql://x@127.0.0.1", "experiments/hello.yaml"]) == 2
    assert "add --connect" in capsys.readouterr().err


@pytest.mark.integration
def test_connect_reaches_the_toxiproxy_and_postgresql_given(
    postgres: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    hello = str(ROOT / "experiments" / "hello.yaml")
    with ToxiproxyServer(port=0, seed=1).run_in_thread() as toxiproxy:
        code = main(
            ["validate", "--connect", "--toxiproxy", toxiproxy.url, "--db", postgres.dsn("postgres"), hello]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"connect: Toxiproxy at {toxiproxy.url} (from --toxiproxy): answers, version " in out
    assert (
        f"connect: PostgreSQL at {postgres.host}:{postgres.port} as {postgres.user}: connects (PostgreSQL "
        in out
    )
    assert "Docker" not in out  # no container fault: the engine is not needed, nor asked
    assert str(postgres.password) not in out


@pytest.mark.integration
def test_connect_says_what_does_not_answer(capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    hello = str(ROOT / "experiments" / "hello.yaml")
    assert main(["validate", "--connect", "--toxiproxy", dead, hello]) == 3
    err = capsys.readouterr().err
    assert f"--toxiproxy: the Toxiproxy at {dead} does not answer; start it, fix the URL" in err
    reached = connect_check(
        [], env={"TOXIPROXY_URL": dead}, db=f"postgresql://nobody@127.0.0.1:{free_port()}"
    )
    toxiproxy, db = reached.problems
    assert toxiproxy.startswith("TOXIPROXY_URL: ")
    assert db.startswith("--db: PostgreSQL at 127.0.0.1:")
    assert db.endswith("start it, or fix the URL")


@pytest.mark.integration
def test_connect_locates_a_container_fault_without_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    path = tmp_path / "x.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: t
        target: {{path: {ROOT / "targets" / "paystack"}}}
        load: {{users: 1, duration: 10s}}
        faults:
          - {{at: 2s, duration: 2s, container: billing, action: stop}}
        """))  # fmt: skip
    reached = connect_check([load_experiment(path, invariants=REGISTRY)], env={})
    (problem,) = reached.problems
    assert problem.startswith(
        f"{path}:5:5: faults[0]: container faults need Docker: no Docker engine reachable"
    )
