"""A target's Docker Compose project: the services ``target.yaml`` declares with ``compose:``.

>>> project = ComposeProject(target, log_dir=Path("reports/run/logs"))    # doctest: +SKIP
>>> project.up({"api": "api"}, {"api": {"WALLETPAY_PORT": "9201"}})        # doctest: +SKIP
>>> project.down()                                                         # doctest: +SKIP

Each run brings up a project of its own, ``<project>-<unique suffix>``, so it never touches the
user's. The environment paychaos gives each service (its ports, its links' addresses: that is how
a link goes through its fault proxy) is written to an override file, mode 0600 since it holds
DSNs, beside the service logs; the project comes up from the user's file and that override.
Images must be on the machine already: paychaos never pulls or builds. Containers use the host's
network (``network_mode: host``), so they reach the proxies paychaos listens with on loopback.

A harness that is killed leaves containers running (unlike its processes), so the project is
recorded in the run's ledger before it comes up, and a heal removes what is left of it through
the Docker engine (:func:`remove_project`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from paychaos._docker import docker_engine
from paychaos._ownership import record_compose
from paychaos.errors import InfrastructureError
from paychaos.system._model import ComposeSpec, Target

COMPOSE_ENV = "PAYCHAOS_COMPOSE"
"""Names the Compose command (split on spaces), over compose.command and the default."""
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
DOWN_OPTIONS = ("down", "--remove-orphans", "--volumes", "--timeout", "5")
_MAX_FILE = 1 << 20  # a Compose file larger than this is not read at load time


def compose_command(spec: ComposeSpec | None, env: Mapping[str, str] | None = None) -> list[str]:
    """The Compose command: ``PAYCHAOS_COMPOSE``, else ``compose.command``, else ``docker compose``
    (v2) where ``docker compose version`` works, else ``docker-compose`` on PATH."""
    given = (os.environ if env is None else env).get(COMPOSE_ENV, "").split()
    if given:
        return given
    if spec is not None and spec.command:
        return list(spec.command)
    return list(_default_command())


@functools.cache
def _default_command() -> tuple[str, ...]:
    docker = shutil.which("docker")
    if docker is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            found = subprocess.run(
                [docker, "compose", "version"], capture_output=True, timeout=30, check=False
            )
            if found.returncode == 0:
                return ("docker", "compose")
    if shutil.which("docker-compose") is not None:
        return ("docker-compose",)
    raise InfrastructureError(
        "no Docker Compose here: `docker compose version` does not work (the v2 plugin) and there is no "
        "docker-compose on PATH (v1; Debian: apt-get install docker-compose); install one, or name "
        f"yours in compose.command or {COMPOSE_ENV}"
    )


@functools.cache
def _supports(command: tuple[str, ...], subcommand: str, option: str) -> bool:
    """Does this Compose's ``subcommand`` take ``option``? (Debian's docker-compose 1.29 has no
    ``up --pull``.)"""
    try:
        found = subprocess.run([*command, subcommand, "--help"], capture_output=True, text=True,
                               timeout=30, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in found.stdout + found.stderr


def file_services(path: Path) -> dict[str, dict[str, Any]] | None:
    """The services a Compose file declares, as written (no interpolation); None if it cannot be read
    as YAML (``paychaos validate --connect`` asks Compose itself)."""
    try:
        if path.stat().st_size > _MAX_FILE:
            return None
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return {} if isinstance(data, dict) else None
    return {str(name): spec if isinstance(spec, dict) else {} for name, spec in services.items()}


def not_host_network(service: Mapping[str, Any]) -> str | None:
    """What a Compose service says instead of ``network_mode: host`` (None when it says that)."""
    mode = service.get("network_mode")
    if mode == "host":
        return None
    return "no network_mode" if mode is None else f"network_mode: {mode}"


def _escaped(value: str) -> str:
    return value.replace("$", "$$")  # Compose interpolates $NAME in every value of its files


class ComposeProject:
    """One run's Compose project: up, health of its containers, logs, restart, down."""

    def __init__(self, target: Target, *, log_dir: Path, project: str | None = None) -> None:
        """``project``: the project's name (default: the target's compose.project, or its name, with a
        unique suffix)."""
        assert target.compose is not None
        self.spec = target.compose
        self.root = target.root
        self.file = (target.root / target.compose.file).resolve()
        self.name = project or f"{target.compose.project or target.name}-{secrets.token_hex(3)}"
        self.log_dir = log_dir
        self.override = log_dir / "compose.override.yaml"
        self.log = log_dir / "compose.log"  # what the Compose commands said
        self.services: dict[str, str] = {}  # target service -> Compose service, once up
        self._command: list[str] | None = None

    @property
    def command(self) -> list[str]:
        if self._command is None:
            self._command = compose_command(self.spec)
        return self._command

    def argv(self, *args: str, override: bool = True) -> list[str]:
        files = ["-f", str(self.file)] + (["-f", str(self.override)] if override else [])
        return [*self.command, "-p", self.name, *files, *args]

    def down_command(self) -> str:
        """The command that takes the project down, for a person to run later."""
        return shlex.join(self.argv(*DOWN_OPTIONS, override=False))

    def run(self, *args: str, timeout: float, what: str, override: bool = True, log: bool = True) -> str:
        """Run a Compose command from the target's folder; its output, or InfrastructureError with it."""
        argv = self.argv(*args, override=override)
        try:
            done = subprocess.run(argv, cwd=self.root, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout, check=False)  # fmt: skip
        except FileNotFoundError as exc:
            raise InfrastructureError(
                f"cannot {what}: no {self.command[0]!r} to run ({exc.strerror}); install Docker Compose, "
                f"or name yours in compose.command or {COMPOSE_ENV}"
            ) from None
        except subprocess.TimeoutExpired:
            raise InfrastructureError(f"cannot {what}: `{shlex.join(argv)}` took over {timeout:g}s") from None
        if log:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log, "a", encoding="utf-8") as out:
                out.write(f"$ {shlex.join(argv)}\n{done.stdout}{done.stderr}(exit code {done.returncode})\n")
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-15:]
            raise InfrastructureError(
                f"cannot {what}: `{shlex.join(argv)}` failed (exit code {done.returncode}):\n"
                + "\n".join(said)
            )
        return done.stdout

    # -- up ---------------------------------------------------------------------------------------
    def write_override(self, environments: Mapping[str, Mapping[str, str]]) -> None:
        """The override file: each Compose service's environment (mode 0600: it holds DSNs)."""
        data = {"services": {service: {"environment": {k: _escaped(v) for k, v in env.items()}}
                             for service, env in environments.items()}}  # fmt: skip
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.override.unlink()
        fd = os.open(self.override, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(data, out, sort_keys=False)

    def up(self, services: Mapping[str, str], environments: Mapping[str, Mapping[str, str]]) -> None:
        """Bring up ``services`` (target service -> Compose service) with their environments (by
        Compose service), from images already on the machine; wait for nothing."""
        self.write_override(environments)
        wanted = list(dict.fromkeys(services.values()))
        self._check_config(wanted)
        # Recorded before it comes up: a harness killed during `up` leaves containers too.
        record_compose(self.name, "up", file=str(self.file), command=self.command, cwd=str(self.root))
        self.services = dict(services)
        never_pull = ["--pull", "never"] if _supports(tuple(self.command), "up", "--pull") else []
        self.run("up", "-d", "--no-build", *never_pull, *wanted, timeout=300,
                  what=f"bring up the Compose project {self.name}")  # fmt: skip

    def config(self, *, override: bool = True, log: bool = True) -> dict[str, dict[str, Any]]:
        """The services of the project as Compose resolves them (interpolated, the override merged)."""
        text = self.run(
            "config", timeout=60, what=f"read the Compose file {self.file}", override=override, log=log
        )
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InfrastructureError(f"`{shlex.join(self.argv('config'))}` said no YAML: {exc}") from None
        services = data.get("services") if isinstance(data, dict) else None
        return services if isinstance(services, dict) else {}

    def _check_config(self, wanted: Sequence[str]) -> None:
        """Each service exists, uses the host's network, and has its image here (nothing is pulled)."""
        services = self.config()
        problems = []
        for name in wanted:
            service = services.get(name)
            if not isinstance(service, dict):
                problems.append(f"{self.file} has no service {name!r}")
            elif (other := not_host_network(service)) is not None:
                problems.append(f"Compose service {name!r} has {other}; paychaos needs network_mode: host")
        problems += missing_images({n: services[n] for n in wanted if isinstance(services.get(n), dict)})
        if problems:
            raise InfrastructureError(
                f"cannot bring up the Compose project {self.name}: " + "; ".join(problems)
            )

    # -- while up ---------------------------------------------------------------------------------
    def state(self, service: str) -> tuple[str, int | None] | None:
        """The status of the Compose service's container (``running``, ``exited``, …) and its exit code;
        None if it has none."""
        for container in project_containers(self.name, service):
            attrs = container.attrs.get("State", {})
            return str(container.status), attrs.get("ExitCode")
        return None

    def logs(self, service: str, *, tail: int | None = None) -> str:
        """What the Compose service's container has written (what ``<compose> logs --no-color SERVICE``
        says, without its prefixes), read from the engine: a Compose command takes a second to start."""
        import docker.errors

        try:
            containers = project_containers(self.name, service)
            said = [c.logs(tail=tail if tail is not None else "all") for c in containers]
        except (InfrastructureError, docker.errors.DockerException) as exc:
            return f"(no logs: {exc})"
        return b"".join(said).decode("utf-8", errors="replace")

    def save_logs(self) -> None:
        """Each service's log, into ``{service}.log`` in the log folder (as command services')."""
        for target_service, service in self.services.items():
            (self.log_dir / f"{target_service}.log").write_text(self.logs(service), encoding="utf-8")

    def restart(self, service: str) -> None:
        self.run("restart", "--timeout", "5", service, timeout=60, what=f"restart Compose service {service}")

    # -- down -------------------------------------------------------------------------------------
    def down(self) -> None:
        """Save every service's log, then remove the project's containers, networks and volumes."""
        if not self.services:
            return
        self.save_logs()
        try:
            self.run(*DOWN_OPTIONS, timeout=120, what=f"take down the Compose project {self.name}")
        except InfrastructureError:
            remove_project(self.name)  # through the engine, whatever Compose's problem was
            if project_containers(self.name):
                raise
        record_compose(self.name, "down")
        self.services = {}
        with contextlib.suppress(FileNotFoundError):
            self.override.unlink()  # it holds DSNs; the project it described is gone

    def keep(self) -> str:
        """Leave the project up on purpose: save the logs so far; returns the command that takes it down."""
        if not self.services:
            return ""
        self.save_logs()
        command = self.down_command()
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(f"kept up; take it down with: {command}\n")
        record_compose(self.name, "kept", down=command)
        self.services = {}
        return command


# -- through the Docker engine ------------------------------------------------------------------


def project_containers(project: str, service: str | None = None) -> list[Any]:
    """Every container (running or not) of a Compose project, or of one service of it."""
    labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
    engine = docker_engine()
    try:
        return list(engine.containers.list(all=True, filters={"label": labels}))
    finally:
        engine.close()


def missing_images(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why some of these Compose services (as ``config`` resolves them) cannot start from an image
    on this machine: paychaos never pulls or builds."""
    import docker.errors

    problems = []
    engine = docker_engine()
    try:
        for name, service in services.items():
            image = service.get("image")
            if not isinstance(image, str):
                problems.append(
                    f"Compose service {name!r} names no image, and paychaos never builds; give it "
                    f"image: NAME, and build that first (docker compose build {name})"
                )
                continue
            try:
                engine.images.get(image)
            except docker.errors.ImageNotFound:
                how = f"docker compose build {name}" if "build" in service else f"docker pull {image}"
                problems.append(f"the image {image!r} of Compose service {name!r} is not on this machine, "
                                f"and paychaos never pulls or builds; make it first ({how})")  # fmt: skip
    finally:
        engine.close()
    return problems


def remove_project(project: str, *, log_dir: Path | None = None) -> list[str]:
    """Remove every container of a Compose project, then its networks and volumes, through the engine;
    saving each container's log into ``log_dir`` first (``{service}.log``) if given. Returns the
    short ids of the containers removed."""
    import docker.errors

    label = f"{PROJECT_LABEL}={project}"
    engine = docker_engine()
    removed = []
    try:
        for container in engine.containers.list(all=True, filters={"label": label}):
            if log_dir is not None and log_dir.is_dir():
                service = container.labels.get(SERVICE_LABEL, container.name)
                with (
                    contextlib.suppress(docker.errors.DockerException, OSError),
                    open(log_dir / f"{service}.log", "ab") as out,
                ):
                    out.write(container.logs())
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                removed.append(container.short_id)
        for network in engine.networks.list(filters={"label": label}):
            with contextlib.suppress(docker.errors.DockerException):
                network.remove()
        for volume in engine.volumes.list(filters={"label": label}):
            with contextlib.suppress(docker.errors.DockerException):
                volume.remove(force=True)
    finally:
        engine.close()
    return removed


def connect_check(target: Target) -> tuple[list[str], list[str]]:
    """For ``paychaos validate --connect``: whether the target's Compose project could come up now,
    starting nothing: the Compose command works, the file is one Compose reads, and each declared
    service uses the host's network and has its image on this machine. Returns what was found
    (lines), and the problems (lines, each saying what to do)."""
    declared = [s.compose for s in target.services.values() if s.compose is not None]
    if target.compose is None or not declared:
        return [], []
    project = ComposeProject(target, log_dir=Path(os.devnull), project="paychaos-validate")
    try:
        command = shlex.join(project.command)
        project.run("config", "-q", timeout=60, what=f"check {project.file}", override=False, log=False)
        services = project.config(override=False, log=False)
    except InfrastructureError as exc:
        return [], [str(exc)]
    problems = [f"{project.file} has no service {name!r}" for name in declared if name not in services]
    for name in declared:
        other = not_host_network(services.get(name, {"network_mode": "host"}))
        if other is not None:
            problems.append(f"Compose service {name!r} has {other}; paychaos needs network_mode: host")
    try:
        problems += missing_images({n: services[n] for n in declared if isinstance(services.get(n), dict)})
    except InfrastructureError as exc:
        problems.append(str(exc))
    found = [f"Compose ({command}) reads {project.file}"] if not problems else []
    if not problems:
        found.append(f"the images of {', '.join(declared)} are on this machine")
    return found, problems
