"""Locust, run as paychaos runs it: a child process, seeded users, every operation in the history."""

from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from paychaos._process import free_port
from paychaos.experiment import Load
from paychaos.load import LocustProcess, read_arrivals, read_history
from paychaos.system import LoadSpec
from tests.conftest import ROOT
from tests.support.http import send_json
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/cut":
            self.close_connection = True
            self.connection.close()
            return
        if self.path == "/slow":
            time.sleep(1.0)  # the server under test being slow, not the test waiting
        status, body = (
            (409, {"error": "key reused"}) if self.path == "/refuse" else (200, {"id": "p-1", "state": "OK"})
        )
        send_json(self, status, body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]  # clients hang up on /slow
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run(
    run_dir: Path, host: str, *, seed: int = 7, processes: int = 1, scenarios: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    load = Load.model_validate({"users": 4, "spawn_rate": 100, "duration": "3s", "timeout": "300ms", "processes": processes,
                                "wait": ["10ms", "30ms"]})  # fmt: skip
    locust = LocustProcess(run_dir, load=load, scenarios=scenarios or {"ok": 1}, seed=seed,
                           module="tests.harness.load.scenarios_echo", host=host)  # fmt: skip
    locust.start()
    locust.wait(timeout=60)
    return list(read_history(run_dir / "history"))


def test_every_operation_is_recorded_with_its_three_valued_outcome(echo: str, tmp_path: Path) -> None:
    ops = _run(tmp_path, echo, scenarios={"ok": 4, "refused": 1, "slow": 1, "cut": 1})
    by_kind = collections.defaultdict(set)
    for op in ops:
        by_kind[op["kind"]].add((op["outcome"], op["status"], op["expected"]))
    assert by_kind["ok"] == {("ok", 200, False)}
    assert by_kind["refused"] == {("failed", 409, True)}
    assert by_kind["slow"] == {("timeout", None, False)}  # unknown: it may have happened
    assert by_kind["cut"] == {("connection", None, False)}
    first = next(op for op in ops if op["kind"] == "ok")
    assert first["order_id"].startswith("order-0-")
    assert first["key"] == f"k:{first['order_id']}"
    assert first["payment_id"] == "p-1"
    assert first["payment_state"] == "OK"
    assert 0 < first["end"] - first["start"] < 1


YAML_ONLY = {
    "service": "api",
    "values": {"amount": {"min": 100, "max": 999}},
    "payment": {"id": "$.id", "state": "$.state", "outcome": {"succeeded": ["OK"]}},
    "scenarios": {
        "pay": {
            "steps": [
                {
                    "request": {
                        "method": "POST",
                        "path": "/ok",
                        "json": {"order": "{order_id}", "amount": "{amount}"},
                        "headers": {"Idempotency-Key": "{idempotency_key}"},
                    },
                    "extract": {"payment_id": "$.id"},
                },
                {
                    "request": {
                        "kind": "pay_conflict",
                        "method": "POST",
                        "path": "/refuse",
                        "json": {"order": "{order_id}", "payment": "{payment_id}", "amount": 1},
                    },
                    "key": "order:{order_id}",
                    "expect_refusal": [409],
                },
            ]
        }
    },
}


def test_a_scenario_described_in_yaml_alone_fills_the_history_as_python_does(
    echo: str, tmp_path: Path
) -> None:
    load = Load.model_validate({"users": 2, "spawn_rate": 100, "duration": "2s", "wait": ["10ms", "30ms"]})
    locust = LocustProcess(tmp_path, load=load, scenarios={"pay": 1}, seed=7,
                           target_load=LoadSpec.model_validate(YAML_ONLY), host=echo)  # fmt: skip
    locust.start()
    locust.wait(timeout=60)
    ops = list(read_history(tmp_path / "history"))
    pays = [op for op in ops if op["kind"] == "pay"]
    conflicts = {op["order_id"]: op for op in ops if op["kind"] == "pay_conflict"}
    assert pays, f"no operation recorded; see {locust.log}"
    for pay in pays:
        order = pay["order_id"]
        assert order.startswith("order-0-")
        assert (pay["key"], pay["outcome"], pay["status"]) == (f"order:{order}", "ok", 200)
        assert 100 <= pay["amount"] <= 999
        assert (pay["payment_id"], pay["payment_state"], pay["told"]) == ("p-1", "OK", "succeeded")
        assert (pay["expected"], "refusal_expected" in pay) == (False, False)
        if order in conflicts:  # the last iteration may have been cut short when the load ended
            refused = conflicts[order]
            assert (refused["outcome"], refused["status"]) == ("failed", 409)
            assert refused["key"] == f"order:{order}"
            assert (refused["expected"], refused["refusal_expected"]) == (True, True)
            assert refused["payment_id"] == "p-1"  # the payment the request names
            assert refused["amount"] == pay["amount"]
    assert len(conflicts) >= len(pays) - 2


def test_the_same_seed_makes_the_same_choices(echo: str, tmp_path: Path) -> None:
    def choices(run: list[dict[str, Any]]) -> dict[str, list[tuple[str, int | None]]]:
        per_user: dict[str, list[tuple[str, int | None]]] = collections.defaultdict(list)
        for op in sorted(run, key=lambda o: o["start"]):
            user = op["id"].rsplit("-", 1)[0]
            per_user[user].append((op["kind"], op.get("amount")))
        return {user: seq[:5] for user, seq in per_user.items()}

    mix = {"ok": 3, "refused": 1}
    first = choices(_run(tmp_path / "a", echo, seed=11, scenarios=mix))
    again = choices(_run(tmp_path / "b", echo, seed=11, scenarios=mix))
    other = choices(_run(tmp_path / "c", echo, seed=12, scenarios=mix))
    assert first == again
    assert first != other


def test_several_load_processes_each_keep_a_history(echo: str, tmp_path: Path) -> None:
    ops = _run(tmp_path, echo, processes=2)
    files = list((tmp_path / "history").glob("load-*.jsonl"))
    assert len([f for f in files if f.stat().st_size > 0]) >= 2
    processes = {op["id"].split("-")[1] for op in ops}
    assert processes == {"0", "1"}  # each worker numbers its own operations
    assert len({op["id"] for op in ops}) == len(ops)


def test_a_master_waits_for_workers_that_may_run_on_other_machines(echo: str, tmp_path: Path) -> None:
    # Here the "other machine" is this one: the worker is started by hand, as docs/distributed.md says.
    load = Load.model_validate({"users": 4, "spawn_rate": 100, "duration": "3s", "workers": 1,
                                "master_bind": f"127.0.0.1:{free_port()}"})  # fmt: skip
    master = LocustProcess(tmp_path, load=load, scenarios={"ok": 1}, seed=3,
                           module="tests.harness.load.scenarios_echo", host=echo)  # fmt: skip
    master.start()
    env = {**os.environ, "PAYCHAOS_LOAD_SPEC": str(tmp_path / "load.json")}
    worker = subprocess.Popen(
        master.worker_command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        master.wait(timeout=60)
        worker.wait(timeout=30)
    finally:
        worker.kill()
    ops = list(read_history(tmp_path / "history"))
    assert ops
    assert {op["kind"] for op in ops} == {"ok"}


def _listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every socket the process ``pid`` and its children listen on."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    found = set()
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found


def test_several_processes_listen_on_loopback_only_and_two_runs_do_not_clash(
    echo: str, tmp_path: Path
) -> None:
    load = Load.model_validate({"users": 4, "spawn_rate": 100, "duration": "3s", "processes": 2})
    runs = [
        LocustProcess(
            tmp_path / name,
            load=load,
            scenarios={"ok": 1},
            seed=5,
            module="tests.harness.load.scenarios_echo",
            host=echo,
        )
        for name in ("a", "b")
    ]
    for locust in runs:
        locust.start()
    seen: dict[int, set[tuple[str, int]]] = {i: set() for i in range(len(runs))}

    def watch() -> bool:  # every socket listened on, for as long as either run lasts
        for i, locust in enumerate(runs):
            if locust.pid is not None and locust.running:
                seen[i] |= _listening(locust.pid)
        return not any(locust.running for locust in runs)

    wait_until(watch, timeout=60, interval=0.02, what="both Locust runs to end")
    for locust in runs:
        locust.wait(timeout=1)
    assert all(seen.values()), f"no master was seen listening: {seen}"
    for addresses in seen.values():
        assert {ip for ip, _ in addresses} <= {"127.0.0.1", "::1"}, addresses
    assert not seen[0] & seen[1]  # each run's master on its own port
    for name in ("a", "b"):
        ops = list(read_history(tmp_path / name / "history"))
        assert {op["id"].split("-")[1] for op in ops} == {"0", "1"}  # both workers of each run did work


# -- open loop: arrivals at a set rate, whatever the latency ------------------------------------------


def _open(
    run_dir: Path, host: str, scenario: str, **load: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    spec = Load.model_validate({"duration": "3s", "timeout": "2s", **load})
    locust = LocustProcess(run_dir, load=spec, scenarios={scenario: 1}, seed=3,
                           module="tests.harness.load.scenarios_echo", host=host)  # fmt: skip
    locust.start()
    locust.wait(timeout=60)
    return list(read_history(run_dir / "history")), list(read_arrivals(run_dir / "history"))


@pytest.mark.slow
def test_an_open_loop_starts_its_arrivals_on_time_and_measures_from_when_they_were_due(
    echo: str, tmp_path: Path
) -> None:
    ops, marks = _open(tmp_path, echo, "ok", arrival_rate=50, max_users=20)
    assert sum(m["offered"] for m in marks) == 150  # rate × duration, exactly: the times are fixed
    assert all(m["offered"] == m["started"] + m["dropped"] for m in marks)
    assert len(marks) == 3  # one line per second of the load
    started = sum(m["started"] for m in marks)
    assert started >= 145  # a fast endpoint and 20 users: (almost) nothing dropped
    iterations = [op for op in ops if "intended" in op]
    assert len(iterations) == len(ops) == started  # one operation per iteration here, each started
    assert all(op["intended"] <= op["start"] for op in iterations)
    assert max(op["start"] - op["intended"] for op in iterations) < 0.5  # handed over on time
    starts = sorted(op["intended"] for op in iterations)
    assert starts[-1] - starts[0] == pytest.approx(149 / 50, abs=0.05)  # spread over the load, not bunched


@pytest.mark.slow
def test_an_open_loop_drops_the_arrivals_no_user_is_free_for(echo: str, tmp_path: Path) -> None:
    ops, marks = _open(tmp_path, echo, "slow", arrival_rate=10, max_users=2)  # each takes 1 s
    offered = sum(m["offered"] for m in marks)
    started = sum(m["started"] for m in marks)
    dropped = sum(m["dropped"] for m in marks)
    assert (offered, offered - started) == (30, dropped)
    assert 4 <= started <= 8  # two users, each free about once a second, for 3 s
    assert dropped >= 22
    assert len(ops) == started  # every started iteration finished and was recorded, the last ones too
    assert all(op["outcome"] == "ok" for op in ops)


@pytest.mark.slow
def test_an_open_loop_splits_its_rate_across_processes(echo: str, tmp_path: Path) -> None:
    ops, marks = _open(tmp_path, echo, "ok", arrival_rate=40, max_users=10, processes=2)
    assert {m["process"] for m in marks} == {0, 1}
    assert sum(m["offered"] for m in marks) == 120  # each process 20/s for 3 s
    for process in (0, 1):
        assert sum(m["offered"] for m in marks if m["process"] == process) == 60
    assert len([op for op in ops if "intended" in op]) == sum(m["started"] for m in marks) >= 115
