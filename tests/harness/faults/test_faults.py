"""Each fault kind applied and healed for real, through the injector and its journal."""

from __future__ import annotations

import re
import subprocess
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from paychaos.errors import InfrastructureError, InvalidInput
from paychaos.faults import (
    ConfigFault,
    ContainerFault,
    FaultInjector,
    FaultJournal,
    LinkDown,
    ProcessFault,
    ProcessHandle,
    ToxicFault,
    ToxiproxyClient,
    read_journal,
    unhealed,
)
from paychaos.faults.kinds.process import stopped

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services


def _proxy_for(client: ToxiproxyClient, upstream: ThreadingHTTPServer, name: str = "web") -> str:
    proxy = client.create_proxy(name, "127.0.0.1:0", f"127.0.0.1:{upstream.server_address[1]}")
    return f"http://{proxy['listen']}"


def _round_trip(url: str) -> float:
    started = time.perf_counter()
    assert httpx.get(url, timeout=10).json() == {"ok": True}
    return time.perf_counter() - started


def test_a_toxic_is_applied_then_healed_and_both_are_journalled(
    client: ToxiproxyClient, upstream: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = _proxy_for(client, upstream)
    journal = FaultJournal(tmp_path / "faults.jsonl")
    with FaultInjector(journal) as faults:
        fault_id = faults.apply(ToxicFault(client, "web", "latency", {"latency": 300}))
        assert _round_trip(url) >= 0.3
        assert [t["name"] for t in client.toxics("web")] == [f"latency_downstream_{fault_id}"]
        assert faults.heal(fault_id) == f"removed toxic latency_downstream_{fault_id}"
        assert _round_trip(url) < 0.3
    events = read_journal(tmp_path / "faults.jsonl")
    assert [e["event"] for e in events] == ["applied", "healed"]
    assert events[0]["params"] == {"latency": 300, "stream": "downstream", "toxicity": 1.0}
    assert events[0]["undo"]["proxy"] == "web"
    assert unhealed(tmp_path / "faults.jsonl") == []


def test_leaving_the_block_heals_everything_even_on_an_error(
    client: ToxiproxyClient, upstream: ThreadingHTTPServer, sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    url = _proxy_for(client, upstream)
    process = ProcessHandle("sleeper", lambda: sleeper.pid)

    def experiment() -> None:
        with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
            faults.apply(ToxicFault(client, "web", "timeout", {"timeout": 0}))
            faults.apply(LinkDown(client, "web"))
            faults.apply(ProcessFault(process, "pause"))
            assert stopped(sleeper.pid)
            raise RuntimeError("experiment blew up")

    with pytest.raises(RuntimeError, match="experiment blew up"):
        experiment()
    assert client.toxics("web") == []
    assert client.proxies()["web"]["enabled"] is True
    assert not stopped(sleeper.pid)
    assert _round_trip(url) < 1
    assert unhealed(tmp_path / "j.jsonl") == []


def test_a_link_down_refuses_connections_until_healed(
    client: ToxiproxyClient, upstream: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = _proxy_for(client, upstream)
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        down = faults.apply(LinkDown(client, "web"))
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
        faults.heal(down)
        assert _round_trip(url) < 1


def test_pausing_a_process_stops_it_and_healing_resumes_it(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        paused = faults.apply(ProcessFault(ProcessHandle("sleeper", lambda: sleeper.pid), "pause"))
        assert psutil.Process(sleeper.pid).status() == psutil.STATUS_STOPPED
        assert faults.heal(paused) == f"resumed process {sleeper.pid}"
        assert psutil.Process(sleeper.pid).status() != psutil.STATUS_STOPPED


def test_a_killed_service_is_restarted_when_the_fault_heals(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    restarts: list[int] = []
    handle = ProcessHandle("svc", lambda: sleeper.pid, restart=lambda: restarts.append(1))
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        killed = faults.apply(ProcessFault(handle, "kill"))
        assert sleeper.wait(timeout=5) == -9
        assert faults.heal(killed) == "restarted svc"
    assert restarts == [1]


def test_a_config_change_is_undone_to_what_it_was(upstream: ThreadingHTTPServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{upstream.server_address[1]}/config"
    before = httpx.get(url).json()
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        faults.apply(ConfigFault("promotion", url, {"percent": 20, "applies_to": "all"}))
        assert httpx.get(url).json() == {"percent": 20, "applies_to": "all"}
    assert httpx.get(url).json() == before


def test_a_refused_config_change_is_reported_and_journalled(
    upstream: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{upstream.server_address[1]}/config"
    journal = tmp_path / "j.jsonl"
    with FaultInjector(FaultJournal(journal)) as faults, pytest.raises(InfrastructureError, match="refused"):
        faults.apply(ConfigFault("promotion", url, {"percent": 120}))
    assert [e["event"] for e in read_journal(journal)] == ["apply_failed"]


def test_bad_faults_are_refused_before_anything_happens(
    client: ToxiproxyClient, sleeper: subprocess.Popen[bytes]
) -> None:
    with pytest.raises(InvalidInput, match="unknown toxic 'latancy'; expected one of latency"):
        ToxicFault(client, "web", "latancy", {})
    with pytest.raises(InvalidInput, match="has no start command"):
        ProcessFault(ProcessHandle("x", lambda: sleeper.pid), "restart")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"action": "pause"}, "selects by name or by label (exactly one)"),
        ({"action": "pause", "name": "a", "label": "k=v"}, "selects by name or by label (exactly one)"),
        ({"action": "freeze", "name": "a"}, "unknown container action 'freeze'"),
        ({"action": "pause", "name": "a", "grace": 1}, "grace applies to stop and restart"),
        ({"action": "stop", "name": "a", "grace": -1}, "as 0 or more seconds (got -1 for stop)"),
    ],
)
def test_a_container_fault_checks_its_arguments_before_touching_docker(
    args: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        ContainerFault(None, **args)


def _state(pid: int) -> str:
    """The process's state letter from /proc (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("first_to_end", ["inner", "outer"])
def test_overlapping_pauses_resume_the_process_only_when_the_last_ends(
    first_to_end: str, sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    handle = ProcessHandle("sleeper", lambda: sleeper.pid)
    journal = tmp_path / "j.jsonl"
    with FaultInjector(FaultJournal(journal)) as faults:
        outer = faults.apply(ProcessFault(handle, "pause"))
        inner = faults.apply(ProcessFault(handle, "pause"))
        first, last = (inner, outer) if first_to_end == "inner" else (outer, inner)
        assert faults.heal(first) == f"still paused by {last}; resumed when it ends"
        assert _state(sleeper.pid) == "T"
        assert faults.heal(last) == f"resumed process {sleeper.pid}"
        assert _state(sleeper.pid) != "T"
    events = read_journal(journal)
    assert [(e["event"], e["id"]) for e in events] == [
        ("applied", outer), ("applied", inner), ("healed", first), ("healed", last)]  # fmt: skip
    assert events[1]["overlaps"] == [outer]
    assert events[2]["kept_by"] == [last]
    assert "kept_by" not in events[3]


def test_overlapping_kills_of_a_service_restart_it_once_when_the_last_ends(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    restarts: list[int] = []
    handle = ProcessHandle("svc", lambda: sleeper.pid, restart=lambda: restarts.append(1))
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        outer = faults.apply(ProcessFault(handle, "kill"))
        inner = faults.apply(ProcessFault(handle, "kill"))
        assert faults.heal(inner) == f"still down by {outer}; restarted when it ends"
        assert restarts == []
        assert faults.heal(outer) == "restarted svc"
    assert restarts == [1]


def test_overlapping_link_downs_reenable_the_proxy_only_when_the_last_ends(
    client: ToxiproxyClient, upstream: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = _proxy_for(client, upstream)
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        outer = faults.apply(LinkDown(client, "web"))
        inner = faults.apply(LinkDown(client, "web"))
        assert faults.heal(inner) == f"still down by {outer}; re-enabled when it ends"
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
        assert faults.heal(outer) == "re-enabled proxy web"
        assert _round_trip(url) < 1


def test_overlapping_config_changes_end_on_the_value_that_was_there_before(
    upstream: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{upstream.server_address[1]}/config"
    before = httpx.get(url).json()
    a, b = {"percent": 20, "applies_to": "all"}, {"percent": 50, "applies_to": "all"}
    with FaultInjector(FaultJournal(tmp_path / "j.jsonl")) as faults:
        # Nested: the inner one ends first and puts the outer one's value back.
        outer, inner = (
            faults.apply(ConfigFault("promotion", url, a)),
            faults.apply(ConfigFault("promotion", url, b)),
        )
        assert httpx.get(url).json() == b
        assert faults.heal(inner) == f"put back {outer}'s value; the original is restored when it ends"
        assert httpx.get(url).json() == a
        assert faults.heal(outer) == f"restored config at {url}"
        assert httpx.get(url).json() == before
        # Crossed: the first one ends while the later one's value is in place, which stays.
        early, late = (
            faults.apply(ConfigFault("promotion", url, a)),
            faults.apply(ConfigFault("promotion", url, b)),
        )
        assert faults.heal(early) == f"still set by {late} (applied later); restored when it ends"
        assert httpx.get(url).json() == b
        faults.heal(late)
        assert httpx.get(url).json() == before
    # Each undo record holds the value from before the first: healed from the journal, in any order,
    # they all end on it.
    applied = [e for e in read_journal(tmp_path / "j.jsonl") if e["event"] == "applied"]
    assert [e["undo"]["previous"] for e in applied] == [before] * 4
