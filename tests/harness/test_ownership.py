"""A run owns its folder: the lock lives exactly as long as its process, and what a dead run recorded
is stopped or removed, never a process that has been given a recorded pid since."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from paychaos._ownership import (
    LOCK_NAME,
    PROCESSES_NAME,
    RunLock,
    Stamp,
    claimed,
    holder,
    listener,
    read_ledger,
    record_process,
    stop_recorded,
)
from paychaos.errors import InfrastructureError
from tests.conftest import ROOT
from tests.support.wait import wait_until

# A run in miniature: takes the lock through the API and holds it until stdin closes.
HOLD = """
import sys
from pathlib import Path
from paychaos._ownership import RunLock

with RunLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def hold(run_dir: Path) -> subprocess.Popen[str]:
    """A live run holding ``run_dir``: a real process, ended by closing its stdin (or by a signal)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _ended(pid: int) -> bool:
    stamp = Stamp.of(pid)
    return stamp is None or not stamp.alive()


def _record(run_dir: Path, **fields: object) -> None:
    with open(run_dir / PROCESSES_NAME, "a") as out:
        out.write(
            json.dumps({"role": "service", "name": "x", "group": True, "signal": "SIGTERM", **fields}) + "\n"
        )


@pytest.mark.parametrize("end", ["exit", "sigkill"])
def test_the_lock_names_its_live_owner_and_drops_when_it_dies(end: str, tmp_path: Path) -> None:
    run = hold(tmp_path)
    owner = holder(tmp_path)
    assert owner is not None
    assert (owner.pid, owner.alive()) == (run.pid, True)
    with pytest.raises(InfrastructureError, match=f"still running \\(pid {run.pid}\\)"):
        RunLock(tmp_path).acquire()
    with claimed(tmp_path) as held_by:
        assert held_by == owner  # a cleaner gets nothing to clean: the run is live

    if end == "exit":
        assert run.stdin is not None
        run.stdin.close()
    else:
        run.kill()  # no cleanup code of the run's runs: the kernel drops the lock
    run.wait()
    assert holder(tmp_path) is None
    with RunLock(tmp_path):
        assert Stamp.read(tmp_path / LOCK_NAME) == Stamp.me()


def test_a_folder_without_a_lock_counts_as_dead_and_is_not_given_one(tmp_path: Path) -> None:
    assert holder(tmp_path) is None
    assert not (tmp_path / LOCK_NAME).exists()


def test_processes_are_recorded_only_while_a_run_lock_is_held(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    record_process("service", "outside", sleeper.pid)
    with RunLock(tmp_path):
        record_process("service", "web", sleeper.pid, port=8101)
    record_process("service", "after", sleeper.pid)
    [record] = read_ledger(tmp_path)
    assert record["name"] == "web"
    assert record["port"] == 8101
    assert Stamp(record["pid"], record["created"]) == Stamp.of(sleeper.pid)


def test_a_recycled_pid_is_never_signalled(sleeper: subprocess.Popen[bytes], tmp_path: Path) -> None:
    created = psutil.Process(sleeper.pid).create_time()
    _record(tmp_path, pid=sleeper.pid, created=created - 60)  # the pid, but an earlier process's
    _record(tmp_path, pid=sleeper.pid, created=None)  # no start time: cannot be told apart
    assert stop_recorded(tmp_path) == []
    assert sleeper.poll() is None


def test_what_is_left_of_a_dead_services_group_is_stopped(tmp_path: Path) -> None:
    # A service whose worker outlives it: the shell (the group's leader) dies, `sleep` runs on.
    service = subprocess.Popen(["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    assert service.stdout is not None
    worker = int(service.stdout.readline())
    _record(tmp_path, pid=service.pid, created=psutil.Process(service.pid).create_time())
    os.kill(service.pid, signal.SIGKILL)
    service.wait()
    os.kill(worker, signal.SIGSTOP)  # paused, too: it is resumed so that SIGTERM can end it
    try:
        [done] = stop_recorded(tmp_path)
        assert (done.what, done.outcome) == (f"service x (pid {service.pid})", f"stopped: pid {worker}")
        wait_until(lambda: _ended(worker), timeout=5, what="the worker to end")
        assert stop_recorded(tmp_path) == []
    finally:
        if psutil.pid_exists(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_recorded_directory_is_removed_once_its_owner_has_ended(tmp_path: Path) -> None:
    mine, dead = (Path(tempfile.mkdtemp(prefix="paychaos-test-")) for _ in range(2))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    Stamp.me().write(mine / "owner")
    Stamp(int(gone.stdout), 1.0).write(dead / "owner")
    try:
        for directory in (mine, dead):
            _record(tmp_path, pid=int(gone.stdout), created=1.0, remove=str(directory))
        outcomes = [d.outcome for d in stop_recorded(tmp_path)]
        assert outcomes == [f"removed {dead}", f"kept {mine}: its owner (pid {os.getpid()}) still runs"]
        assert mine.exists()
        assert not dead.exists()
    finally:
        for directory in (mine, dead):
            subprocess.run(["rm", "-rf", str(directory)], check=False)


def test_the_listener_of_a_port_is_found_among_this_process_and_its_children(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 40123 (http://…/) ..."
        port = int(line.split(" port ")[1].split()[0])
        assert listener(port) == Stamp.of(server.pid)
    finally:
        server.kill()
        server.wait()
    assert listener(port) is None
