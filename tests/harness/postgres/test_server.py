"""The embedded PostgreSQL: loopback TCP only, a password for every login, never root's group;
cleaned up on stop, on a killed parent, on a crashed run."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import psutil
import pytest

from paychaos.errors import InfrastructureError, InvalidInput
from paychaos.postgres import EmbeddedPostgres, Server, external, scram_verifier
from paychaos.system import Stack, load_target
from tests.conftest import ROOT
from tests.support.db import query, scalar
from tests.support.wait import wait_until


def test_external_urls_are_parsed_and_bad_ones_explained() -> None:
    server = external("postgresql://app:s%40cret@127.0.0.1:6543/ignored")
    assert server == Server("127.0.0.1", 6543, "app", "s@cret")
    assert server.dsn("bank") == "postgresql://app:s%40cret@127.0.0.1:6543/bank"
    assert server.dsn("bank", host="127.0.0.1", port=7000) == "postgresql://app:s%40cret@127.0.0.1:7000/bank"
    with pytest.raises(InvalidInput, match="expected a URL like postgresql://"):
        external("mysql://x@localhost")


def test_a_password_stays_out_of_reprs_and_command_lines(tmp_path: Path) -> None:
    server = Server("127.0.0.1", 6543, "postgres", "s3cret")
    assert "s3cret" not in repr(server)
    assert server.dsn("bank", secret=False) == "postgresql://postgres@127.0.0.1:6543/bank"
    stack = Stack(load_target(ROOT / "targets" / "paystack"), server, log_dir=tmp_path)
    command = stack.command("bank")
    assert "postgresql://postgres@127.0.0.1:6543/bank" in command  # anyone may read a command line
    assert not any("s3cret" in part for part in command)
    assert stack.environment("bank")["PGPASSWORD"] == "s3cret"  # only the service's user may read this


def test_a_scram_verifier_has_the_form_postgresql_stores() -> None:
    verifier = scram_verifier("pw")
    method, _, rest = verifier.partition("$")
    assert method == "SCRAM-SHA-256"
    assert rest.startswith("4096:")
    assert verifier != scram_verifier("pw")  # salted


def _login(dsn: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn, passfile="/nonexistent", timeout=10)
        await conn.close()

    asyncio.run(run())


@pytest.mark.integration
def test_a_login_without_the_password_is_refused(postgres: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert postgres.password
    _login(postgres.dsn("postgres"))
    without = Server(postgres.host, postgres.port, postgres.user)
    wrong = Server(postgres.host, postgres.port, postgres.user, "not-the-password")
    for server in (without, wrong):
        with pytest.raises(asyncpg.InvalidPasswordError, match="password authentication failed"):
            _login(server.dsn("postgres"))
    rules = query(postgres.dsn("postgres"), "SELECT type, auth_method FROM pg_hba_file_rules")
    assert rules
    assert all(r == {"type": "host", "auth_method": "scram-sha-256"} for r in rules)


@pytest.mark.integration
def test_every_start_draws_a_new_password() -> None:
    """Also on a kept data directory: pg_hba.conf and the password are set at each start."""
    scratch = Path(tempfile.mkdtemp(prefix="paychaos-test-keep-"))
    scratch.chmod(0o711)  # as root, the server's own user must reach data/ inside it
    pg = EmbeddedPostgres(data_dir=scratch / "data")
    try:
        first = pg.start()
        pg.stop()
        second = pg.start()
        assert first.password != second.password
        _login(second.dsn("postgres"))
        with pytest.raises(asyncpg.InvalidPasswordError):
            _login(Server(second.host, second.port, second.user, first.password).dsn("postgres"))
    finally:
        pg.stop()
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


@pytest.mark.integration
def test_the_server_runs_without_roots_groups() -> None:
    if os.geteuid() != 0:
        pytest.skip("only root's runs switch user; as a normal user the server has that user's groups")
    pg = EmbeddedPostgres()
    pg.start()
    try:
        assert pg.pid is not None
        postmaster = psutil.Process(pg.pid)
        for process in [postmaster, *postmaster.children()]:
            assert 0 not in process.gids()
            assert process.uids().real != 0
            groups = next(line for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                          if line.startswith("Groups:"))  # fmt: skip
            assert groups.split()[1:] == []  # no supplementary group, root's least of all
    finally:
        pg.stop()


@pytest.mark.integration
def test_it_listens_on_loopback_tcp_only(postgres: Server) -> None:
    dsn = postgres.dsn("postgres")
    assert postgres.host == "127.0.0.1"
    assert scalar(dsn, "SHOW listen_addresses") == "127.0.0.1"
    assert scalar(dsn, "SHOW unix_socket_directories") == ""


@pytest.mark.integration
def test_databases_are_created_once(postgres: Server) -> None:
    postgres.create_databases(["pgtest_a", "pgtest_b"])
    postgres.create_databases(["pgtest_a"])
    names = scalar(
        postgres.dsn("postgres"),
        "SELECT array_agg(datname ORDER BY datname) FROM pg_database WHERE datname LIKE 'pgtest_%'",
    )
    assert names == ["pgtest_a", "pgtest_b"]
    postgres.drop_databases(["pgtest_a", "pgtest_b"])


@pytest.mark.integration
def test_stop_leaves_no_process_and_no_data() -> None:
    pg = EmbeddedPostgres()
    pg.start()
    pid = pg.pid
    data = pg._data_dir
    assert pid is not None
    assert data is not None
    assert data.exists()
    pg.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not data.parent.exists()


@pytest.mark.integration
def test_a_taken_port_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(InfrastructureError, match=f"127.0.0.1:{port}: the port is in use"):
            EmbeddedPostgres(port=port).start()


@pytest.mark.integration
def test_the_server_dies_with_a_killed_harness() -> None:
    script = (
        "from paychaos.postgres import EmbeddedPostgres\n"
        "import sys, time\n"
        "pg = EmbeddedPostgres(); pg.start(); print(pg.pid, flush=True); time.sleep(120)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None
    pid = int(harness.stdout.readline())
    assert psutil.pid_exists(pid)
    harness.kill()  # SIGKILL: no cleanup code runs
    harness.wait()
    wait_until(lambda: not psutil.pid_exists(pid), timeout=15, what="PostgreSQL to exit")


@pytest.mark.integration
def test_data_left_by_a_crashed_run_is_removed_by_the_next() -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    abandoned = Path(tempfile.mkdtemp(prefix="paychaos-pg-"))
    (abandoned / "owner").write_text(dead.stdout.strip())
    (abandoned / "data").mkdir()
    alive = Path(tempfile.mkdtemp(prefix="paychaos-pg-"))
    (alive / "owner").write_text(str(os.getpid()))
    try:
        with EmbeddedPostgres():
            pass
        assert not abandoned.exists()
        assert alive.exists()  # its owner still runs
    finally:
        for path in (abandoned, alive):
            subprocess.run(["rm", "-rf", str(path)], check=False)
