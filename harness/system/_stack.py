"""Running a target's services: start, health-wait, restart, stop.

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

A service is one of three kinds (``ServiceSpec.kind``): a ``command`` run as a
local process, as above; a service of the target's Docker Compose project
(``compose``), brought up in a project of the stack's own and taken down at
stop (or left up with ``keep``, see :mod:`paychaos.system._compose`); or a
service already running at a ``url``, which the stack only waits for: it starts,
stops and restarts nothing of it, and cannot route its links.
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
from paychaos.system._compose import ComposeProject
from paychaos.system._model import PLACEHOLDER, POSTGRES, Target, service_address


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
        keep: bool = False,
    ) -> None:
        """``keep``: stop() leaves the Compose project up (and says how to take it down: ``kept``)."""
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
        not_commands = sorted(n for n in self.args if target.services[n].kind != "command")
        if not_commands:
            raise InvalidInput(f"only services paychaos starts with a command take extra arguments; "
                               f"not {', '.join(not_commands)}")  # fmt: skip
        if target.postgres and postgres is None:
            raise InvalidInput(f"target {target.name!r} needs PostgreSQL; give it a server")
        self.ports: dict[str, int] = {}
        for name, s in target.services.items():
            if s.url is not None:
                self.ports[name] = service_address(s.url)[1]  # where it runs already
            elif ports == "target" or (ports != "auto" and name not in ports):
                assert s.port is not None
                self.ports[name] = s.port
            else:
                self.ports[name] = free_port() if ports == "auto" else ports[name]
        self.keep = keep
        self.kept: str | None = None
        """Once stop() has left the Compose project up (``keep``): the command that takes it down."""
        has_compose = target.compose is not None and bool(target.services_of("compose"))
        self.compose = ComposeProject(target, log_dir=log_dir) if has_compose else None
        self._running: dict[str, _Running] = {}

    # -- addresses -------------------------------------------------------------------
    def url(self, service: str) -> str:
        spec = self.target.services[service]
        if spec.url is not None:
            return spec.url.rstrip("/")
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def compose_project(self) -> str | None:
        """The name of the stack's own Compose project (None without compose services)."""
        return self.compose.name if self.compose is not None else None

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
        peer = self.target.services[spec.to]
        if peer.url is not None:
            return Address(*service_address(peer.url))
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
        spec = self.target.services[service]
        if spec.command is None:
            raise InvalidInput(f"{service} is a {spec.kind} service: paychaos starts no command of it")
        filled = [PLACEHOLDER.sub(lambda m: self._fill(service, m.group(1), in_argv=True), part)
                  for part in spec.command]  # fmt: skip
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

    def compose_environment(self, service: str) -> dict[str, str]:
        """What the override file gives a compose service: the target's env, the service's
        (placeholders filled, DSNs with their password), defects, and ``PGPASSWORD``; not paychaos's."""
        env = self.shared_environment()
        for name, value in self.target.services[service].env.items():
            env[name] = PLACEHOLDER.sub(lambda m: self._fill(service, m.group(1)), value)
        if self.target.defects_env:
            env[self.target.defects_env] = ",".join(self.defects)
        if self.postgres is not None and self.postgres.password:
            env["PGPASSWORD"] = self.postgres.password
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
        kind = self.target.services[service].kind
        if kind != "command":
            raise InvalidInput(f"{service} is a {kind} service: paychaos runs no process of it")
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
        """Create the databases, start every service (command and compose), and wait until all,
        url services too, are healthy."""
        owned = [name for name, spec in self.target.services.items() if spec.url is None]
        taken = [f"{name} ({self.ports[name]})" for name in owned if port_in_use(self.ports[name])]
        if taken:
            raise InfrastructureError(
                f"ports already in use: {', '.join(taken)}; stop what holds them "
                "(another `paychaos stack up`?) or use automatic ports (--ports auto)"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.postgres is not None and self.target.postgres is not None:
            self.postgres.create_databases([self.database(d) for d in self.target.postgres.databases])
        try:
            for name in self.target.services_of("command"):
                self._spawn(name)
            if self.compose is not None:
                declared = {name: self._compose_name(name) for name in self.target.services_of("compose")}
                self.compose.up(
                    declared, {declared[name]: self.compose_environment(name) for name in declared}
                )
            self._wait_healthy(list(self.target.services))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM every service's process, give them a few seconds, then SIGKILL what is left; take
        the Compose project down (its logs saved first), unless ``keep``. url services are left alone."""
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
        if self.compose is not None:
            if self.keep:
                self.kept = self.compose.keep() or self.kept
            else:
                self.compose.down()

    def restart(self, service: str) -> None:
        """Stop one service (SIGKILL if it will not stop) and start it again with its command; a
        compose service's container is restarted. Either way, wait until it is healthy again."""
        spec = self.target.services[service]
        if spec.url is not None:
            raise InvalidInput(
                f"{service} is a url service: paychaos only attaches to it, and cannot restart it"
            )
        if self.compose is not None and spec.compose is not None:
            self.compose.restart(spec.compose)
            self._wait_healthy([service])
            return
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
        """Services that stopped, with their exit codes: commands whose process ended, and Compose
        services whose container exited (-1 when the engine gives no code)."""
        done = {n: code for n, r in self._running.items() if (code := r.process.poll()) is not None}
        if self.compose is not None:
            for name in self.target.services_of("compose"):
                state = self.compose.state(self._compose_name(name))
                if state is not None and state[0] in ("exited", "dead"):
                    done[name] = -1 if state[1] is None else int(state[1])
        return done

    def _compose_name(self, service: str) -> str:
        name = self.target.services[service].compose
        assert name is not None
        return name

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
        looked = 0.0  # when the compose containers' states were last asked for
        while pending:
            look = self.compose is not None and time.monotonic() - looked > 0.5
            looked = time.monotonic() if look else looked
            for name in sorted(pending):
                if self._healthy_or_fail(name, deadline[name], look=look):
                    pending.discard(name)
            if pending:
                time.sleep(0.05)

    def _healthy_or_fail(self, name: str, deadline: float, *, look: bool) -> bool:
        """Is the service healthy yet? InfrastructureError if it never will be (ended, or too late)."""
        spec = self.target.services[name]
        r = self._running.get(name)
        if r is not None and r.process.poll() is not None:
            raise InfrastructureError(
                f"service {name!r} exited with code {r.process.returncode} while starting; "
                f"its log ({r.log}) ends:\n{tail(r.log)}"
            )
        ended = None
        if look and spec.compose is not None and self.compose is not None:
            state = self.compose.state(spec.compose)
            if state is not None and state[0] in ("exited", "dead"):
                ended = f"its container exited with code {state[1]} while starting"
        if ended is None and self.healthy(name):
            return True
        if ended is None and time.monotonic() <= deadline:
            return False
        health = f"{self.url(name)}{spec.health}"
        late = f"was not healthy within {spec.start_timeout:g}s"
        if r is not None:
            raise InfrastructureError(f"service {name!r} {late}; its log ({r.log}) ends:\n{tail(r.log)}")
        if spec.url is not None:
            raise InfrastructureError(
                f"service {name!r} at {spec.url} {late} (GET {health} answered no 2xx): paychaos only "
                "attaches to a url service; start it first, or fix its url or health"
            )
        assert self.compose is not None
        assert spec.compose is not None
        logs = self.compose.logs(spec.compose, tail=25).rstrip() or "(nothing)"
        raise InfrastructureError(
            f"service {name!r} (Compose service {spec.compose} of project {self.compose.name}): "
            f"{ended or late} (GET {health}); its container's log (saved in {self.log(name)}) ends:\n{logs}"
        )


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
