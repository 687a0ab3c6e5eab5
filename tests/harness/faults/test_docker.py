"""Container faults against a real Docker engine, on a tiny busybox httpd image built here.

No image can be pulled, so the fixture imports one from Debian's static busybox
(`docker import` of a two-file rootfs). Containers run with host networking on
loopback only. Without an engine these tests skip, saying why; CI provisions
one (.ci/run) and sets PAYCHAOS_REQUIRE_DOCKER=1, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from paychaos._process import free_port
from paychaos.errors import InfrastructureError
from paychaos.faults import (
    ContainerFault,
    FaultInjector,
    FaultJournal,
    heal_leftovers,
    start_backend,
)
from tests.conftest import ROOT
from tests.support.wait import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]


def _httpd(engine: Any, image: str, label: str) -> tuple[Any, str]:
    port = free_port()
    container = engine.containers.run(
        image, ["/bin/busybox", "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        detach=True, network_mode="host", labels={"paychaos.test": label},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    wait_until(lambda: _answers(url), timeout=10, what="busybox httpd")
    return container, url


def _answers(url: str, timeout: float = 2) -> bool:
    try:
        return httpx.get(url, timeout=timeout).text == "hello\n"
    except httpx.HTTPError:
        return False


@pytest.fixture
def httpd(engine: Any, image: str) -> Iterator[tuple[Any, str, str]]:
    label = uuid.uuid4().hex
    container, url = _httpd(engine, image, label)
    yield container, url, label
    container.remove(force=True)


def test_pause_makes_requests_time_out_and_unpause_restores_them(
    engine: Any, httpd: tuple[Any, str, str], tmp_path: Path
) -> None:
    container, url, _ = httpd
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        paused = faults.apply(ContainerFault(engine, "pause", name=container.name))
        with pytest.raises(httpx.TimeoutException):
            httpx.get(url, timeout=1)
        faults.heal(paused)
        assert _answers(url)


def test_kill_and_stop_take_it_down_and_healing_starts_it(
    engine: Any, httpd: tuple[Any, str, str], tmp_path: Path
) -> None:
    container, url, _ = httpd
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        # busybox as PID 1 ignores SIGTERM: a stop waits out its grace before SIGKILL
        for action, grace in (("kill", None), ("stop", 1)):
            fault = faults.apply(ContainerFault(engine, action, name=container.name, grace=grace))  # type: ignore[arg-type]
            container.reload()
            assert container.status == "exited"
            with pytest.raises(httpx.ConnectError):
                httpx.get(url, timeout=1)
            faults.heal(fault)
            wait_until(lambda: _answers(url), timeout=10, what=f"the container back after {action}")


def test_restart_by_label_reaches_every_matching_container(engine: Any, image: str, tmp_path: Path) -> None:
    label = uuid.uuid4().hex
    pair = [_httpd(engine, image, label) for _ in range(2)]
    try:
        started = [c.attrs["State"]["StartedAt"] for c, _ in pair]
        with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
            faults.apply(ContainerFault(engine, "restart", label=f"paychaos.test={label}", grace=0))
        for (container, url), before in zip(pair, started, strict=True):
            container.reload()
            assert container.attrs["State"]["StartedAt"] != before
            wait_until(lambda url=url: _answers(url), timeout=10)  # type: ignore[misc]
    finally:
        for container, _ in pair:
            container.remove(force=True)


def test_a_pause_left_by_a_killed_run_is_healed_from_its_journal(
    engine: Any, httpd: tuple[Any, str, str], tmp_path: Path
) -> None:
    container, url, _ = httpd
    FaultInjector(FaultJournal(tmp_path / "faults.jsonl")).apply(
        ContainerFault(engine, "pause", name=container.name)
    )
    container.reload()
    assert container.status == "paused"
    healed = heal_leftovers([tmp_path])
    assert [(h.ok, h.outcome) for h in healed] == [(True, f"unpaused {container.short_id}")]
    assert _answers(url)
    assert heal_leftovers([tmp_path]) == []


# A stand-in for a run that owns its folder and pauses a container, then waits to be killed.
PAUSING_RUN = """
import sys
from pathlib import Path
from paychaos._ownership import RunLock
from paychaos.faults import ContainerFault, FaultInjector, FaultJournal, docker_engine

run_dir, name = Path(sys.argv[1]), sys.argv[2]
run_dir.mkdir(parents=True, exist_ok=True)
with RunLock(run_dir), FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:
    faults.apply(ContainerFault(docker_engine(), "pause", name=name))
    print("paused", flush=True)
    sys.stdin.read()
"""


@pytest.mark.parametrize("kill", ["process", "group"])
def test_a_container_paused_by_a_sigkilled_run_is_unpaused_by_the_next_heal(
    engine: Any, httpd: tuple[Any, str, str], tmp_path: Path, kill: str
) -> None:
    container, url, _ = httpd
    run_dir = tmp_path / "run"
    run = subprocess.Popen([sys.executable, "-c", PAUSING_RUN, str(run_dir), container.name], cwd=ROOT,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    assert run.stdout is not None
    assert run.stdout.readline().strip() == "paused"
    assert heal_leftovers([run_dir])[0].status == "left alone"  # the run is alive: its pause is its own
    container.reload()
    assert container.status == "paused"
    (os.killpg if kill == "group" else os.kill)(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    healed = heal_leftovers([run_dir])
    assert [(h.ok, h.outcome) for h in healed if h.status == "healed"] == [
        (True, f"unpaused {container.short_id}")
    ]
    container.reload()
    assert container.status == "running"
    assert _answers(url)
    assert [h for h in heal_leftovers([run_dir]) if h.status != "left alone"] == []


def test_an_unknown_container_is_reported(engine: Any, tmp_path: Path) -> None:
    with (
        FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults,
        pytest.raises(InfrastructureError, match="no container named 'nope-"),
    ):
        faults.apply(ContainerFault(engine, "pause", name=f"nope-{uuid.uuid4().hex}"))


def test_with_an_engine_but_no_toxiproxy_image_the_embedded_server_runs(engine: Any, tmp_path: Path) -> None:
    with start_backend(log_dir=tmp_path, env={"PATH": "/nonexistent"}) as backend:
        assert backend.kind == "embedded"
        assert backend.passed_over[-1] == (
            "docker: no local image named ghcr.io/shopify/toxiproxy or shopify/toxiproxy (images are never pulled)"
        )
