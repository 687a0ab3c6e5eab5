"""The embedded PostgreSQL: loopback TCP only, cleaned up on stop, on a killed parent, on a crashed run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from harness.errors import InfrastructureError, InvalidInput
from harness.target import EmbeddedPostgres, Server, external
from tests.support.db import scalar
from tests.support.wait import wait_until


def test_external_urls_are_parsed_and_bad_ones_explained() -> None:
    server = external("postgresql://app:s%40cret@127.0.0.1:6543/ignored")
    assert server == Server("127.0.0.1", 6543, "app", "s@cret")
    assert server.dsn("bank") == "postgresql://app:s%40cret@127.0.0.1:6543/bank"
    assert server.dsn("bank", host="127.0.0.1", port=7000) == "postgresql://app:s%40cret@127.0.0.1:7000/bank"
    with pytest.raises(InvalidInput, match="expected a URL like postgresql://"):
        external("mysql://x@localhost")


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
        "from harness.target import EmbeddedPostgres\n"
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
