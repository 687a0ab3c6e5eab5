"""Heal, always: a run interrupted mid-fault leaves nothing behind; a killed one is healed by `paychaos heal`."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient, read_journal
from harness.faults._faults import stopped
from harness.faults.toxiproxy_server import ServerThread
from tests.conftest import ROOT

# A stand-in for a run: inject a toxic and pause a process, then wait to be stopped.
RUN = """
import sys, time
from pathlib import Path
from harness._signals import interruptible
from harness.faults import FaultInjector, FaultJournal, ProcessFault, ProcessHandle, ToxicFault, ToxiproxyClient

url, pid, run_dir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
client = ToxiproxyClient(url)
try:
    with interruptible(), FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:
        faults.apply(ToxicFault(client, "web", "latency", {"latency": 5000}, backend="external"))
        faults.apply(ProcessFault(ProcessHandle("worker", lambda: pid), "pause"))
        print("faults applied", flush=True)
        time.sleep(600)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _start_run(toxiproxy: ServerThread, pid: int, run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, toxiproxy.url, str(pid), str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "faults applied"
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_heals_every_fault(
    sig: signal.Signals,
    toxiproxy: ServerThread,
    client: ToxiproxyClient,
    sleeper: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    client.create_proxy("web", "127.0.0.1:0", "127.0.0.1:9")
    run = _start_run(toxiproxy, sleeper.pid, tmp_path)
    assert client.toxics("web") != []
    assert stopped(sleeper.pid)
    run.send_signal(sig)
    assert run.wait(timeout=20) == 130
    assert client.toxics("web") == []  # no toxic left
    assert not stopped(sleeper.pid)  # no process left paused
    assert [e["event"] for e in read_journal(tmp_path / "faults.jsonl")] == [
        "applied",
        "applied",
        "healed",
        "healed",
    ]


def test_paychaos_heal_clears_what_a_killed_run_left(
    toxiproxy: ServerThread, client: ToxiproxyClient, sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    client.create_proxy("web", "127.0.0.1:0", "127.0.0.1:9")
    run_dir = tmp_path / "run-1"
    run = _start_run(toxiproxy, sleeper.pid, run_dir)
    run.kill()  # SIGKILL: nothing of the run's own cleanup happens
    run.wait()
    assert client.toxics("web") != []
    assert stopped(sleeper.pid)

    heal = subprocess.run(
        [sys.executable, "-m", "harness.cli", "heal", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert heal.returncode == 0, heal.stderr
    assert "healed  f1 latency on web: removed toxic latency_downstream_f1" in heal.stdout
    assert f"healed  f2 pause on worker: resumed process {sleeper.pid}" in heal.stdout
    assert f"Toxiproxy at {toxiproxy.url}: reset" in heal.stdout
    assert client.toxics("web") == []
    assert not stopped(sleeper.pid)

    again = subprocess.run(
        [sys.executable, "-m", "harness.cli", "heal", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert (again.returncode, again.stdout.strip()) == (0, "nothing to heal")
