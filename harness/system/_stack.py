"""Running a target's services as local processes: start, health-wait, restart, stop.

>>> with EmbeddedPostgres() as pg, Stack(load_target("targets/paystack"), pg, log_dir=tmp) as stack:
...     stack.url("merchant")                                    # doctest: +SKIP
'http://127.0.0.1:8101'

Each service runs in its own session (a Ctrl-C at the terminal reaches the
harness, which then stops the services in order) and is told by the kernel to
exit if the harness dies (``PR_SET_PDEATHSIG``). That signal reaches neither a
service's own workers nor, until resumed, a paused service; so within a run each
service is also recorded in the run's ledger, from which ``paychaos heal`` (or
the next run) stops what a killed run left (see :mod:`paychaos._ownership`).
A link can be *routed*: its address replaced by another (a fault proxy's), so
the service calls its peer through the proxy without knowing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from paychaos._ownership import record_process
from paychaos._process import free_port, parent_death_signal, port_in_use, tail
from paychaos.errors import InfrastructureError, InvalidInput, did_you_mean
from paychaos.postgres import Server
from paychaos.system._model import PLACEHOLDER, POSTGRES, Target


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class _Running:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]


class Stack:
    def __init__(
        self,
        target: Target,
        postgres: Server | None,
        *,
        log_dir: Path,
        defects: tuple[str, ...] = (),
        ports: Literal["target", "auto"] | Mapping[str, int] = "target",
        routes: Mapping[str, Address] | None = None,
        args: Mapping[str, list[str]] | None = None,
        db_prefix: str = "",
    ) -> None:
        self.target = target
        self.postgres = postgres
        self.log_dir = log_dir
        self.defects = check_defects(target, defects)
        self.db_prefix = db_prefix
        self.secret = secrets.token_hex(32)  # {secret}: fresh for every stack, never written down
        self.routes = dict(routes or {})
        self.args = {name: list(extra) for name, extra in (args or {}).items()}
        unknown = sorted(set(self.routes) - set(target.links)) + sorted(set(self.args) - set(target.services))
        if unknown:
            raise InvalidInput(f"no such link or service in target {target.name!r}: {', '.join(unknown)}")
        if target.postgres and postgres is None:
            raise InvalidInput(f"target {target.name!r} needs PostgreSQL; give it a server")
        if ports == "target":
            self.ports = {name: s.port for name, s in target.services.items()}
        elif ports == "auto":
            self.ports = {name: free_port() for name in target.services}
        else:
            self.ports = {name: ports.get(name, s.port) for name, s in target.services.items()}
        self._running: dict[str, _Running] = {}

    # -- addresses -------------------------------------------------------------------
    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def database(self, name: str) -> str:
        return f"{self.db_prefix}{name}"

    def dsn(self, database: str) -> str:
        """A direct (never proxied) DSN for one of the target's databases."""
        assert self.postgres is not None
        return self.postgres.dsn(self.database(database))

    def peer(self, link: str) -> Address:
        """Where ``link`` really leads: the service's port, or the PostgreSQL server."""
        spec = self.target.links[link]
        if spec.to == POSTGRES:
            assert self.postgres is not None
            return Address(self.postgres.host, self.postgres.port)
        return Address("127.0.0.1", self.ports[spec.to])

    def address(self, link: str) -> Address:
        """Where the source of ``link`` is told to connect: its route if one is set, else the peer."""
        return self.routes.get(link) or self.peer(link)

    def route(self, link: str, address: Address) -> None:
        """Send ``link``'s traffic to ``address`` (e.g. a fault proxy) from the next (re)start on."""
        if link not in self.target.links:
            raise InvalidInput(f"no link {link!r} in target {self.target.name!r}")
        self.routes[link] = address

    def command(self, service: str) -> list[str]:
        """The service's command with every placeholder filled in, then any extra arguments.

        Its DSNs carry no password: any local user can read a command line; the
        password goes in the environment (``PGPASSWORD``), which only the service's user can.
        """
        filled = [PLACEHOLDER.sub(lambda m: self._fill(service, m.group(1), in_argv=True), part)
                  for part in self.target.services[service].command]  # fmt: skip
        return filled + self.args.get(service, [])

    def environment(self, service: str) -> dict[str, str]:
        """The service's environment: ours, the target's, the service's (placeholders filled), defects."""
        env = {**os.environ, **self.shared_environment()}
        for name, value in self.target.services[service].env.items():
            env[name] = PLACEHOLDER.sub(lambda m: self._fill(service, m.group(1)), value)
        if self.target.defects_env:
            env[self.target.defects_env] = ",".join(self.defects)
        if self.postgres is not None and self.postgres.password:
            env["PGPASSWORD"] = self.postgres.password  # for the password-less DSNs of command()
        return env

    def shared_environment(self) -> dict[str, str]:
        """The target's own ``env:``, with ``{secret}`` filled in: what every service and the load see."""
        return {name: value.replace("{secret}", self.secret) for name, value in self.target.env.items()}

    def _fill(self, service: str, ref: str, *, in_argv: bool = False) -> str:
        if ref == "python":
            return sys.executable
        if ref == "secret":
            return self.secret
        if ref == "port":
            return str(self.ports[service])
        _, link, attr = ref.split(".")
        where = self.address(link)
        if attr == "address":
            return str(where)
        if attr == "url":
            return f"http://{where}"
        database = self.target.links[link].database
        assert self.postgres is not None
        assert database is not None
        return self.postgres.dsn(
            self.database(database), host=where.host, port=where.port, secret=not in_argv
        )

    def pid(self, service: str) -> int:
        return self._running[service].process.pid

    def log(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the databases, start every service, and wait until all are healthy."""
        taken = [f"{name} ({port})" for name, port in self.ports.items() if port_in_use(port)]
        if taken:
            raise InfrastructureError(
                f"ports already in use: {', '.join(taken)}; stop what holds them "
                "(another `paychaos stack up`?) or use automatic ports (--ports auto)"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.postgres is not None and self.target.postgres is not None:
            self.postgres.create_databases([self.database(d) for d in self.target.postgres.databases])
        try:
            for name in self.target.services:
                self._spawn(name)
            self._wait_healthy(list(self.target.services))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM every service, give them a few seconds, then SIGKILL what is left."""
        running, self._running = list(self._running.values()), {}
        for r in running:
            _signal_group(r.process, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for r in running:
            try:
                r.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(r.process, signal.SIGKILL)
                r.process.wait()

    def restart(self, service: str) -> None:
        """Stop one service (SIGKILL if it will not stop) and start it again with its command."""
        r = self._running.pop(service, None)
        if r is not None and r.process.poll() is None:
            _signal_group(r.process, signal.SIGCONT)  # a paused service cannot handle SIGTERM
            _signal_group(r.process, signal.SIGTERM)
            try:
                r.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(r.process, signal.SIGKILL)
                r.process.wait()
        self._spawn(service)
        self._wait_healthy([service])

    def exited(self) -> dict[str, int]:
        """Services whose process has ended, with their exit codes."""
        return {n: code for n, r in self._running.items() if (code := r.process.poll()) is not None}

    def _spawn(self, name: str) -> None:
        log = self.log(name)
        with open(log, "ab") as out:
            try:
                process = subprocess.Popen(
                    self.command(name),
                    cwd=self.target.root,
                    env=self.environment(name),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=parent_death_signal(signal.SIGTERM),
                )
            except OSError as exc:
                raise InfrastructureError(f"cannot start service {name!r}: {exc}") from exc
        self._running[name] = _Running(name, self.ports[name], log, process)
        # In the run's ledger (if a run is executing): what stops it should the harness be killed, when
        # the kernel's parent-death signal does not reach all of it (a worker in its group, a pause).
        record_process("service", name, process.pid, port=self.ports[name])

    def healthy(self, service: str, *, timeout: float = 1.0) -> bool:
        """Does the service answer its health URL with a 2xx now?"""
        return _healthy(f"{self.url(service)}{self.target.services[service].health}", timeout=timeout)

    def _wait_healthy(self, names: list[str]) -> None:
        pending = set(names)
        deadline = {n: time.monotonic() + self.target.services[n].start_timeout for n in names}
        while pending:
            for name in sorted(pending):
                r = self._running[name]
                if r.process.poll() is not None:
                    raise InfrastructureError(
                        f"service {name!r} exited with code {r.process.returncode} while starting; "
                        f"its log ({r.log}) ends:\n{tail(r.log)}"
                    )
                if _healthy(f"{self.url(name)}{self.target.services[name].health}"):
                    pending.discard(name)
                elif time.monotonic() > deadline[name]:
                    raise InfrastructureError(
                        f"service {name!r} was not healthy within "
                        f"{self.target.services[name].start_timeout:g}s; "
                        f"its log ({r.log}) ends:\n{tail(r.log)}"
                    )
            if pending:
                time.sleep(0.05)


def _healthy(url: str, *, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def check_defects(target: Target, defects: tuple[str, ...]) -> tuple[str, ...]:
    """The defect names, once each, in order; an unknown one is exit 2 with a did-you-mean."""
    for name in defects:
        if name not in target.defects:
            hint = did_you_mean(name, target.defects)
            known = ", ".join(sorted(target.defects)) or "none"
            raise InvalidInput(f"unknown defect {name!r} for target {target.name!r}; known: {known}{hint}")
    return tuple(dict.fromkeys(defects))
