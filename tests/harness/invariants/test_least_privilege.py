"""SQL invariants run as a reader role that may only SELECT: every attack fails, and says so.

Each attack is a ``sql`` invariant run exactly as in a run (the real embedded
PostgreSQL, the real Evidence and EvidenceStore); it must change nothing and
read "could not check", never "holds".
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from paychaos.invariants import EvidenceStore, EvidenceUnavailable
from paychaos.invariants._base import read_only
from paychaos.invariants._store import Limits, create_tables
from paychaos.postgres import EmbeddedPostgres, Server
from paychaos.system import load_target
from tests.conftest import ROOT
from tests.harness.invariants.conftest import Planted
from tests.support.db import execute, query, scalar

pytestmark = pytest.mark.integration

_numbers = itertools.count()
_ACCOUNTS = "INSERT INTO accounts (id, balance) VALUES ('a', 100), ('b', 200);"


@pytest.fixture
def target_db(postgres: Server) -> Iterator[str]:
    """A target database with a table of its own, made by the owner as a service would."""
    name = f"lp_target_{next(_numbers)}"
    postgres.create_databases([name])
    execute(postgres.dsn(name), "CREATE TABLE ledger (id int PRIMARY KEY, amount int);"
                                "INSERT INTO ledger VALUES (1, 100), (2, 200);")  # fmt: skip
    yield name
    postgres.drop_databases([name])


def _marker() -> Path:
    return Path(tempfile.gettempdir()) / f"paychaos-lp-{secrets.token_hex(6)}"


@pytest.mark.parametrize("on", ["evidence", "target"])
def test_copy_to_program_runs_nothing(planted: Planted, target_db: str, on: str) -> None:
    marker = _marker()
    database = None if on == "evidence" else target_db
    try:
        verdict = planted.verdict(
            "sql", query=f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'", database=database
        )
        assert verdict.status == "could_not_check"
        assert "permission denied" in verdict.reason
        assert "may only SELECT" in verdict.reason  # the reason says why
        assert not marker.exists()
    finally:
        marker.unlink(missing_ok=True)


def test_as_the_owner_the_same_copy_would_have_run(planted: Planted) -> None:
    """The control: the attack is real, so the test above can tell."""
    marker = _marker()
    try:
        read_only(planted.dsn, f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'", where="as the owner")
        assert marker.exists()
    finally:
        marker.unlink(missing_ok=True)


@pytest.mark.parametrize("on", ["evidence", "target"])
def test_copy_to_a_file_writes_nothing(planted: Planted, target_db: str, on: str) -> None:
    marker = _marker()
    try:
        verdict = planted.verdict(
            "sql", query=f"COPY (SELECT 1) TO '{marker}'", database=None if on == "evidence" else target_db
        )
        assert verdict.status == "could_not_check"
        assert "permission denied" in verdict.reason
        assert not marker.exists()
    finally:
        marker.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "attack",
    ["SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
     "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"],
)  # fmt: skip
def test_other_connections_cannot_be_cut(planted: Planted, attack: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        owner = loop.run_until_complete(asyncpg.connect(planted.dsn))
        try:
            pid = owner.get_server_pid()
            verdict = planted.verdict("sql", query=attack)
            assert verdict.status == "could_not_check"
            assert loop.run_until_complete(owner.fetchval("SELECT 1")) == 1  # still connected
            assert scalar(planted.dsn, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) == 1
        finally:
            loop.run_until_complete(owner.close())
    finally:
        loop.close()


@pytest.mark.parametrize(
    "attack",
    ["UPDATE {table} SET {amount} = 0 RETURNING 1",
     "DELETE FROM {table} RETURNING 1",
     "WITH gone AS (DELETE FROM {table} RETURNING 1) SELECT * FROM gone",
     "INSERT INTO {table} SELECT * FROM {table} RETURNING 1",
     "TRUNCATE {table}",
     "DROP TABLE {table}"],
)  # fmt: skip
@pytest.mark.parametrize("on", ["evidence", "target"])
def test_no_row_can_be_changed(planted: Planted, target_db: str, on: str, attack: str) -> None:
    planted.sql(_ACCOUNTS)
    if on == "evidence":
        dsn, database, table, amount = planted.dsn, None, "accounts", "balance"
    else:
        dsn, database, table, amount = planted.server.dsn(target_db), target_db, "ledger", "amount"
    before = query(dsn, f"SELECT * FROM {table} ORDER BY 1")
    verdict = planted.verdict("sql", query=attack.format(table=table, amount=amount), database=database)
    assert verdict.status == "could_not_check"
    assert query(dsn, f"SELECT * FROM {table} ORDER BY 1") == before


def test_the_reader_may_not_write_even_outside_read_only(planted: Planted, target_db: str) -> None:
    """The second wall alone: as the reader, in a read-write transaction, writing is still refused."""
    planted.sql(_ACCOUNTS)
    for dsn, table in [(planted.dsn, "accounts"), (planted.server.dsn(target_db), "ledger")]:
        reader = planted.store.reader_dsn(dsn, where="test")
        for statement in [
            f"UPDATE {table} SET id = id",
            f"DELETE FROM {table}",
            "CREATE TABLE mine (i int)",
            "CREATE TEMPORARY TABLE mine (i int)",
            "CREATE SCHEMA mine",
            "COPY (SELECT 1) TO PROGRAM 'true'",
        ]:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                _read_write(reader, statement)


def _read_write(dsn: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn, server_settings={"default_transaction_read_only": "off"})
        try:
            assert await conn.fetchval("SHOW transaction_read_only") == "off"
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def test_the_reader_cannot_become_the_owner(planted: Planted) -> None:
    planted.sql(_ACCOUNTS)
    for attack in ["SET ROLE postgres", "SET SESSION AUTHORIZATION postgres"]:
        verdict = planted.verdict("sql", query=attack)
        assert verdict.status == "could_not_check"
        assert "permission denied" in verdict.reason
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            execute(planted.store.reader_dsn(planted.dsn, where="test"), attack)


def test_the_reader_role_has_no_power_but_select(planted: Planted) -> None:
    planted.sql(_ACCOUNTS)
    assert planted.check("sql", query="SELECT id FROM accounts WHERE balance < 0").status == "holds"
    reader = planted.store.reader
    role = query(
        planted.dsn,
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit, rolcanlogin"
        " FROM pg_roles WHERE rolname = $1",
        reader,
    )
    assert role == [{"rolsuper": False, "rolcreaterole": False, "rolcreatedb": False, "rolreplication": False,
                     "rolbypassrls": False, "rolinherit": False, "rolcanlogin": True}]  # fmt: skip
    memberships = (
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1"
    )
    assert scalar(planted.dsn, memberships, reader) == 0
    for powerful in ["pg_execute_server_program", "pg_write_server_files", "pg_read_server_files",
                     "pg_signal_backend", "postgres"]:  # fmt: skip
        assert (
            scalar(planted.dsn, "SELECT pg_has_role($1::name, $2::name, 'MEMBER')", reader, powerful) is False
        )
    settings = scalar(
        planted.dsn, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
        "WHERE r.rolname = $1", reader)  # fmt: skip
    assert "default_transaction_read_only=on" in settings
    assert "statement_timeout=60000" in settings


def test_the_reader_role_can_be_removed_with_its_grants(planted: Planted, target_db: str) -> None:
    planted.sql(_ACCOUNTS)
    assert planted.check("sql", query="SELECT id FROM ledger", database=target_db).count == 2
    planted.store.drop_reader()
    assert scalar(planted.dsn, "SELECT count(*) FROM pg_roles WHERE rolname = $1", planted.store.reader) == 0


def test_evidence_rebuilt_after_the_reader_arrived_is_readable(planted: Planted, target_db: str) -> None:
    planted.sql(_ACCOUNTS)
    assert planted.check("sql", query="SELECT id FROM accounts").count == 2  # the reader exists now
    planted.sql("DROP TABLE accounts; CREATE TABLE accounts (id text, balance numeric);"
                "INSERT INTO accounts VALUES ('c', 1);")  # fmt: skip
    assert planted.check("sql", query="SELECT id FROM accounts").count == 1
    assert planted.check("sql", query="SELECT id FROM ledger", database=target_db).count == 2
    execute(planted.server.dsn(target_db), "CREATE TABLE later (id int); INSERT INTO later VALUES (1);")
    assert planted.check("sql", query="SELECT id FROM later", database=target_db).count == 1


def test_a_query_past_its_time_is_could_not_check(planted: Planted) -> None:
    quick = planted.with_limits(Limits(read=0.3))
    started = time.monotonic()
    verdict = quick.verdict("sql", query="SELECT 1 FROM pg_sleep(30)")
    assert time.monotonic() - started < 10
    assert verdict.status == "could_not_check"
    assert "statement timeout" in verdict.reason
    assert "0.3s at most" in verdict.reason


def test_an_external_server_that_allows_no_new_role_reads_as_its_user(
    postgres: Server, tmp_path: Path
) -> None:
    """A user without CREATEROLE: the run goes on as that user, and the verdict says why that is weaker."""
    n = next(_numbers)
    user, database, password = f"lp_plain_{n}", f"lp_plain_{n}", secrets.token_hex(8)
    execute(postgres.dsn("postgres"), f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    postgres.create_databases([database])
    execute(postgres.dsn("postgres"), f"ALTER DATABASE {database} OWNER TO {user}")
    try:
        plain = Server(postgres.host, postgres.port, user, password)

        async def schema() -> None:
            conn = await asyncpg.connect(plain.dsn(database))
            try:
                await create_tables(conn)
            finally:
                await conn.close()

        asyncio.run(schema())
        planted = Planted(plain, database, tmp_path)
        planted.store.refresh()
        assert planted.store.failure is None
        planted.sql(_ACCOUNTS)
        verdict = planted.verdict("sql", query="SELECT id FROM accounts WHERE balance < 0")
        assert verdict.status == "holds"
        assert f"'{user}' may not create roles" in verdict.details["isolation"]
        assert "READ ONLY transactions and timeouts" in verdict.details["isolation"]
    finally:
        postgres.drop_databases([database])
        execute(postgres.dsn("postgres"), f"DROP ROLE {user}")


# -- a database that stops answering, or dies -----------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, Server]]:
    """A server of the test's own, to stop and kill without disturbing the session's."""
    pg = EmbeddedPostgres(log_path=tmp_path / "postgres.log")
    server = pg.start()
    server.create_databases(["evidence"])
    yield pg, server
    pg.stop()


def _planted_on(server: Server, tmp_path: Path) -> Planted:
    limits = Limits(connect=1, read=2, statement=2, refresh=10)
    planted = Planted(server, "evidence", tmp_path, limits)
    planted.store.refresh()
    assert planted.store.failure is None
    assert planted.verdict("sql", query="SELECT id FROM accounts").status == "holds"
    return planted


def test_a_stopped_evidence_database_fails_the_refresh_fast(
    own_server: tuple[EmbeddedPostgres, Server], tmp_path: Path
) -> None:
    pg, server = own_server
    planted = _planted_on(server, tmp_path)
    assert pg.pid is not None
    os.killpg(pg.pid, signal.SIGSTOP)  # the server and every backend: nothing answers
    try:
        started = time.monotonic()
        planted.store.refresh()
        assert time.monotonic() - started < 8
        failure = planted.store.failure
        assert failure is not None
        assert failure.startswith("the evidence database could not be refreshed: ")
        assert "no answer to a login within 1s (is PostgreSQL stopped or overloaded?)" in failure
        started = time.monotonic()
        for name, params in [("sql", {"query": "SELECT 1"}), ("exactly_once_debit", {})]:
            verdict = planted.verdict(name, **params)
            assert (verdict.status, verdict.reason) == ("could_not_check", failure)
        assert time.monotonic() - started < 1  # no read was attempted
    finally:
        os.killpg(pg.pid, signal.SIGCONT)
    planted.store.refresh()  # the next round may succeed
    assert planted.store.failure is None
    assert planted.verdict("sql", query="SELECT id FROM accounts").status == "holds"


def test_a_source_database_that_does_not_answer_fails_the_round_at_once(
    planted: Planted, tmp_path: Path
) -> None:
    """Not one login timeout per table: the first one ends the refresh."""
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        store = EvidenceStore(
            load_target(ROOT / "targets" / "paystack"), evidence_dsn=planted.dsn,
            source_dsn=lambda database: f"postgresql://x:y@127.0.0.1:{port}/{database}",
            service_url=lambda service: "", run_dir=tmp_path, limits=Limits(connect=0.5, refresh=30),
        )  # fmt: skip
        started = time.monotonic()
        store.refresh()
        assert time.monotonic() - started < 3  # the target has a dozen tables from its databases
    assert store.failure is not None
    assert "no answer to a login within 0.5s" in store.failure


def test_a_read_from_a_stopped_database_is_given_up(
    own_server: tuple[EmbeddedPostgres, Server], tmp_path: Path
) -> None:
    pg, server = own_server
    planted = _planted_on(server, tmp_path)
    assert pg.pid is not None
    os.killpg(pg.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        verdict = planted.verdict("sql", query="SELECT id FROM accounts")
        assert time.monotonic() - started < 8
        assert verdict.status == "could_not_check"
        assert "(is PostgreSQL stopped or overloaded?)" in verdict.reason
    finally:
        os.killpg(pg.pid, signal.SIGCONT)


def test_a_killed_evidence_database_is_could_not_check_not_an_internal_error(
    own_server: tuple[EmbeddedPostgres, Server], tmp_path: Path
) -> None:
    pg, server = own_server
    planted = _planted_on(server, tmp_path)
    pg.stop()
    verdict = planted.verdict("sql", query="SELECT id FROM accounts")  # before any refresh notices
    assert verdict.status == "could_not_check"
    assert verdict.reason.startswith("the evidence database: ")
    assert "internal error" not in verdict.reason
    planted.store.refresh()
    assert planted.store.failure is not None
    assert "could not be refreshed" in planted.store.failure
    assert planted.verdict("exactly_once_debit").reason == planted.store.failure
    with pytest.raises(EvidenceUnavailable, match="could not be refreshed"):
        planted.evidence.sql("SELECT 1")
