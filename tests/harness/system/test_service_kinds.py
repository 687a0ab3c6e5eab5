"""The three kinds of service in target.yaml: command, compose and url.

A url service runs already (here: a loopback HTTP server in a thread): paychaos waits for its
health, leaves it alone at stop, and routes the links to it through proxies like any other; it
refuses what it cannot do to one (restart it, fault its process, route its own links). The model
and loader refuse a service of two kinds, a url that is more than http://HOST:PORT, and compose
services their Compose file does not declare as it must. The Compose project's life is in
test_compose.py (real Docker); what needs no engine is here.
"""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from paychaos._ownership import RunLock, record_compose, recorded_compose
from paychaos.errors import InfrastructureError, InvalidInput
from paychaos.experiment import load_experiment
from paychaos.faults import LinkProxies, ToxiproxyClient
from paychaos.faults.kinds import ContainerFaultSpec
from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from paychaos.run import RunOptions
from paychaos.run._plan import plan_run
from paychaos.system import Address, Stack, load_target
from paychaos.system._compose import COMPOSE_ENV, ComposeProject, compose_command
from paychaos.system._model import Target
from paychaos.validate import deep_check
from tests.support.loopback import http_server

# A service paychaos starts whose health needs the url service, reached at {link.shop_psp.url}:
# GET /peer relays what the url service answers at /hello.
SHOP = """\
import os, sys, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with urllib.request.urlopen(os.environ["PSP"] + ("/healthz" if self.path == "/healthz" else "/hello"), timeout=2) as r:
                status, body = 200, r.read()
        except Exception as exc:
            status, body = 502, str(exc).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

ATTACHED = """\
name: attached
services:
  psp: {url: "URL", health: /healthz, start_timeout: 5s, description: "the PSP, run by someone else"}
  shop:
    command: ["{python}", shop.py, "{port}"]
    port: 1
    env: {PSP: "{link.shop_psp.url}"}
    start_timeout: 10s
links:
  shop_psp: {from: shop, to: psp}
  psp_shop: {from: psp, to: shop, description: "webhooks, which no proxy can be put on"}
load:
  service: shop
  payment: {id: $.id}
  scenarios:
    pay: {steps: [{request: {method: GET, path: /peer}}]}
"""

EXPERIMENT = """\
name: x
target: {path: target.yaml}
load: {users: 1, duration: 30s}
faults:
  - FAULT
"""


def _target(folder: Path, text: str) -> Target:
    (folder / "target.yaml").write_text(text)
    (folder / "shop.py").write_text(SHOP)
    return load_target(folder / "target.yaml")


def _refused(folder: Path, text: str) -> str:
    with pytest.raises(InvalidInput) as err:
        _target(folder, text)
    return str(err.value)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def toxiproxy() -> Iterator[ServerThread]:
    with ToxiproxyServer(port=0, seed=1).run_in_thread() as handle:
        yield handle


# -- the model and the loader ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ('{command: [x], url: "http://127.0.0.1:9300", port: 1}', "got command and url"),
        ("{compose: api, command: [x], port: 1}", "got command and compose"),
        ("{port: 1, health: /}", "a service is one of: command (a process paychaos starts), compose"),
        ('{url: "http://127.0.0.1:9300/psp"}', "is no service URL; write http://HOST:PORT and nothing more"),
        ('{url: "https://psp.example:443"}', "is no service URL"),
        ('{url: "http://127.0.0.1"}', "is no service URL"),
        ('{url: "http://127.0.0.1:9300", port: 9300}', "a url service's port is the one in its url"),
        ('{url: "http://127.0.0.1:9300", env: {A: b}}', "paychaos gives it no environment"),
        ("{compose: api}", "a compose service needs 'port'"),
    ],
)
def test_a_service_is_exactly_one_kind_and_a_url_is_only_a_host_and_port(
    tmp_path: Path, service: str, message: str
) -> None:
    said = _refused(tmp_path, f"name: t\nservices:\n  api: {service}\n")
    assert message in said
    assert "target.yaml:3:8: services.api" in said


def test_a_url_service_has_its_own_address_and_port_and_links_to_it_lead_there(tmp_path: Path) -> None:
    target = _target(tmp_path, ATTACHED.replace("URL", "http://127.0.0.1:9300/"))
    assert target.services["psp"].kind == "url"
    assert target.services_of("url") == ["psp"]
    assert target.services_of("command") == ["shop"]
    stack = Stack(target, None, log_dir=tmp_path / "logs", ports={"shop": 18001, "psp": 1})
    assert stack.url("psp") == "http://127.0.0.1:9300"
    assert stack.ports == {"psp": 9300, "shop": 18001}  # chosen ports are for the services paychaos starts
    assert stack.peer("shop_psp") == Address("127.0.0.1", 9300)
    with pytest.raises(InvalidInput, match="psp is a url service: paychaos runs no process of it"):
        stack.pid("psp")
    with pytest.raises(InvalidInput, match="paychaos only attaches to it, and cannot restart it"):
        stack.restart("psp")
    with pytest.raises(InvalidInput, match="only services paychaos starts with a command take extra"):
        Stack(target, None, log_dir=tmp_path, args={"psp": ["--x"]})


def test_a_process_fault_on_a_url_or_compose_service_is_refused_when_the_experiment_loads(
    tmp_path: Path,
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  api: {image: x, network_mode: host}\n")
    _target(tmp_path, ATTACHED.replace("URL", "http://127.0.0.1:9300").replace(
        "links:", "  api: {compose: api, port: 1}\ncompose: {file: compose.yaml}\nlinks:"
    ))  # fmt: skip
    for service, message in [
        ("psp", "psp is a url service: it runs already, and paychaos, which only attaches to it, does "
                "not own its process; fault its links instead"),
        ("api", "api is a compose service, a container, not a process of paychaos's; use a container "
                "fault: {container: api, action: kill|stop|pause|restart}"),
    ]:  # fmt: skip
        path = tmp_path / "x.yaml"
        path.write_text(EXPERIMENT.replace("FAULT", f"{{at: 1s, service: {service}, action: kill}}"))
        with pytest.raises(InvalidInput) as err:
            load_experiment(path)
        assert message in str(err.value)
        assert "x.yaml:5:23: faults[0].service" in str(err.value)
        assert "known: shop" in str(err.value)  # the services a process fault can act on


def test_a_link_fault_from_a_url_service_is_refused_by_validate_and_by_a_run(tmp_path: Path) -> None:
    _target(tmp_path, ATTACHED.replace("URL", "http://127.0.0.1:9300"))
    path = tmp_path / "x.yaml"
    for fault in (
        "{at: 1s, link: psp_shop, toxic: latency, latency: 1s}",
        "{at: 1s, link: psp_shop, http: {action: lose_response}}",
    ):
        path.write_text(EXPERIMENT.replace("FAULT", fault))
        file = load_experiment(path)
        (problem,) = deep_check(file)
        assert problem.startswith(f"{path}:5:")
        assert (
            "faults[0].link: link 'psp_shop' starts at 'psp', a url service paychaos only attaches to"
            in problem
        )
        assert "route it through a Toxiproxy you run (links.psp_shop.toxiproxy: {url, proxy})" in problem
        with pytest.raises(InvalidInput, match=r"faults\[0\].link: link 'psp_shop' starts at 'psp'"):
            plan_run(file, RunOptions(out=tmp_path / "reports"))
        assert not (tmp_path / "reports").exists()  # refused before the run claims a folder
    # Links to a url service are routed like any other: faults on them are fine.
    path.write_text(EXPERIMENT.replace("FAULT", "{at: 1s, link: shop_psp, toxic: latency, latency: 1s}"))
    assert deep_check(load_experiment(path)) == []


def test_a_link_from_a_url_service_through_the_users_toxiproxy_can_be_faulted(tmp_path: Path) -> None:
    target = _target(tmp_path, ATTACHED.replace("URL", "http://127.0.0.1:9300").replace(
        'description: "webhooks, which no proxy can be put on"',
        "toxiproxy: {url: 'http://127.0.0.1:8474', proxy: psp_shop}",
    ))  # fmt: skip
    if getattr(target.links["psp_shop"], "toxiproxy", None) is None:
        pytest.skip("links take no toxiproxy: yet")
    assert target.unfaultable_link("psp_shop") is None


def test_compose_services_need_the_compose_section_and_services_the_file_declares(tmp_path: Path) -> None:
    base = "name: t\nservices:\n  api: {compose: api, port: 1, env: {X: '{link.api_web.url}'}}\n"
    base += "  web: {command: [x], port: 2}\nlinks:\n  api_web: {from: api, to: web}\n"
    said = _refused(tmp_path, base)
    assert "services.api.compose: a compose service needs the top-level compose: section" in said

    with_file = base + "compose: {file: compose.yaml}\n"
    assert _target(tmp_path, with_file).compose is not None  # no file yet: validate --connect says so
    (tmp_path / "compose.yaml").write_text("services:\n  apii: {image: x, network_mode: host}\n")
    said = _refused(tmp_path, with_file)
    assert (
        "services.api.compose: unknown service of compose.yaml 'api'; known: apii; did you mean 'apii'?"
        in said
    )

    (tmp_path / "compose.yaml").write_text("services:\n  api: {image: x}\n")
    said = _refused(tmp_path, with_file)
    assert "Compose service 'api' has no network_mode; add network_mode: host to it in compose.yaml" in said
    (tmp_path / "compose.yaml").write_text("services:\n  api: {image: x, network_mode: bridge}\n")
    assert "has network_mode: bridge" in _refused(tmp_path, with_file)

    (tmp_path / "compose.yaml").write_text("services:\n  api: {image: x, network_mode: host}\n")
    target = _target(tmp_path, with_file)
    assert target.services_of("compose") == ["api"]
    python = with_file.replace("X: '{link.api_web.url}'", "X: '{python}'")
    assert "{python} is paychaos's interpreter on this machine" in _refused(tmp_path, python)
    twice = with_file.replace("  web: {command", "  again: {compose: api, port: 3}\n  web: {command")
    assert "services.api is Compose service 'api' already" in _refused(tmp_path, twice)
    unused = "name: t\nservices:\n  web: {command: [x], port: 2}\ncompose: {file: compose.yaml}\n"
    assert "compose: no service says which Compose service it is" in _refused(tmp_path, unused)


def test_the_override_gives_compose_services_their_env_filled_in_and_is_for_the_user_only(
    tmp_path: Path,
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  api-svc: {image: x, network_mode: host}\n")
    target = _target(tmp_path, """\
name: wallet
env: {SHARED: "{secret}"}
compose: {file: compose.yaml, project: walletpay}
services:
  api:
    compose: api-svc
    port: 9201
    env: {PORT: "{port}", WEB: "{link.api_web.url}", AT: "{link.api_web.address}", PRICE: "5$"}
  web: {command: [x], port: 9202}
links:
  api_web: {from: api, to: web}
defects_env: WALLET_DEFECTS
defects:
  slow: {description: d, incident: i, experiment: e.yaml, invariants: [x]}
""")  # fmt: skip
    stack = Stack(target, None, log_dir=tmp_path / "logs", defects=("slow",), ports={"api": 19201})
    assert stack.compose is not None
    assert stack.compose_project is not None
    assert stack.compose_project.startswith("walletpay-")
    assert Stack(target, None, log_dir=tmp_path).compose_project != stack.compose_project  # one per stack
    stack.route("api_web", Address("127.0.0.1", 20001))
    env = stack.compose_environment("api")
    assert env == {
        "SHARED": stack.secret,
        "PORT": "19201",
        "WEB": "http://127.0.0.1:20001",
        "AT": "127.0.0.1:20001",
        "PRICE": "5$",
        "WALLET_DEFECTS": "slow",
    }  # and nothing of paychaos's own environment
    stack.compose.write_override({"api-svc": env})
    override = stack.compose.override
    assert stat.S_IMODE(override.stat().st_mode) == 0o600
    assert "PRICE: 5$$" in override.read_text()  # Compose would read $ as a variable
    assert stack.compose.down_command().endswith(
        f"-p {stack.compose_project} -f {tmp_path / 'compose.yaml'} down --remove-orphans --volumes --timeout 5"
    )


def test_the_compose_command_is_the_environments_then_the_targets_then_one_found_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(COMPOSE_ENV, raising=False)
    (tmp_path / "compose.yaml").write_text("services:\n  api: {image: x, network_mode: host}\n")
    target = _target(tmp_path, "name: t\ncompose: {file: compose.yaml, command: [podman-compose]}\n"
                               "services:\n  api: {compose: api, port: 1}\n")  # fmt: skip
    assert compose_command(target.compose, {COMPOSE_ENV: "docker  compose"}) == ["docker", "compose"]
    assert compose_command(target.compose, {}) == ["podman-compose"]
    project = ComposeProject(target, log_dir=tmp_path, project="p-1")
    file = str(tmp_path / "compose.yaml")
    assert project.argv("ps", override=False) == ["podman-compose", "-p", "p-1", "-f", file, "ps"]
    assert project.argv("ps")[-3:] == ["-f", str(tmp_path / "compose.override.yaml"), "ps"]


def test_a_container_fault_names_a_compose_service_by_its_name_in_the_target_or_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  api-svc: {image: x, network_mode: host}\n")
    target = _target(tmp_path, "name: t\ncompose: {file: compose.yaml}\n"
                               "services:\n  api: {compose: api-svc, port: 1}\n")  # fmt: skip
    named = {
        name: ContainerFaultSpec(container=name, action="pause").compose_service(target)
        for name in ("api", "api-svc", "billing")
    }
    assert named == {"api": "api-svc", "api-svc": "api-svc", "billing": None}
    assert ContainerFaultSpec(container_label="a=b", action="pause").compose_service(target) is None


def test_compose_projects_are_recorded_in_the_ledger_until_taken_down_or_kept(tmp_path: Path) -> None:
    record_compose("outside-1", "up")  # no run: nothing recorded
    with RunLock(tmp_path):
        record_compose("one-1", "up", file="/c.yaml")
        record_compose("two-2", "up")
        record_compose("three-3", "up")
        record_compose("two-2", "down")
        record_compose("three-3", "kept", down="docker compose -p three-3 down")
    assert [(r["compose"], r["state"]) for r in recorded_compose(tmp_path)] == [
        ("one-1", "up"),
        ("three-3", "kept"),
    ]
    assert recorded_compose(tmp_path)[0]["file"] == "/c.yaml"
    lines = [json.loads(line) for line in (tmp_path / "processes.jsonl").read_text().splitlines()]
    assert all("pid" not in line for line in lines)  # what stops processes never reads these


# -- attached to a service that runs already -------------------------------------------------------


@pytest.mark.integration
def test_a_url_service_is_waited_for_and_left_alone_and_links_to_it_go_through_their_proxy(
    tmp_path: Path, toxiproxy: ServerThread
) -> None:
    with http_server({"/healthz": "ok", "/hello": "hello from the psp"}) as psp:
        target = _target(tmp_path, ATTACHED.replace("URL", psp.url))
        stack = Stack(target, None, log_dir=tmp_path / "logs", ports="auto")
        with ToxiproxyClient(toxiproxy.url) as client:
            proxies = LinkProxies(client, stack, ["shop_psp"])
            proxy = stack.address("shop_psp")
            assert proxy != stack.peer("shop_psp") == Address("127.0.0.1", psp.port)
            with stack:
                assert stack.url("psp") == psp.url
                assert stack.healthy("psp")
                assert _get(f"{stack.url('shop')}/peer") == (200, "hello from the psp")
                assert stack.environment("shop")["PSP"] == f"http://{proxy}"
                # The link is down: the shop can no longer reach the psp.
                client.set_enabled(proxies.proxy("shop_psp"), False)
                status, _ = _get(f"{stack.url('shop')}/peer")
                assert status == 502
                client.set_enabled(proxies.proxy("shop_psp"), True)
                assert _get(f"{stack.url('shop')}/peer") == (200, "hello from the psp")
            proxies.close()
        assert _get(f"{psp.url}/hello") == (200, "hello from the psp")  # stop() left it running
        assert "/healthz" in psp.requests


@pytest.mark.integration
def test_a_url_service_that_does_not_answer_stops_the_start_saying_so(tmp_path: Path) -> None:
    with http_server({"/hello": "no health here"}) as psp:
        text = ATTACHED.replace("URL", psp.url).replace("start_timeout: 5s", "start_timeout: 300ms")
        stack = Stack(_target(tmp_path, text), None, log_dir=tmp_path / "logs", ports="auto")
        with pytest.raises(InfrastructureError) as err:
            stack.start()
        said = str(err.value)
    assert (
        f"service 'psp' at {psp.url} was not healthy within 0.3s (GET {psp.url}/healthz answered no 2xx)"
        in said
    )
    assert "start it first, or fix its url or health" in said
    assert stack.exited() == {}  # the shop it started is stopped again
