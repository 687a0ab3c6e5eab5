"""The supervisor, on a tiny target of two stdlib web servers: start, health, failures, restart, stop."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from paychaos.errors import InfrastructureError, InvalidInput
from paychaos.system import Address, Stack, load_target
from paychaos.system._model import Target
from tests.support.wait import wait_until

TINY = """\
name: tiny
services:
  web:
    port: 1
    health: /
    command: ["{python}", -m, http.server, "{port}", --bind, 127.0.0.1]
  front:
    port: 1
    health: /
    start_timeout: 10s
    command: ["{python}", -m, http.server, "{port}", --bind, 127.0.0.1, --directory, .]
  talker:
    port: 1
    command: [echo, "{link.talker_web.url}", "{link.talker_web.address}"]
    env: {WEB: "{link.talker_web.url}"}
links:
  front_web: {from: front, to: web}
  talker_web: {from: talker, to: web}
defects_env: TINY_DEFECTS
defects:
  slow: {description: d, incident: i, experiment: e.yaml, invariants: [x]}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Target:
    path = tmp_path / "target.yaml"
    path.write_text(TINY)
    return load_target(path)


def _only(target: Target, *names: str) -> Target:
    return target.model_copy(update={"services": {n: target.services[n] for n in names}, "links": {}})


def test_commands_are_filled_in_from_ports_links_routes_and_extra_args(tiny: Target, tmp_path: Path) -> None:
    stack = Stack(
        tiny,
        None,
        log_dir=tmp_path,
        ports={"web": 8001, "front": 8002, "talker": 8003},
        args={"talker": ["--x"]},
    )
    assert stack.command("talker") == ["echo", "http://127.0.0.1:8001", "127.0.0.1:8001", "--x"]
    assert stack.environment("talker")["WEB"] == "http://127.0.0.1:8001"
    stack.route("talker_web", Address("127.0.0.1", 9999))
    assert stack.command("talker")[:3] == ["echo", "http://127.0.0.1:9999", "127.0.0.1:9999"]
    assert stack.environment("talker")["WEB"] == "http://127.0.0.1:9999"
    assert stack.command("web")[0] == sys.executable
    with pytest.raises(InvalidInput, match="no link 'nope'"):
        stack.route("nope", Address("127.0.0.1", 1))


def test_the_run_secret_is_fresh_for_every_stack_and_the_same_for_all_its_services(
    tiny: Target, tmp_path: Path
) -> None:
    keyed = tiny.model_copy(update={"env": {"KEY": "{secret}", "PLAIN": "x"}})
    one, two = (Stack(keyed, None, log_dir=tmp_path) for _ in range(2))
    assert (
        one.environment("web")["KEY"] == one.environment("talker")["KEY"] == one.shared_environment()["KEY"]
    )
    assert len(one.shared_environment()["KEY"]) == 64
    assert one.shared_environment()["KEY"] != two.shared_environment()["KEY"]
    assert one.shared_environment()["PLAIN"] == "x"


def test_unknown_defects_and_names_are_refused(tiny: Target, tmp_path: Path) -> None:
    with pytest.raises(
        InvalidInput, match="unknown defect 'slwo' for target 'tiny'; known: slow; did you mean 'slow'"
    ):
        Stack(tiny, None, log_dir=tmp_path, defects=("slwo",))
    with pytest.raises(InvalidInput, match="no such link or service in target 'tiny': nope"):
        Stack(tiny, None, log_dir=tmp_path, args={"nope": []})


@pytest.mark.integration
def test_services_start_healthy_and_stop_without_leftovers(tiny: Target, tmp_path: Path) -> None:
    stack = Stack(
        _only(tiny, "web", "front"), None, log_dir=tmp_path / "logs", ports="auto", defects=("slow",)
    )
    with stack:
        pids = [stack.pid("web"), stack.pid("front")]
        with urllib.request.urlopen(stack.url("web")) as reply:
            assert reply.status == 200
        environ = psutil.Process(stack.pid("web")).environ()
        assert environ["TINY_DEFECTS"] == "slow"
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (tmp_path / "logs" / "web.log").exists()


@pytest.mark.integration
def test_a_service_that_exits_while_starting_is_reported_with_its_log(tiny: Target, tmp_path: Path) -> None:
    broken = tiny.services["web"].model_copy(
        update={"command": ["{python}", "-c", "print('bad config'); raise SystemExit(3)"]}
    )
    target = tiny.model_copy(
        update={"services": {"web": broken, "front": tiny.services["front"]}, "links": {}}
    )
    with pytest.raises(InfrastructureError) as err:
        Stack(target, None, log_dir=tmp_path, ports="auto").start()
    assert "service 'web' exited with code 3 while starting" in str(err.value)
    assert "bad config" in str(err.value)
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


@pytest.mark.integration
def test_a_service_that_never_gets_healthy_times_out(tiny: Target, tmp_path: Path) -> None:
    silent = tiny.services["web"].model_copy(
        update={"command": ["{python}", "-c", "import time; time.sleep(60)"], "start_timeout": 0.5}
    )
    target = tiny.model_copy(update={"services": {"web": silent}, "links": {}})
    with pytest.raises(InfrastructureError, match=re.escape("service 'web' was not healthy within 0.5s")):
        Stack(target, None, log_dir=tmp_path, ports="auto").start()


@pytest.mark.integration
def test_restart_replaces_the_process(tiny: Target, tmp_path: Path) -> None:
    with Stack(_only(tiny, "web"), None, log_dir=tmp_path, ports="auto") as stack:
        before = stack.pid("web")
        stack.restart("web")
        assert stack.pid("web") != before
        with urllib.request.urlopen(stack.url("web")) as reply:
            assert reply.status == 200


@pytest.mark.integration
def test_ports_already_taken_are_named(tiny: Target, tmp_path: Path) -> None:
    with Stack(_only(tiny, "web"), None, log_dir=tmp_path / "a", ports="auto") as first:
        second = Stack(_only(tiny, "web"), None, log_dir=tmp_path / "b", ports={"web": first.ports["web"]})
        with pytest.raises(InfrastructureError, match=r"ports already in use: web \(\d+\).*--ports auto"):
            second.start()


@pytest.mark.integration
def test_services_die_with_a_killed_harness(tmp_path: Path) -> None:
    (tmp_path / "target.yaml").write_text(TINY)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from paychaos.system import Stack, load_target\n"
        f"t = load_target({str(tmp_path)!r})\n"
        "t = t.model_copy(update={'services': {'web': t.services['web']}, 'links': {}})\n"
        f"s = Stack(t, None, log_dir=Path({str(tmp_path)!r}) / 'logs', ports='auto'); s.start()\n"
        "print(s.pid('web'), flush=True); time.sleep(120)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None
    pid = int(harness.stdout.readline())
    harness.kill()
    harness.wait()
    wait_until(lambda: not psutil.pid_exists(pid), timeout=10, what="the service to exit")
