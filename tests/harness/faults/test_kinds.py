"""The fault-kind registry: a kind is one module, and the harness dispatches to it without naming it.

The proof is a kind from outside the harness (``sample_kind.py``): registered,
an experiment using it validates (its mistakes located, with a did-you-mean),
the injector applies and heals it, and ``heal_leftovers`` reverts it from the
journal of a killed run alone. Nothing else in the harness changes for it.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psutil
import pytest

from paychaos.errors import InvalidInput
from paychaos.experiment import load_experiment
from paychaos.faults import (
    Fault,
    FaultInjector,
    FaultJournal,
    LinkProxies,
    ToxiproxyClient,
    heal_leftovers,
    read_journal,
)
from paychaos.faults import kinds as kinds_package
from paychaos.faults.kinds import (
    BUILTIN,
    ConfigFaultSpec,
    FaultContext,
    FaultSpec,
    LinkFault,
    ProcessFaultSpec,
    register,
    registered,
    unregister,
)
from paychaos.faults.kinds.process import stopped
from paychaos.faults.toxiproxy_server import ServerThread
from paychaos.system import Stack, load_target
from tests.conftest import ROOT
from tests.harness.faults.sample_kind import MarkerFault, MarkerSpec
from tests.support.wait import wait_until

TARGET = """\
name: flags
services:
  web: {port: 1, health: /, command: ["true"]}
load: {service: web, module: load.py, scenarios: {browse: {}}}
"""

EXPERIMENT = """\
name: flagged
target: {path: target.yaml}
load: {users: 1, duration: 30s}
faults:
  - FAULT
"""


@pytest.fixture
def marker_kind() -> Iterator[type[MarkerSpec]]:
    register(MarkerSpec)
    yield MarkerSpec
    unregister(MarkerSpec)


def _experiment(folder: Path, fault: str) -> Path:
    (folder / "target.yaml").write_text(TARGET)
    (folder / "load.py").write_text("")
    path = folder / "x.yaml"
    path.write_text(EXPERIMENT.replace("FAULT", fault))
    return path


def _context(folder: Path, client: ToxiproxyClient, run_dir: Path) -> FaultContext:
    target = load_target(folder / "target.yaml")
    stack = Stack(target, None, log_dir=run_dir / "logs", ports="auto")
    proxies = LinkProxies(client, stack, target.links)
    return FaultContext(target, stack, client, proxies, "embedded", run_dir)


@pytest.mark.integration
def test_a_kind_from_outside_validates_applies_heals_and_heals_from_the_journal_alone(
    marker_kind: type[MarkerSpec], client: ToxiproxyClient, tmp_path: Path
) -> None:
    file = load_experiment(_experiment(tmp_path, "{at: 5s, duration: 10s, marker: web}"))
    (spec,) = file.experiment.faults
    assert isinstance(spec, MarkerSpec)
    assert spec.describe() == "web"

    run_dir = tmp_path / "run"
    marker = run_dir / "web.marker"
    with FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:
        fault_id = faults.apply(spec.build(_context(tmp_path, client, run_dir)))
        assert marker.read_text() == f"{fault_id}\n"
        assert faults.heal(fault_id) == f"removed {marker}"
    assert not marker.exists()

    # A run killed with the marker in place: nothing but its journal is left to heal it from.
    killed = tmp_path / "killed"
    FaultInjector(FaultJournal(killed / "faults.jsonl")).apply(spec.build(_context(tmp_path, client, killed)))
    assert (killed / "web.marker").exists()
    healed = heal_leftovers([killed])
    assert [(h.status, h.fault, h.outcome) for h in healed] == [
        ("healed", "f1 mark on web.marker", f"removed {killed / 'web.marker'}")
    ]
    assert not (killed / "web.marker").exists()
    assert heal_leftovers([killed]) == []


def test_a_journal_naming_a_kind_no_one_registered_heals_once_it_is(tmp_path: Path) -> None:
    FaultInjector(FaultJournal(tmp_path / "faults.jsonl")).apply(MarkerFault(tmp_path / "web.marker"))
    (failed,) = heal_leftovers([tmp_path])  # as `paychaos heal` would: it knows the built-in kinds only
    assert failed.status == "failed"
    assert "no registered fault kind applies faults of kind 'marker'" in failed.outcome
    assert "register the kind that does" in failed.outcome
    assert (tmp_path / "web.marker").exists()  # tried again by the next heal: a failed heal is not settled

    register(MarkerSpec)
    try:
        assert [h.status for h in heal_leftovers([tmp_path])] == ["healed"]
    finally:
        unregister(MarkerSpec)
    assert not (tmp_path / "web.marker").exists()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("{at: 5s, marker: wbe}", "5:22: faults[0].marker: unknown service 'wbe'; known: web; did you mean 'web'?"),
        ("{at: 5s, marker: web, colour: red}", "faults[0]: unknown key 'colour'; expected one of at, duration, label, marker"),
        ("{at: 5s, marker: [web]}", "faults[0].marker: Input should be a valid string"),
        ("{at: 5s, markr: web}", "a fault needs a place: http, link, service, container, container_label, config or marker"),
    ],
)  # fmt: skip
def test_mistakes_in_a_registered_kind_are_located_and_explained(
    marker_kind: type[MarkerSpec], tmp_path: Path, fault: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        load_experiment(_experiment(tmp_path, fault))
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "x.yaml"))


def test_a_kind_taken_out_is_no_longer_accepted(tmp_path: Path) -> None:
    path = _experiment(tmp_path, "{at: 5s, marker: web}")
    register(MarkerSpec)
    unregister(MarkerSpec)
    with pytest.raises(
        InvalidInput,
        match=r"a fault needs a place: http, link, service, container, container_label or config$",
    ):
        load_experiment(path)
    assert MarkerSpec not in registered()


def test_every_module_of_the_package_is_a_registered_kind() -> None:
    """Adding a kind: a module in harness/faults/kinds/ and a line in BUILTIN; this test fails without the line."""
    modules = {m.name for m in pkgutil.iter_modules(kinds_package.__path__) if not m.name.startswith("_")}
    assert {spec.__module__.rsplit(".", 1)[1] for spec in BUILTIN} == modules
    assert registered()[: len(BUILTIN)] == BUILTIN


# A stack of two services, the web one with a link to the conf one, for the built-in kinds' builds.
STACK = """\
name: built
services:
  web:
    port: 1
    health: /
    command: ["{python}", -m, http.server, "{port}", --bind, 127.0.0.1]
  conf:
    port: 1
    health: /config
    command: ["{python}", conf.py, "{port}"]
links:
  web_conf: {from: web, to: conf}
config:
  promotion: {service: conf, path: /config}
"""

CONF = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

config = {"percent": 5}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self._send(config)

    def do_PUT(self):
        config.clear()
        config.update(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self._send(config)

    def _send(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@pytest.mark.integration
def test_each_built_in_kind_builds_its_fault_in_a_running_stack(
    client: ToxiproxyClient, tmp_path: Path
) -> None:
    (tmp_path / "target.yaml").write_text(STACK)
    (tmp_path / "conf.py").write_text(CONF)
    target = load_target(tmp_path / "target.yaml")
    stack = Stack(target, None, log_dir=tmp_path / "logs", ports="auto")
    proxies = LinkProxies(client, stack, target.links)
    stack.start()
    try:
        context = FaultContext(target, stack, client, proxies, "embedded", tmp_path)
        config_url = stack.url("conf") + "/config"
        specs = [
            LinkFault.model_validate({"link": "web_conf", "toxic": "latency", "latency": "2s"}),
            LinkFault.model_validate({"link": "web_conf", "toxic": "down"}),
            ProcessFaultSpec.model_validate({"service": "web", "action": "pause"}),
            ConfigFaultSpec.model_validate({"config": "promotion", "set": {"percent": 50}}),
        ]
        for spec in specs:
            assert list(spec.check(target)) == []
        with FaultInjector(FaultJournal(tmp_path / "faults.jsonl")) as faults:
            ids = [faults.apply(spec.build(context)) for spec in specs]
            assert [t["attributes"] for t in client.toxics("web_conf")] == [{"latency": 2000, "jitter": 0}]
            assert client.proxies()["web_conf"]["enabled"] is False
            assert stopped(stack.pid("web"))
            assert httpx.get(config_url).json() == {"percent": 50}
            for fault_id in reversed(ids):
                faults.heal(fault_id)
        assert client.toxics("web_conf") == []
        assert client.proxies()["web_conf"]["enabled"] is True
        assert not stopped(stack.pid("web"))
        assert httpx.get(config_url).json() == {"percent": 5}
        kinds = [e["kind"] for e in read_journal(tmp_path / "faults.jsonl") if e["event"] == "applied"]
        assert kinds == ["toxic", "link", "process", "config"]  # the journal's kinds, as ever
    finally:
        stack.stop()
        proxies.close()


def _names_in_code(source: str) -> set[str]:
    """The names a module's code uses (imports, names, attributes), not its comments or docstrings."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name)
    return found


def test_the_harness_outside_the_kinds_names_no_kind() -> None:
    """The loader, the schedule, the run and the heal dispatch to kinds; only re-exports name them."""
    names = {spec.__name__ for spec in BUILTIN} | {c.__name__ for s in BUILTIN for c in s.fault_classes}
    reexports = {"harness/faults/__init__.py", "harness/faults/kinds/__init__.py", "harness/experiment/__init__.py",
                 "harness/experiment/_model.py"}  # fmt: skip
    mentions: dict[str, set[str]] = {}
    toxics: set[str] = set()
    for path in sorted((ROOT / "harness").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(("harness/faults/kinds/", "harness/faults/toxiproxy_server/")):
            continue
        text = path.read_text()
        found = names & _names_in_code(text)
        if found and relative not in reexports:
            mentions[relative] = found
        if re.search(r"[\"']slow_close[\"']|[\"']limit_data[\"']", text):
            toxics.add(relative)  # the list of toxics is harness/faults/kinds/link.py's
    assert mentions == {}
    assert toxics == set()


class _Clash(FaultSpec):
    kind: ClassVar[str] = "clash"
    places: ClassVar[tuple[str, ...]] = ("link",)
    fault_classes: ClassVar[tuple[type[Fault], ...]] = ()

    link: str

    def build(self, context: FaultContext) -> Fault:
        raise NotImplementedError


class _Nowhere(FaultSpec):
    kind: ClassVar[str] = "nowhere"
    places: ClassVar[tuple[str, ...]] = ("somewhere",)
    fault_classes: ClassVar[tuple[type[Fault], ...]] = ()

    def build(self, context: FaultContext) -> Fault:
        raise NotImplementedError


def test_a_kind_that_would_be_mistaken_for_another_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot register _Clash: another fault kind has the place link"):
        register(_Clash)
    with pytest.raises(
        ValueError, match=re.escape("its places must be some of its own keys (not somewhere)")
    ):
        register(_Nowhere)
    assert registered() == BUILTIN


# -- journals as paychaos wrote them before kinds were modules: they still heal -------------------


def _applied(fault_id: str, kind: str, target: str, action: str, undo: dict[str, Any]) -> str:
    return json.dumps({"event": "applied", "at": "2025-01-01T00:00:00.000+00:00", "t": 1.0, "id": fault_id,
                       "kind": kind, "target": target, "action": action, "params": {}, "undo": undo})  # fmt: skip


@pytest.mark.integration
def test_a_journal_written_before_the_registry_heals(
    toxiproxy: ServerThread, client: ToxiproxyClient, sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    for proxy in ("slow", "cut"):
        client.create_proxy(proxy, "127.0.0.1:0", "127.0.0.1:9")
    client.add_toxic("slow", "latency", {"latency": 5000}, name="latency_downstream_f1")
    client.set_enabled("cut", False)
    os.kill(sleeper.pid, signal.SIGSTOP)
    wait_until(lambda: stopped(sleeper.pid), timeout=5, what="the sleeper to stop")
    external = {"api": toxiproxy.url, "backend": "external"}
    lines = [
        _applied("f1", "toxic", "slow", "latency", {**external, "proxy": "slow", "toxic": "latency_downstream_f1"}),
        _applied("f2", "link", "cut", "down", {**external, "proxy": "cut"}),
        _applied("f3", "process", "sleeper", "pause",
                 {"action": "pause", "pid": sleeper.pid, "created": psutil.Process(sleeper.pid).create_time(),
                  "group": False}),
        _applied("f4", "config", "promotion", "set",
                 {"url": "http://127.0.0.1:9/config", "method": "PUT", "previous": {"percent": 5}}),
    ]  # fmt: skip
    (tmp_path / "faults.jsonl").write_text("\n".join(lines) + "\n")

    healed = heal_leftovers([tmp_path])
    assert [(h.status, h.fault) for h in healed] == [
        ("healed", "f3 pause on sleeper"),  # a paused process first, then the newest first
        ("abandoned", "f4 set on promotion"),
        ("healed", "f2 down on cut"),
        ("healed", "f1 latency on slow"),
    ]
    assert "an older paychaos wrote it" in healed[1].outcome
    assert not stopped(sleeper.pid)
    assert client.toxics("slow") == []
    assert client.proxies()["cut"]["enabled"] is True
    settled = [(e["event"], e["id"]) for e in read_journal(tmp_path / "faults.jsonl")[4:]]
    assert settled == [("healed", "f3"), ("heal_abandoned", "f4"), ("healed", "f2"), ("healed", "f1")]


def test_the_registry_exports() -> None:
    assert sorted(kinds_package.__all__) == [
        "BUILTIN",
        "ConfigFaultSpec",
        "ContainerFaultSpec",
        "FaultContext",
        "FaultSpec",
        "HttpFaultSpec",
        "LinkFault",
        "ProcessFaultSpec",
        "Unknown",
        "fault_class",
        "on_change",
        "register",
        "registered",
        "spec_union",
        "unregister",
    ]
