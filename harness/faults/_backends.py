"""Choosing and starting the Toxiproxy backend a run injects network faults through.

In order of preference:

1. ``external``: a Toxiproxy the user already runs (``--toxiproxy URL`` or ``TOXIPROXY_URL``);
2. ``binary``: ``toxiproxy-server`` on PATH, started and stopped by the harness;
3. ``docker``: a local Toxiproxy image (never pulled) run with host networking;
4. ``embedded``: paychaos's own Toxiproxy-compatible server, in a child process.

Whichever runs, the harness talks to it through the same :class:`ToxiproxyClient`,
and the run's results say which one it was and why the others were passed over.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from paychaos._ownership import Stamp, record_process
from paychaos._process import free_port, parent_death_signal, stop_child, tail
from paychaos.errors import InfrastructureError
from paychaos.faults._client import ToxiproxyClient

BackendKind = Literal["external", "binary", "docker", "embedded"]
BINARY = "toxiproxy-server"
IMAGES = ("ghcr.io/shopify/toxiproxy", "shopify/toxiproxy")


@dataclass
class Backend:
    """A running Toxiproxy API; ``close()`` stops it if the harness started it."""

    kind: BackendKind
    url: str
    version: str
    detail: str
    passed_over: list[str] = field(default_factory=list)
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def client(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.url)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, "version": self.version, "detail": self.detail,
                "passed_over": self.passed_over}  # fmt: skip

    def close(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_backend(
    url: str | None = None,
    *,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    use_docker: bool = True,
) -> Backend:
    """Start (or connect to) the most preferred backend available here."""
    env = os.environ if env is None else env
    given = url or env.get("TOXIPROXY_URL")
    if given:
        client = ToxiproxyClient(given)
        if not client.reachable():
            source = "--toxiproxy" if url else "TOXIPROXY_URL"
            raise InfrastructureError(
                f"the Toxiproxy at {given} (from {source}) does not answer; "
                "start it, fix the URL, or unset it to let paychaos run its own"
            )
        return Backend("external", client.url, client.version(), f"given as {given}")
    passed_over = ["external: no --toxiproxy URL and no TOXIPROXY_URL"]
    binary = shutil.which(BINARY, path=env.get("PATH"))
    if binary:
        return _started(_spawn_binary(binary, log_dir), passed_over)
    passed_over.append(f"binary: no {BINARY} on PATH")
    if use_docker:
        found, reason = _docker_image()
        if found is not None:
            engine, image = found
            return _started(_run_container(engine, image), passed_over)
        passed_over.append(f"docker: {reason}")
    else:
        passed_over.append("docker: not tried (disabled)")
    return _started(_spawn_embedded(log_dir), passed_over)


def _started(backend: Backend, passed_over: list[str]) -> Backend:
    backend.passed_over = passed_over
    return backend


def _wait_ready(url: str, alive: Callable[[], bool], describe: Callable[[], str], within: float = 15) -> str:
    client = ToxiproxyClient(url, timeout=1)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive():
            raise InfrastructureError(f"the Toxiproxy backend exited while starting: {describe()}")
        if client.reachable():
            return client.version()
        time.sleep(0.05)
    raise InfrastructureError(
        f"the Toxiproxy backend did not answer at {url} within {within:g}s: {describe()}"
    )


def _stop_process(process: subprocess.Popen[bytes]) -> Callable[[], None]:
    return functools.partial(stop_child, process)


def _spawn_binary(binary: str, log_dir: Path) -> Backend:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "toxiproxy.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [binary, "-host", "127.0.0.1", "-port", str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=parent_death_signal(signal.SIGTERM),
        )  # fmt: skip
    record_process("toxiproxy", binary, process.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        version = _wait_ready(url, lambda: process.poll() is None, lambda: tail(log))
    except InfrastructureError:
        _stop_process(process)()
        raise
    return Backend("binary", url, version, f"{binary} (pid {process.pid})", _stop=_stop_process(process))


def _spawn_embedded(log_dir: Path) -> Backend:
    # A child process, not a thread: the proxy's data path gets its own interpreter
    # (and core) instead of competing with the harness for the GIL.
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "toxiproxy.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "paychaos.faults.toxiproxy_server", "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=out,
            start_new_session=True, preexec_fn=parent_death_signal(signal.SIGTERM),
        )  # fmt: skip
    record_process("toxiproxy", "embedded", process.pid)
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()  # "toxiproxy_server listening on http://…"
    if "listening on " not in line:
        process.wait(timeout=5)
        raise InfrastructureError(f"the embedded Toxiproxy server did not start: {line or tail(log)}")
    url = line.rsplit(" ", 1)[-1]
    version = _wait_ready(url, lambda: process.poll() is None, lambda: tail(log))
    return Backend(
        "embedded", url, version, f"paychaos's own server (pid {process.pid})", _stop=_stop_process(process)
    )


def _docker_image() -> tuple[tuple[Any, str] | None, str]:
    """A reachable engine and a local Toxiproxy image, or why not."""
    try:
        import docker
    except ImportError:
        return None, "the docker package is not installed"
    try:
        engine = docker.from_env(timeout=5)
        engine.ping()
    except Exception as exc:  # the SDK raises several unrelated types for "no engine"
        return None, f"no Docker engine reachable ({type(exc).__name__})"
    wanted = (
        [os.environ["PAYCHAOS_TOXIPROXY_IMAGE"]] if "PAYCHAOS_TOXIPROXY_IMAGE" in os.environ else list(IMAGES)
    )
    for image in engine.images.list():
        for tag in image.tags:
            if any(tag == name or tag.startswith(f"{name}:") for name in wanted):
                return (engine, tag), ""
    engine.close()
    return None, f"no local image named {' or '.join(wanted)} (images are never pulled)"


def _run_container(engine: Any, image: str) -> Backend:
    port = free_port()
    me = Stamp.me()
    container = engine.containers.run(
        image, ["-host=127.0.0.1", f"-port={port}"], detach=True, network_mode="host", remove=True,
        name=f"paychaos-toxiproxy-{os.getpid()}-{port}",
        # A container does not die with the harness; the owner labels let `paychaos heal` find orphans.
        labels={"paychaos.role": "toxiproxy", "paychaos.owner": str(me.pid),
                "paychaos.owner-created": str(me.created)},
    )  # fmt: skip

    def alive() -> bool:
        with contextlib.suppress(Exception):
            container.reload()
            return bool(container.status in ("created", "running"))
        return False

    def stop() -> None:
        with contextlib.suppress(Exception):
            container.stop(timeout=2)
        engine.close()

    url = f"http://127.0.0.1:{port}"
    try:
        version = _wait_ready(url, alive, lambda: f"container {container.short_id} of {image}")
    except InfrastructureError:
        stop()
        raise
    return Backend("docker", url, version, f"{image} (container {container.short_id})", _stop=stop)
