"""Running Locust headless in a child process, on paychaos's locustfile.

Nothing here imports Locust: the harness only starts the ``locust`` command,
hands it its configuration in a JSON file, and reads the history it writes.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from paychaos._ownership import record_process
from paychaos._process import free_port, parent_death_signal, tail
from paychaos.errors import InfrastructureError
from paychaos.experiment import Load
from paychaos.rundir import RunDir
from paychaos.system import LoadSpec

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


class LocustProcess:
    def __init__(
        self,
        run_dir: Path,
        *,
        load: Load,
        scenarios: dict[str, int],
        seed: int,
        module: str | None = None,
        target_load: LoadSpec | None = None,
        host: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.folder = RunDir(run_dir)
        self.history = self.folder.history
        self.log = self.folder.locust_log
        self.spec: dict[str, Any] = {
            # only what differs from the defaults: the child validates it again, and an open loop
            # refuses a closed loop's keys (users, spawn_rate, wait) even at their default values
            "load": load.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            "scenarios": scenarios,
            "seed": seed,
            "module": module,  # Python scenarios: SCENARIOS, payment_of, outcome_of
            # the scenarios target.yaml describes in steps, its payment: and values: (None: only Python)
            "target_load": target_load.model_dump(mode="json", by_alias=True) if target_load else None,
            "history": str(self.history),
        }
        self._load = load
        self._host = host
        self._env = env or {}  # the target's environment: its scenarios see what its services see
        self._proc: subprocess.Popen[bytes] | None = None

    @functools.cached_property
    def _local_master_port(self) -> int:
        """The loopback port the master of ``--processes`` listens on: free now, chosen once per run."""
        return free_port("127.0.0.1")

    def command(self) -> list[str]:
        # Let users finish the scenario they are in when the shape ends, so no
        # operation is cut off before it could be recorded.
        stop_timeout = max(5, round(self._load.timeout * 3 + 1))
        cmd = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", self._host,
            "--loglevel", "WARNING", "--only-summary", "--exit-code-on-error", "0",
            "--stop-timeout", str(stop_timeout),
        ]  # fmt: skip
        if self._load.processes > 1:
            # --processes forks a master and its workers; by default the master listens on every
            # interface at 5557, unauthenticated, and a second such run cannot start. Here the
            # master listens on loopback only, on a port of its own, and its forked workers
            # (which share these options) connect there.
            port = str(self._local_master_port)
            cmd += ["--processes", str(self._load.processes),
                    "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                    "--master-host", "127.0.0.1", "--master-port", port]  # fmt: skip
        if self._load.workers:
            host, _, port = self._load.master_bind.rpartition(":")
            cmd += ["--master", "--expect-workers", str(self._load.workers),
                    "--master-bind-host", host, "--master-bind-port", port]  # fmt: skip
        return cmd

    @property
    def worker_command(self) -> list[str]:
        """What a worker on another machine runs (with PAYCHAOS_LOAD_SPEC naming a copy of load.json)."""
        host, _, port = self._load.master_bind.rpartition(":")
        return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
                "--master-host", host, "--master-port", port]  # fmt: skip

    def start(self) -> None:
        self.history.mkdir(parents=True, exist_ok=True)
        spec_path = self.folder.load_spec
        spec_path.write_text(json.dumps(self.spec, indent=2))
        env = {**os.environ, **self._env, "PAYCHAOS_LOAD_SPEC": str(spec_path)}
        with open(self.log, "ab") as out:
            self._proc = subprocess.Popen(
                self.command(), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=parent_death_signal(signal.SIGTERM),
            )  # fmt: skip
        record_process("load", "locust", self._proc.pid)  # stopped by the next heal if this run dies

    @property
    def pid(self) -> int | None:
        """The Locust process's id once started (with ``processes`` > 1, the parent of its workers)."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check(self) -> None:
        """Raise if Locust ended with an error of its own (not a failed request)."""
        if self._proc is not None and self._proc.poll() not in (None, 0):
            code = self._proc.returncode
            raise InfrastructureError(
                f"Locust exited with code {code}; its log ({self.log}) ends:\n{tail(self.log)}"
            )

    def wait(self, timeout: float) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        self.check()

    def stop(self) -> None:
        """Stop the load now (Ctrl-C, a failed run): SIGTERM, then SIGKILL if it lingers."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        deadline = time.monotonic() + 10
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                return
            except subprocess.TimeoutExpired:
                continue
