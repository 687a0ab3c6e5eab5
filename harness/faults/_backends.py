"""Choosing and starting the Toxiproxy backend a run injects network faults through.

In order of preference:

1. ``external``: a Toxiproxy the user already runs (``--toxiproxy URL`` or ``TOXIPROXY_URL``);
2. ``binary``: ``toxiproxy-server`` on PATH, started and stopped by the harness;
3. ``docker``: a local Toxiproxy image (never pulled) run with host networking;
4. ``embedded``: paychaos's own Toxiproxy-compatible server, in a child process.

Whichever runs, the harness talks to it through the same :class:`ToxiproxyClient`,
and the run's results say which one it was and why the others were passed over.

The embedded server runs with ``--proxy-metrics``; at the end of the load the run reads
what each link's proxy carried from its API's ``/metrics`` (:func:`link_traffic`). A
Toxiproxy that serves none (started without ``-proxy-metrics``, or too old) is
recorded as not available, and the run goes on.
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

import httpx
from prometheus_client.parser import text_string_to_metric_families

from paychaos._ownership import Stamp, record_process
from paychaos._process import free_port, parent_death_signal, stop_child, tail
from paychaos.errors import InfrastructureError
from paychaos.faults._client import ToxiproxyClient
from paychaos.faults._journal import fault_windows

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
            [sys.executable, "-m", "paychaos.faults.toxiproxy_server", "--port", "0", "--proxy-metrics"],
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


# -- what each link's proxy carried (/metrics) -----------------------------------------------------

_RECEIVED = "toxiproxy_proxy_received_bytes_total"
_SENT = "toxiproxy_proxy_sent_bytes_total"
_CONNECTIONS = "toxiproxy_proxy_connections_total"
_DIRECTIONS = ("upstream", "downstream")
_OPEN_NOT_COUNTED = (
    "bytes of connections still open are not counted (this Toxiproxy adds a connection's bytes when it ends)"
)


@dataclass(frozen=True)
class ProxyTraffic:
    """A ``/metrics`` scrape's proxy counters: per proxy, bytes per direction and connections."""

    proxies: dict[str, dict[str, Any]]
    """Per proxy: ``connections`` (None if not counted) and, per direction, ``received`` and ``sent``."""
    counts_connections: bool
    """The embedded server counts connections (and live connections' bytes); Toxiproxy does not."""

    def of(self, proxy: str) -> dict[str, Any]:
        """``proxy``'s entry as results.json's ``traffic.links`` has it (zeros if it carried nothing)."""
        found = self.proxies.get(proxy)
        entry = dict(found) if found is not None else _zero(self.counts_connections)
        entry["note"] = None if self.counts_connections else _OPEN_NOT_COUNTED
        return entry


def _zero(counts_connections: bool) -> dict[str, Any]:
    return {"connections": 0 if counts_connections else None, "upstream": {"received": 0, "sent": 0},
            "downstream": {"received": 0, "sent": 0}}  # fmt: skip


def parse_traffic(text: str) -> ProxyTraffic | None:
    """The proxy counters of a ``/metrics`` scrape (Prometheus text); None if it has none.

    Bytes received and sent per direction (``upstream``: from the client to the server), summed over
    a proxy's other labels (a proxy given another listener or upstream keeps counting under its name);
    connections counted once each (every connection has a link in both directions).
    Raises ValueError if ``text`` is not Prometheus text.
    """
    proxies: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in (_RECEIVED, _SENT, _CONNECTIONS):
                continue
            proxy, direction = sample.labels.get("proxy"), sample.labels.get("direction")
            if proxy is None or direction not in _DIRECTIONS:
                continue
            names.add(sample.name)
            entry = proxies.setdefault(proxy, _zero(True))
            if sample.name == _CONNECTIONS:
                if direction == "upstream":
                    entry["connections"] += int(sample.value)
            else:
                entry[direction]["received" if sample.name == _RECEIVED else "sent"] += int(sample.value)
    if not names & {_RECEIVED, _SENT}:
        return None
    counts_connections = _CONNECTIONS in names
    if not counts_connections:
        for entry in proxies.values():
            entry["connections"] = None
    return ProxyTraffic(proxies, counts_connections)


def link_traffic(links: Mapping[str, tuple[str, str]], *, timeout: float = 5.0) -> dict[str, Any]:
    """What each link's proxy carried so far, read from its Toxiproxy's ``/metrics`` (results.json's
    ``traffic``): ``links`` maps each link to ``(API URL, proxy name)``.

    Each API is read once. One that serves no proxy metrics (no ``/metrics``, or one without
    Toxiproxy's proxy counters) makes its links "not available", with why; nothing is raised.
    """
    scraped: dict[str, ProxyTraffic | str] = {}
    for api, _ in links.values():
        if api not in scraped:
            scraped[api] = _scrape(api, timeout)
    out: dict[str, Any] = {}
    for link, (api, proxy) in links.items():
        found = scraped[api]
        if isinstance(found, str):
            out[link] = {"proxy": proxy, "api": api, "available": False, "note": found,
                         "connections": None, "upstream": None, "downstream": None}  # fmt: skip
        else:
            out[link] = {"proxy": proxy, "api": api, "available": True, **found.of(proxy)}
    return {"at": time.time(), "links": out}


def proxy_counters(client: ToxiproxyClient, proxy: str) -> dict[str, int] | None:
    """What ``proxy`` has carried so far: ``bytes`` received in both directions and ``connections``
    opened, from its server's ``/metrics`` (read on ``client``'s connection: a fault's apply and
    heal wait for it). None where that cannot tell: no proxy metrics, or Toxiproxy's, which count a
    connection's bytes only once it closes (a connection open across a fault would show nothing of
    what went through it meanwhile)."""
    text = client.metrics()
    found = parse_traffic(text) if text else None
    if found is None or not found.counts_connections:
        return None
    entry = found.of(proxy)
    received = entry["upstream"]["received"] + entry["downstream"]["received"]
    return {"bytes": int(received), "connections": int(entry["connections"] or 0)}


def carried_while_in_place(events: list[dict[str, Any]]) -> dict[str, int]:
    """For each fault whose ``applied`` and ``healed`` journal events both carry what its link had
    carried (``measured``): the bytes its link carried while it was in place, by fault id."""
    carried = {}
    for window in fault_windows(events):
        start, healed = window.applied.get("measured"), window.healed
        end = healed.get("measured") if healed else None
        if start and end:
            carried[window.id] = max(0, int(end.get("bytes", 0)) - int(start.get("bytes", 0)))
    return carried


def _scrape(api: str, timeout: float) -> ProxyTraffic | str:
    """The API's proxy counters, or why there are none."""
    try:
        reply = httpx.get(f"{api.rstrip('/')}/metrics", timeout=timeout)
    except httpx.HTTPError as exc:
        return f"not available: GET /metrics failed ({type(exc).__name__}: {exc})"
    if reply.status_code != 200:
        return f"not available: GET /metrics answered {reply.status_code} (started without -proxy-metrics?)"
    try:
        found = parse_traffic(reply.text)
    except ValueError as exc:
        return f"not available: /metrics is not Prometheus text ({exc})"
    if found is None:
        return "not available: /metrics has no proxy counters (started without -proxy-metrics?)"
    return found
