"""`.ci/detach`, which .ci/provision starts dockerd with: the child keeps no descriptor of its caller.

A lock held around `.ci/run` (flock on an inherited descriptor) once stayed held by dockerd for
good, deadlocking other jobs; here the same kind of lock is free again as soon as the caller lets go.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.support.wait import wait_until


def _try_lock(path: Path) -> bool:
    with open(path, "a") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(other, fcntl.LOCK_UN)
        return True


def test_a_detached_program_holds_no_descriptor_of_its_caller(tmp_path: Path) -> None:
    lock, log = tmp_path / "ci.lock", tmp_path / "child.log"
    held = open(lock, "a")  # noqa: SIM115 - held across the spawn, as flock(1) holds it around .ci/run
    fcntl.flock(held, fcntl.LOCK_EX)
    os.set_inheritable(held.fileno(), True)  # as a shell's redirection would leave it
    caller = subprocess.run(
        [str(ROOT / ".ci" / "detach"), str(log), "sleep", "60"],
        capture_output=True, text=True, check=True, close_fds=False, timeout=30,
    )  # fmt: skip
    pid = int(caller.stdout)
    try:
        fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert set(fds) == {0, 1, 2}, fds
        assert fds[0] == "/dev/null"
        assert fds[1] == fds[2] == str(log)
        assert os.getsid(pid) == pid  # a session of its own
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        held.close()  # the caller lets go: nobody else holds the lock
        assert _try_lock(lock)
    finally:
        held.close()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=10)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
