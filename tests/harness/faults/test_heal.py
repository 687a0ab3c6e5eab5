"""Heal, always: a run interrupted mid-fault leaves nothing behind; a killed one is healed by `paychaos heal`.

A run owns its faults while it lives: only dead runs are healed, unless `--force`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest

from paychaos._ownership import read_ledger, stop_recorded
from paychaos.faults import ToxiproxyClient, heal_leftovers, read_journal
from paychaos.faults.kinds.process import stopped
from paychaos.faults.toxiproxy_server import ServerThread
from tests.conftest import ROOT
from tests.support.http import send_json
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services

# A stand-in for a run: own the run folder, inject a toxic (and pause a process unless the pid
# is "-"), then wait until stopped (a signal) or told to end (stdin closed).
RUN = """
import sys
from pathlib import Path
from paychaos._ownership import RunLock
from paychaos._signals import interruptible
from paychaos.faults import FaultInjector, FaultJournal, ProcessFault, ProcessHandle, ToxicFault, ToxiproxyClient

url, pid, run_dir, proxy = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
run_dir.mkdir(parents=True, exist_ok=True)
client = ToxiproxyClient(url)
try:
    with interruptible(), RunLock(run_dir), FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:
        faults.apply(ToxicFault(client, proxy, "latency", {"latency": 5000}, backend="external"))
        if pid != "-":
            faults.apply(ProcessFault(ProcessHandle("worker", lambda: int(pid)), "pause"))
        print("faults applied", flush=True)
        sys.stdin.read()
except KeyboardInterrupt:
    sys.exit(130)
"""


def _start_run(
    toxiproxy: ServerThread, pid: int | None, run_dir: Path, proxy: str = "web"
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, toxiproxy.url, str(pid or "-"), str(run_dir), proxy],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "faults applied"
    return proc


def _heal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "heal", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


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
    # On a Toxiproxy the user runs, a run's proxies are named after it (see LinkProxies).
    client.create_proxy("run-1.web", "127.0.0.1:0", "127.0.0.1:9")
    run_dir = tmp_path / "run-1"
    run = _start_run(toxiproxy, sleeper.pid, run_dir, "run-1.web")
    run.kill()  # SIGKILL: nothing of the run's own cleanup happens
    run.wait()
    assert client.toxics("run-1.web") != []
    assert stopped(sleeper.pid)

    heal = _heal(str(run_dir))
    assert heal.returncode == 0, heal.stderr
    assert "healed  f1 latency on run-1.web: removed toxic latency_downstream_f1" in heal.stdout
    assert f"healed  f2 pause on worker: resumed process {sleeper.pid}" in heal.stdout
    assert f"healed  Toxiproxy at {toxiproxy.url}: deleted the run's proxies run-1.web" in heal.stdout
    assert "run-1.web" not in client.proxies()
    assert not stopped(sleeper.pid)

    again = _heal(str(run_dir))
    assert (again.returncode, again.stdout.strip()) == (0, "nothing to heal")


def test_a_live_run_keeps_its_faults_while_a_dead_ones_are_healed(
    toxiproxy: ServerThread, client: ToxiproxyClient, tmp_path: Path
) -> None:
    for name in ("live.web", "dead.web"):
        client.create_proxy(name, "127.0.0.1:0", "127.0.0.1:9")
    live = _start_run(toxiproxy, None, tmp_path / "live", "live.web")
    dead = _start_run(toxiproxy, None, tmp_path / "dead", "dead.web")
    dead.kill()
    dead.wait()
    try:
        healed = heal_leftovers([tmp_path / "live", tmp_path / "dead"])
        assert [(h.status, h.fault) for h in healed] == [
            ("left alone", "run"),
            ("healed", "f1 latency on dead.web"),
            ("healed", f"Toxiproxy at {toxiproxy.url}"),
        ]
        assert f"still running (pid {live.pid})" in healed[0].outcome
        assert [t["name"] for t in client.toxics("live.web")] == ["latency_downstream_f1"]
        assert "dead.web" not in client.proxies()

        refused = _heal(str(tmp_path / "live"))
        assert refused.returncode == 2
        assert f"still running (pid {live.pid})" in refused.stderr
        assert f"paychaos heal --force {tmp_path / 'live'}" in refused.stderr
        assert client.toxics("live.web") != []

        forced = _heal("--force", str(tmp_path / "live"))
        assert forced.returncode == 0, forced.stderr
        assert "healed  f1 latency on live.web: removed toxic latency_downstream_f1" in forced.stdout
        assert client.toxics("live.web") == []
    finally:
        assert live.stdin is not None
        live.stdin.close()  # the run ends as usual: its own heal finds the toxic already gone
    assert live.wait(timeout=20) == 0
    assert [e.get("outcome") for e in read_journal(tmp_path / "live" / "faults.jsonl")][1:] == [
        "removed toxic latency_downstream_f1",
        "toxic latency_downstream_f1 was already gone",
    ]


# A run killed outright with all it owns: the embedded PostgreSQL, the embedded Toxiproxy server,
# a stack of two services (`web`: a shell whose worker outlives it, as a service's workers do;
# `conf`: a config endpoint) and three faults: a toxic, `web` paused, `conf` changed.
HARNESS = """
import json, sys
from pathlib import Path
from paychaos._ownership import RunLock
from paychaos.faults import (ConfigFault, FaultInjector, FaultJournal, ProcessFault, ProcessHandle,
                            ToxicFault, start_backend)
from paychaos.postgres import EmbeddedPostgres
from paychaos.system import Stack, load_target

run_dir, target = Path(sys.argv[1]), load_target(Path(sys.argv[2]))
with RunLock(run_dir):
    EmbeddedPostgres().start()
    backend = start_backend(log_dir=run_dir / "logs", env={"PATH": "/nonexistent"}, use_docker=False)
    stack = Stack(target, None, log_dir=run_dir / "logs", ports="auto")
    stack.start()
    client = backend.client()
    client.create_proxy("web", "127.0.0.1:0", f"127.0.0.1:{stack.ports['web']}")
    faults = FaultInjector(FaultJournal(run_dir / "faults.jsonl"))
    faults.apply(ToxicFault(client, "web", "latency", {"latency": 5000}))
    faults.apply(ProcessFault(ProcessHandle("web", lambda: stack.pid("web")), "pause"))
    faults.apply(ConfigFault("promotion", stack.url("conf") + "/config", {"percent": 50}))
    print(json.dumps({"web": stack.pid("web"), "conf": stack.pid("conf"), "port": stack.ports["conf"]}), flush=True)
    sys.stdin.read()
"""

TARGET = """\
name: orphans
services:
  web:
    port: 1
    health: /
    command: [sh, -c, "{python} -m http.server {port} --bind 127.0.0.1 & wait"]
  conf:
    port: 1
    health: /config
    command: ["{python}", conf.py, "{port}"]
"""

CONF = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from tests.support.http import send_json

config = {"percent": 5}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        send_json(self, 200, config)

    def do_PUT(self):
        config.update(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        send_json(self, 200, config)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


class _Stranger(BaseHTTPRequestHandler):
    """Whatever listens on the dead run's port now: it must hear nothing from the heal."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        send_json(self, 200, {"percent": 99})

    def do_PUT(self) -> None:
        self.requests.append(f"PUT {self.path}")
        send_json(self, 200, {})

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _state(pid: int) -> str:
    """The process's state letter from /proc (T: stopped), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.mark.integration
@pytest.mark.parametrize("kill", ["process", "group"])
def test_after_sigkill_the_next_heal_recovers_everything(kill: str, tmp_path: Path) -> None:
    (tmp_path / "target.yaml").write_text(TARGET)
    (tmp_path / "conf.py").write_text(CONF)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(run_dir), str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
    )  # fmt: skip
    stranger: ThreadingHTTPServer | None = None
    try:
        assert harness.stdout is not None
        pids = json.loads(harness.stdout.readline())
        worker = psutil.Process(pids["web"]).children()[0].pid  # web's http.server, in web's group
        wait_until(lambda: _state(worker) == "T", timeout=5, what="web's worker to stop with its group")
        (os.killpg if kill == "group" else os.kill)(harness.pid, signal.SIGKILL)
        harness.wait()

        # The parent-death signal ends `conf`; its port is free, and another process takes it.
        wait_until(lambda: _state(pids["conf"]) in ("Z", "gone"), timeout=10, what="conf to exit")
        stranger = ThreadingHTTPServer(("127.0.0.1", pids["port"]), _Stranger)
        threading.Thread(target=stranger.serve_forever, daemon=True).start()
        assert _state(worker) == "T"  # the pause outlives the run: nobody resumes it but a heal
        data = next(Path(r["remove"]) for r in read_ledger(run_dir) if r["role"] == "postgres")
        assert data.is_dir()

        healed = heal_leftovers([run_dir])
        by = {h.fault.split(" on ")[0] if " on " in h.fault else h.fault: h for h in healed}
        assert (by["f2 pause"].status, by["f2 pause"].outcome) == ("healed", f"resumed process {pids['web']}")
        assert by["f1 latency"].status == "healed"
        assert by["f3 set"].status == "abandoned"
        assert f"the service that served http://127.0.0.1:{pids['port']}/config" in by["f3 set"].outcome
        assert "nothing sent" in by["f3 set"].outcome
        assert any(h.status == "stopped" and h.fault.startswith("service web") for h in healed)
        assert any(h.status == "removed" and h.outcome == f"removed {data}" for h in healed)
        assert _state(worker) in ("Z", "gone")  # resumed, then stopped with its group
        assert not data.exists()
        assert _Stranger.requests == []
        settled = {e["id"]: e["event"] for e in read_journal(run_dir / "faults.jsonl")[3:]}
        assert settled == {"f1": "healed", "f2": "healed", "f3": "heal_abandoned"}

        again = _heal(str(run_dir))
        assert (again.returncode, again.stdout.strip()) == (0, "nothing to heal"), again.stderr
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        if stranger is not None:
            stranger.shutdown()
            stranger.server_close()
        stop_recorded(run_dir)
