"""compose: services on a real Docker engine and Compose: two busybox httpd containers on the host's
network, brought up by a Stack in a project of its own, reached through a fault proxy, faulted by
their Compose name, taken down (or kept), and removed by a heal when the harness died.

Without an engine, busybox or Compose these tests skip, saying why; CI provisions them (.ci/run)
and sets PAYCHAOS_REQUIRE_DOCKER=1, which turns the skip into a failure.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from paychaos._ownership import RunLock, recorded_compose
from paychaos.errors import InfrastructureError
from paychaos.faults import FaultInjector, FaultJournal, LinkProxies, ToxiproxyClient, heal_leftovers
from paychaos.faults.kinds import ContainerFaultSpec, FaultContext
from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from paychaos.system import Stack, load_target
from paychaos.system._compose import compose_command, project_containers
from paychaos.system._model import Target
from tests.support.docker import unavailable
from tests.support.wait import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]

# Each httpd says it started, writes the environment it was given where it serves it, and serves on
# the port paychaos gave it ($$: Compose's escape for the shell's $). SIGKILL: PID 1 ignores SIGTERM.
HTTPD = (
    "[/bin/busybox, sh, -c, 'echo {name} starting; /bin/busybox mkdir -p /tmp/www && /bin/busybox env "
    "> /tmp/www/env.txt && echo ok > /tmp/www/healthz && exec /bin/busybox httpd -f -p 127.0.0.1:$$PORT "
    "-h /tmp/www']"
)
COMPOSE = f"""\
services:
  front: {{image: IMAGE, network_mode: host, stop_signal: SIGKILL, command: {HTTPD.format(name="front")}}}
  back: {{image: IMAGE, network_mode: host, stop_signal: SIGKILL, command: {HTTPD.format(name="back")}}}
  broken:
    image: IMAGE
    network_mode: host
    command: [/bin/busybox, sh, -c, "echo broken: no config; exit 3"]
  absent: {{image: "paychaos-test/absent:1", network_mode: host}}
"""
DUO = """\
name: duo
compose: {file: compose.yaml}
env: {SHARED: "{secret}"}
services:
  front:
    compose: front
    port: 1
    start_timeout: 20s
    env: {PORT: "{port}", BACK: "{link.front_back.url}", BACK_AT: "{link.front_back.address}"}
  back: {compose: back, port: 1, start_timeout: 20s, env: {PORT: "{port}"}}
links:
  front_back: {from: front, to: back}
defects_env: DUO_DEFECTS
defects:
  slow: {description: d, incident: i, experiment: e.yaml, invariants: [x]}
"""
ONE = """\
name: one
compose: {file: compose.yaml, project: solo}
services:
  api: {compose: SERVICE, port: 1, start_timeout: 20s, env: {PORT: "{port}"}}
"""


@pytest.fixture(scope="module")
def compose() -> list[str]:
    try:
        command = compose_command(None, {})
    except InfrastructureError as exc:
        unavailable(f"{exc}; .ci/run installs docker-compose")
    done = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        unavailable(f"`{shlex.join([*command, 'version'])}` fails: {done.stderr.strip()}")
    return command


@pytest.fixture
def toxiproxy() -> Iterator[ServerThread]:
    with ToxiproxyServer(port=0, seed=1).run_in_thread() as handle:
        yield handle


@pytest.fixture
def project_names() -> Iterator[list[str]]:
    """The projects a test brings up: whatever it leaves is removed (a failed assertion must not leak)."""
    names: list[str] = []
    yield names
    for name in names:
        for container in project_containers(name):
            container.remove(force=True)


def _target(folder: Path, image: str, text: str) -> Target:
    (folder / "compose.yaml").write_text(COMPOSE.replace("IMAGE", image))
    (folder / "target.yaml").write_text(text)
    return load_target(folder / "target.yaml")


def _stack(folder: Path, target: Target, names: list[str], **options: Any) -> Stack:
    stack = Stack(target, None, log_dir=folder / "run" / "logs", ports="auto", **options)
    assert stack.compose_project is not None
    names.append(stack.compose_project)
    return stack


def _env(url: str) -> dict[str, str]:
    text = httpx.get(f"{url}/env.txt", timeout=5).text
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_a_project_comes_up_routed_through_its_proxies_is_faulted_by_service_name_and_goes_down(
    engine: Any, image: str, compose: list[str], toxiproxy: ServerThread, tmp_path: Path,
    project_names: list[str],
) -> None:  # fmt: skip
    target = _target(tmp_path, image, DUO)
    stack = _stack(tmp_path, target, project_names)
    project, run_dir = project_names[0], tmp_path / "run"
    assert project.startswith("duo-")
    run_dir.mkdir()
    with ToxiproxyClient(toxiproxy.url) as client, RunLock(run_dir):
        proxies = LinkProxies(client, stack, target.links)
        proxy = stack.address("front_back")
        stack.start()
        try:
            assert [r["state"] for r in recorded_compose(run_dir)] == ["up"]
            env = _env(stack.url("front"))
            assert env["BACK"] == f"http://{proxy}" != f"http://{stack.peer('front_back')}"
            assert env["BACK_AT"] == str(proxy)
            assert env["PORT"] == str(stack.ports["front"])
            assert (env["SHARED"], env["DUO_DEFECTS"]) == (stack.secret, "")
            # On the host's network, the container reaches its peer through the proxy.
            (front,) = project_containers(project, "front")
            code, said = front.exec_run(["/bin/busybox", "wget", "-q", "-O", "-", f"http://{proxy}/healthz"])
            assert (code, said) == (0, b"ok\n")

            pause = ContainerFaultSpec(container="back", action="pause")
            context = FaultContext(target, stack, client, proxies, "embedded", run_dir)
            with FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:
                fault_id = faults.apply(pause.build(context))
                (back,) = project_containers(project, "back")
                assert back.status == "paused"
                assert not stack.healthy("back", timeout=0.5)
                assert stack.healthy("front")
                faults.heal(fault_id)
                assert wait_until(lambda: stack.healthy("back"), timeout=5, what="back unpaused")
        finally:
            stack.stop()
        proxies.close()
    assert project_containers(project) == []
    assert "front starting" in (run_dir / "logs" / "front.log").read_text()
    assert "back starting" in (run_dir / "logs" / "back.log").read_text()
    assert stack.compose is not None
    assert not stack.compose.override.exists()  # it held the DSNs of a project now gone
    assert recorded_compose(run_dir) == []


def test_a_service_restarts_in_its_container_and_keep_leaves_the_project_up(
    engine: Any, image: str, compose: list[str], tmp_path: Path, project_names: list[str]
) -> None:
    stack = _stack(
        tmp_path, _target(tmp_path, image, ONE.replace("SERVICE", "back")), project_names, keep=True
    )
    project, run_dir = project_names[0], tmp_path / "run"
    assert project.startswith("solo-")
    run_dir.mkdir()
    with RunLock(run_dir):
        stack.start()
        (before,) = project_containers(project)
        stack.restart("api")  # the same container, started again, healthy again
        (after,) = project_containers(project)
        assert after.id == before.id
        assert after.attrs["State"]["StartedAt"] != before.attrs["State"]["StartedAt"]
        assert stack.healthy("api")
        stack.stop()
    assert stack.kept is not None
    assert stack.kept.endswith("down --remove-orphans --volumes --timeout 5")
    assert stack.healthy("api")
    assert f"take it down with: {stack.kept}" in (run_dir / "logs" / "compose.log").read_text()
    # A later heal (the next run's prepare) leaves it alone, and says how to take it down.
    (kept,) = heal_leftovers([run_dir])
    assert (kept.status, kept.fault) == ("left alone", f"compose project {project}")
    assert stack.kept in kept.outcome
    subprocess.run(shlex.split(stack.kept), cwd=tmp_path, capture_output=True, timeout=60, check=True)
    assert project_containers(project) == []
    assert heal_leftovers([run_dir]) == []


def test_a_container_that_exits_after_the_start_is_reported_with_its_code(
    engine: Any, image: str, compose: list[str], tmp_path: Path, project_names: list[str]
) -> None:
    stack = _stack(tmp_path, _target(tmp_path, image, ONE.replace("SERVICE", "back")), project_names)
    with stack:
        assert stack.exited() == {}
        (container,) = project_containers(project_names[0])
        container.kill()  # SIGKILL: as `paychaos stack up` would see an out-of-memory kill
        wait_until(lambda: stack.exited() or None, timeout=30, what="the container to be seen exited")
        assert stack.exited() == {"api": 137}


def test_a_heal_removes_the_project_a_dead_run_left(
    engine: Any, image: str, compose: list[str], tmp_path: Path, project_names: list[str]
) -> None:
    stack = _stack(tmp_path, _target(tmp_path, image, ONE.replace("SERVICE", "back")), project_names)
    project, run_dir = project_names[0], tmp_path / "run"
    run_dir.mkdir()
    lock = RunLock(run_dir).acquire()
    stack.start()
    lock.release()  # the harness is killed here: the lock drops, its containers stay
    assert len(project_containers(project)) == 1
    (healed,) = heal_leftovers([run_dir])
    assert (healed.status, healed.fault) == ("stopped", f"compose project {project}")
    assert healed.outcome.startswith("removed its containers ")
    assert project_containers(project) == []
    assert "back starting" in (run_dir / "logs" / "back.log").read_text()
    assert heal_leftovers([run_dir]) == []


def test_a_container_that_exits_while_starting_stops_the_start_with_its_log(
    engine: Any, image: str, compose: list[str], tmp_path: Path, project_names: list[str]
) -> None:
    stack = _stack(tmp_path, _target(tmp_path, image, ONE.replace("SERVICE", "broken")), project_names)
    with pytest.raises(InfrastructureError) as err:
        stack.start()
    said = str(err.value)
    assert (
        f"service 'api' (Compose service broken of project {project_names[0]}): its container exited" in said
    )
    assert f"its container's log (saved in {tmp_path / 'run' / 'logs' / 'api.log'}) ends:" in said
    assert "with code 3 while starting" in said
    assert "broken: no config" in said
    assert project_containers(project_names[0]) == []


def test_an_image_that_is_not_here_is_never_pulled(
    engine: Any, image: str, compose: list[str], tmp_path: Path, project_names: list[str]
) -> None:
    stack = _stack(tmp_path, _target(tmp_path, image, ONE.replace("SERVICE", "absent")), project_names)
    with pytest.raises(InfrastructureError) as err:
        stack.start()
    said = str(err.value)
    assert "the image 'paychaos-test/absent:1' of Compose service 'absent' is not on this machine" in said
    assert "paychaos never pulls or builds; make it first (docker pull paychaos-test/absent:1)" in said
    assert project_containers(project_names[0]) == []
