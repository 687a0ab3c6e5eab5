"""Links through a Toxiproxy the user already runs (``toxiproxy: {url, proxy}`` in target.yaml).

The embedded server, in a thread of the test, stands in for the user's Toxiproxy: the test makes
the proxy there, in front of a small HTTP upstream, as a staging sidecar would have it. The run's
own backend is another embedded server, so one target mixes a remote link and a local one.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from paychaos._ownership import read_ledger
from paychaos._process import free_port
from paychaos.errors import InfrastructureError, InvalidInput
from paychaos.experiment import load_experiment
from paychaos.faults import (
    FaultInjector,
    FaultJournal,
    LinkProxies,
    ToxiproxyClient,
    heal_leftovers,
    read_journal,
)
from paychaos.faults.kinds import FaultContext, HttpFaultSpec, LinkFault
from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from paychaos.rundir import RunDir
from paychaos.system import Stack, Target, load_target
from paychaos.validate import connect_check
from tests.conftest import ROOT
from tests.harness.test_runner import _results, _run

pytestmark = pytest.mark.integration  # real sockets: embedded Toxiproxies, an HTTP upstream

PROXY = "psp_upstream"


def _target(folder: Path, url: str, proxy: str = PROXY, *, api: str | None = None) -> Path:
    """A target whose api reaches psp through the user's proxy and bank through one of the run's."""
    api = api or '{command: ["{python}", -c, pass, "{link.api_psp.url}"], port: 9000}'
    path = folder / "target.yaml"
    path.write_text(f"""
name: remote
services:
  api: {api}
  psp: {{command: ["{{python}}", -c, pass], port: 9001}}
  bank: {{command: ["{{python}}", -c, pass], port: 9002}}
links:
  api_bank: {{from: api, to: bank}}
  api_psp: {{from: api, to: psp, toxiproxy: {{url: "{url}", proxy: {proxy}}}}}
load:
  service: psp
  payment: {{id: $.id}}
  scenarios:
    ping: {{steps: [{{request: {{method: GET, path: /}}}}]}}
""")
    return path


@pytest.fixture
def run_backend() -> Iterator[ToxiproxyClient]:
    """The run's own Toxiproxy backend (another embedded server): the local links' proxies."""
    with ToxiproxyServer(port=0, seed=1).run_in_thread() as backend, ToxiproxyClient(backend.url) as api:
        yield api


@pytest.fixture
def users_proxy(client: ToxiproxyClient, upstream: ThreadingHTTPServer) -> str:
    """The proxy the user made on their Toxiproxy, in front of the upstream, with a toxic of theirs."""
    client.create_proxy(PROXY, "127.0.0.1:0", f"127.0.0.1:{upstream.server_port}")
    client.add_toxic(PROXY, "latency", {"latency": 0}, name="users_own")
    return str(client.proxies()[PROXY]["listen"])


def _context(
    target: Target, stack: Stack, api: ToxiproxyClient, proxies: LinkProxies, run_dir: Path
) -> FaultContext:
    return FaultContext(target, stack, api, proxies, "embedded", run_dir)


def _fault(**keys: Any) -> LinkFault:
    return LinkFault.model_validate(keys)


def _get(listen: str) -> float:
    """Seconds a GET through the proxy takes, on a fresh connection."""
    started = time.perf_counter()
    with httpx.Client(timeout=10) as http:
        assert http.get(f"http://{listen}/").json() == {"ok": True}
    return time.perf_counter() - started


def _toxics_on(client: ToxiproxyClient, proxy: str) -> list[str]:
    return sorted(t["name"] for t in client.toxics(proxy))


def _toxics(client: ToxiproxyClient) -> list[str]:
    return _toxics_on(client, PROXY)


def test_a_latency_fault_on_a_remote_link_slows_its_proxy_and_heals_only_paychaos_toxic(
    toxiproxy: ServerThread,
    client: ToxiproxyClient,
    run_backend: ToxiproxyClient,
    users_proxy: str,
    tmp_path: Path,
) -> None:
    target = load_target(_target(tmp_path, toxiproxy.url))
    stack = Stack(target, None, log_dir=tmp_path / "logs", ports="auto")
    said: list[str] = []
    proxies = LinkProxies(run_backend, stack, target.links, say=said.append)
    # The service is told the user's proxy's address; the local link gets a proxy of the run's.
    assert str(stack.address("api_psp")) == users_proxy
    assert f"http://{users_proxy}" in stack.command("api")
    assert (proxies.proxy("api_psp"), proxies.client_for("api_psp").url) == (PROXY, toxiproxy.url)
    assert (proxies.proxy("api_bank"), proxies.client_for("api_bank")) == ("api_bank", run_backend)
    assert (proxies.remote("api_psp"), proxies.remote("api_bank")) == (True, False)
    assert list(run_backend.proxies()) == ["api_bank"]
    assert any(
        f"proxy {PROXY} already has toxics, left as they are: users_own (latency)" in s for s in said
    ), said

    run_dir = tmp_path / "20261201-173000-remote"
    context = _context(target, stack, run_backend, proxies, run_dir)
    mine = f"paychaos.{run_dir.name}.latency_downstream_f1"
    assert _get(users_proxy) < 0.3
    with FaultInjector(FaultJournal(run_dir / "faults.jsonl")) as faults:
        slow = faults.apply(_fault(link="api_psp", toxic="latency", latency="400ms").build(context))
        assert _toxics(client) == [mine, "users_own"]
        assert run_backend.toxics("api_bank") == []
        assert _get(users_proxy) >= 0.4
        assert faults.heal(slow) == f"removed toxic {mine}"
        assert _toxics(client) == ["users_own"]
        faults.apply(_fault(link="api_psp", toxic="timeout", timeout="1s").build(context))
    # Leaving the block (the run's end) removed the second one too; the user's toxic stays.
    assert _toxics(client) == ["users_own"]
    assert _get(users_proxy) < 0.3
    applied = next(e for e in read_journal(run_dir / "faults.jsonl") if e["event"] == "applied")
    assert applied["undo"] == {"api": toxiproxy.url, "backend": "remote", "proxy": PROXY, "toxic": mine}
    proxies.close()
    assert PROXY in client.proxies()  # never deleted, nor changed
    assert client.proxies()[PROXY]["listen"] == users_proxy
    assert run_backend.proxies() == {}  # the run's own proxy is


def test_a_down_fault_disables_the_users_proxy_and_its_heal_enables_it_again(
    toxiproxy: ServerThread,
    client: ToxiproxyClient,
    run_backend: ToxiproxyClient,
    users_proxy: str,
    tmp_path: Path,
) -> None:
    target = load_target(_target(tmp_path, toxiproxy.url))
    stack = Stack(target, None, log_dir=tmp_path / "logs", ports="auto")
    proxies = LinkProxies(run_backend, stack, target.links)
    context = _context(target, stack, run_backend, proxies, tmp_path / "run")
    with FaultInjector(FaultJournal(tmp_path / "run" / "faults.jsonl")) as faults:
        down = faults.apply(_fault(link="api_psp", toxic="down").build(context))
        assert client.proxies()[PROXY]["enabled"] is False
        with pytest.raises(httpx.TransportError):
            _get(users_proxy)
        again = faults.apply(_fault(link="api_psp", toxic="down").build(context))  # overlapping
        assert "still down by f2" in faults.heal(down)
        assert client.proxies()[PROXY]["enabled"] is False
        assert faults.heal(again) == f"re-enabled proxy {PROXY}"
        assert client.proxies()[PROXY]["enabled"] is True
        assert _get(users_proxy) < 0.3

        # A proxy the user had disabled stays so: paychaos undoes only what it did.
        client.set_enabled(PROXY, False)
        was_off = faults.apply(_fault(link="api_psp", toxic="down").build(context))
        assert faults.heal(was_off) == f"left proxy {PROXY} disabled, as it was before the fault"
        assert client.proxies()[PROXY]["enabled"] is False


# A run that dies with faults in place: its own backend in a thread of its own (it dies with it),
# a local link's toxic there, and on the user's proxy a toxic and the proxy down.
DYING_RUN = """
import sys
from pathlib import Path
from paychaos._ownership import RunLock
from paychaos.faults import FaultInjector, FaultJournal, LinkProxies, ToxiproxyClient
from paychaos.faults.kinds import FaultContext, LinkFault
from paychaos.faults.toxiproxy_server import ToxiproxyServer
from paychaos.system import Stack, load_target

target_file, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
run_dir.mkdir(parents=True, exist_ok=True)
target = load_target(target_file)
with RunLock(run_dir), ToxiproxyServer(port=0).run_in_thread() as backend, ToxiproxyClient(backend.url) as api:
    stack = Stack(target, None, log_dir=run_dir / "logs", ports="auto")
    context = FaultContext(target, stack, api, LinkProxies(api, stack, target.links), "embedded", run_dir)
    faults = FaultInjector(FaultJournal(run_dir / "faults.jsonl"))  # never left: the run is killed
    for keys in ({"link": "api_bank", "toxic": "latency", "latency": "5s"},
                 {"link": "api_psp", "toxic": "latency", "latency": "5s"},
                 {"link": "api_psp", "toxic": "down"}):
        faults.apply(LinkFault.model_validate(keys).build(context))
    print("faults applied", flush=True)
    sys.stdin.read()
"""


def _die(target: Path, run_dir: Path) -> None:
    run = subprocess.Popen([sys.executable, "-c", DYING_RUN, str(target), str(run_dir)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert run.stdout is not None
    assert run.stdout.readline().strip() == "faults applied"
    run.kill()  # SIGKILL: none of the run's own cleanup happens
    run.wait()


def test_heal_removes_what_a_dead_run_left_on_the_users_proxy_though_its_own_backend_is_gone(
    toxiproxy: ServerThread, client: ToxiproxyClient, users_proxy: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "reports" / "20261201-173000-remote"
    _die(_target(tmp_path, toxiproxy.url), run_dir)
    left = f"paychaos.{run_dir.name}.latency_downstream_f2"
    assert _toxics(client) == [left, "users_own"]
    assert client.proxies()[PROXY]["enabled"] is False

    done = {h.fault: (h.status, h.outcome) for h in heal_leftovers([run_dir])}
    # The run's own backend died with it, and its toxic with it; the user's Toxiproxy did not.
    status, outcome = done["f1 latency on api_bank"]
    assert status == "healed"
    assert "Toxiproxy backend" in outcome, outcome
    assert "is gone" in outcome, outcome
    assert done[f"f2 latency on {PROXY}"] == ("healed", f"removed toxic {left}")
    assert done[f"f3 down on {PROXY}"] == ("healed", f"re-enabled proxy {PROXY}")
    assert _toxics(client) == ["users_own"]
    assert client.proxies()[PROXY]["enabled"] is True
    assert _get(users_proxy) < 0.3
    # Settled: a second heal (paychaos heal, the next run's prepare) does nothing to it.
    assert [h.fault for h in heal_leftovers([run_dir]) if h.fault.startswith("f")] == []


def test_a_remote_heal_that_cannot_reach_the_toxiproxy_fails_and_is_tried_again_later(
    upstream: ThreadingHTTPServer, tmp_path: Path
) -> None:
    port = free_port()
    users = ToxiproxyServer(port=port).run_in_thread()
    try:
        with ToxiproxyClient(users.url) as api:
            api.create_proxy(PROXY, "127.0.0.1:0", f"127.0.0.1:{upstream.server_port}")
        run_dir = tmp_path / "20261201-173000-remote"
        _die(_target(tmp_path, users.url), run_dir)
    finally:
        users.close()  # the user's Toxiproxy is down while paychaos heals

    failed = {h.fault: h.status for h in heal_leftovers([run_dir])}
    assert failed[f"f2 latency on {PROXY}"] == failed[f"f3 down on {PROXY}"] == "failed"
    # Back (restarted, say, with its state): not the process that was there, yet the same proxy.
    with ToxiproxyServer(port=port).run_in_thread() as back, ToxiproxyClient(back.url) as api:
        api.create_proxy(PROXY, "127.0.0.1:0", f"127.0.0.1:{upstream.server_port}", enabled=False)
        api.add_toxic(
            PROXY, "latency", {"latency": 5000}, name=f"paychaos.{run_dir.name}.latency_downstream_f2"
        )
        healed = {h.fault: h.status for h in heal_leftovers([run_dir]) if h.fault.startswith("f")}
        assert healed == {f"f2 latency on {PROXY}": "healed", f"f3 down on {PROXY}": "healed"}
        assert api.toxics(PROXY) == []
        assert api.proxies()[PROXY]["enabled"] is True


def test_an_unknown_proxy_or_a_toxiproxy_that_does_not_answer_stops_the_run_before_the_stack_starts(
    toxiproxy: ServerThread, run_backend: ToxiproxyClient, users_proxy: str, tmp_path: Path
) -> None:
    target = load_target(_target(tmp_path, toxiproxy.url, proxy="psp_upstraem"))
    stack = Stack(target, None, log_dir=tmp_path / "logs", ports="auto")
    with pytest.raises(InfrastructureError) as unknown:
        LinkProxies(run_backend, stack, target.links)
    assert str(unknown.value) == (
        f"links.api_psp.toxiproxy.proxy: no proxy 'psp_upstraem' on the Toxiproxy at {toxiproxy.url}; paychaos "
        "never creates one: create it there (in front of the link's peer), or fix the name; it has: "
        f"{PROXY}; did you mean '{PROXY}'?"
    )
    assert run_backend.proxies() == {}  # the local proxy made before it was taken away again

    nowhere = f"http://127.0.0.1:{free_port()}"
    target = load_target(_target(tmp_path, nowhere))
    with pytest.raises(
        InfrastructureError, match=r"links\.api_psp\.toxiproxy\.url: the Toxiproxy at .* does not answer"
    ):
        LinkProxies(run_backend, Stack(target, None, log_dir=tmp_path, ports="auto"), target.links)


def _experiment(folder: Path, target: Path, faults: str = "[]") -> Path:
    path = folder / "experiment.yaml"
    path.write_text(
        f"name: remote\ntarget: {{path: {target}}}\nload: {{users: 1, duration: 5s}}\nfaults: {faults}\n"
    )
    return path


def test_validate_checks_the_url_and_the_name_and_with_connect_that_both_are_there(
    toxiproxy: ServerThread, users_proxy: str, tmp_path: Path
) -> None:
    with pytest.raises(
        InvalidInput, match=r"links\.api_psp\.toxiproxy\.url: .*'ftp://x' is no Toxiproxy API URL"
    ):
        load_target(_target(tmp_path, "ftp://x"))
    with pytest.raises(InvalidInput, match=r"links\.api_psp\.toxiproxy\.proxy: .*the proxy's name is empty"):
        load_target(_target(tmp_path, toxiproxy.url, proxy='" "'))

    good = load_experiment(_experiment(tmp_path, _target(tmp_path, toxiproxy.url)))
    reached = connect_check([good], env={})
    assert reached.problems == []
    assert (
        f"links.api_psp: proxy {PROXY} on the Toxiproxy at {toxiproxy.url} (listens on {users_proxy}"
        in "\n".join(reached.checked)
    )
    assert any(line.endswith("toxics on it now, left alone: users_own (latency)") for line in reached.checked)

    typo = tmp_path / "typo"
    typo.mkdir()
    reached = connect_check(
        [load_experiment(_experiment(typo, _target(typo, toxiproxy.url, "psp_upstrem")))], env={}
    )
    (problem,) = reached.problems
    assert f"{typo / 'target.yaml'}:9:" in problem
    assert (
        f"links.api_psp.toxiproxy.proxy: no proxy 'psp_upstrem' on the Toxiproxy at {toxiproxy.url}; "
        in problem
    )
    assert problem.endswith(f"it has: {PROXY}; did you mean '{PROXY}'?")

    gone = tmp_path / "gone"
    gone.mkdir()
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "validate", "--connect", str(_experiment(gone, _target(gone, nowhere)))],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"links.api_psp.toxiproxy.url: the Toxiproxy at {nowhere} does not answer" in result.stderr


HTTP_FAULT = "[{link: api_psp, http: {action: abort}}]"


def test_an_http_fault_on_a_remote_link_needs_a_source_paychaos_starts(
    toxiproxy: ServerThread, tmp_path: Path
) -> None:
    started = load_experiment(_experiment(tmp_path, _target(tmp_path, toxiproxy.url), HTTP_FAULT))
    assert isinstance(started.experiment.faults[0], HttpFaultSpec)  # service → hop → the user's proxy

    running = tmp_path / "running"
    running.mkdir()
    target = _target(running, toxiproxy.url, api="{url: 'http://127.0.0.1:9'}")
    with pytest.raises(InvalidInput) as refused:
        load_experiment(_experiment(running, target, HTTP_FAULT))
    assert (
        "faults[0].link: unknown link an http: fault can use (api_psp goes through a Toxiproxy you run from api, "
        "which paychaos does not start: the HTTP hop can only be put in front of a service paychaos starts; use "
        "toxics on this link instead) 'api_psp'; known: api_bank"
    ) in str(refused.value)


BANK_SIDECAR = "bank_sidecar"


def _point_the_sidecar_at_the_bank(out: Path, api: ToxiproxyClient, stop: threading.Event) -> None:
    """What the user's sidecar does in staging: forward to the bank. A run picks the bank's port,
    so the test reads it from the run's ledger and sets the proxy's upstream as the bank starts."""
    while not stop.wait(0.05):
        for run_dir in out.glob("*/"):
            bank = [r for r in read_ledger(run_dir) if (r.get("role"), r.get("name")) == ("service", "bank")]
            if bank:
                httpx.post(
                    f"{api.url}/proxies/{BANK_SIDECAR}", json={"upstream": f"127.0.0.1:{bank[0]['port']}"}
                )
                return


@pytest.mark.slow
def test_a_run_against_paystack_puts_its_faults_on_the_users_proxy_and_leaves_it_as_it_found_it(
    toxiproxy: ServerThread, client: ToxiproxyClient, tmp_path: Path
) -> None:
    client.create_proxy(BANK_SIDECAR, "127.0.0.1:0", "127.0.0.1:9")
    client.add_toxic(BANK_SIDECAR, "latency", {"latency": 0}, name="users_own")
    (tmp_path / "paystack").mkdir()
    paystack = (ROOT / "targets" / "paystack" / "target.yaml").read_text()
    line = "  gateway_bank:       {from: gateway, to: bank, description: debits and refunds}\n"
    assert line in paystack
    through = f'  gateway_bank: {{from: gateway, to: bank, toxiproxy: {{url: "{toxiproxy.url}", proxy: {BANK_SIDECAR}}}}}\n'
    (tmp_path / "paystack" / "target.yaml").write_text(paystack.replace(line, through))
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(f"""
name: remote-bank
seed: 13
target: {{path: {tmp_path / "paystack"}}}
load: {{users: 4, duration: 10s, scenarios: {{pay: 1}}}}
faults:
  - {{at: 3s, duration: 4s, link: gateway_bank, toxic: latency, latency: 700ms}}
exclude: {{no_double_payout: this load sends no payouts}}
settle: {{timeout: 30s}}
""")
    out, stop = tmp_path / "runs", threading.Event()
    sidecar = threading.Thread(target=_point_the_sidecar_at_the_bank, args=(out, client, stop), daemon=True)
    sidecar.start()
    try:
        result = _run(str(experiment), "--out", str(out), timeout=300)
    finally:
        stop.set()
        sidecar.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"gateway_bank: through proxy {BANK_SIDECAR} on the Toxiproxy at {toxiproxy.url}" in result.stdout
    assert (
        f"gateway_bank: proxy {BANK_SIDECAR} already has toxics, left as they are: users_own (latency)"
        in result.stdout
    )
    run_dir, results = _results(out)
    (applied,) = [e for e in read_journal(run_dir / "faults.jsonl") if e["event"] == "applied"]
    mine = f"paychaos.{run_dir.name}.latency_downstream_f1"
    assert applied["undo"] == {
        "api": toxiproxy.url,
        "backend": "remote",
        "proxy": BANK_SIDECAR,
        "toxic": mine,
    }
    # The payments slowed while the toxic was on the user's proxy (the gateway reaches the bank through it).
    t0, fault = results["load_started_at"], results["faults"][0]
    pays = [o for o in RunDir(run_dir).read_history() if o["kind"] == "pay" and o["outcome"] == "ok"]
    during = [
        o["end"] - o["start"]
        for o in pays
        if t0 + fault["applied_at"] + 0.2 < o["start"] < t0 + fault["healed_at"] - 1
    ]
    assert during
    assert min(during) >= 0.7, during
    # The user's proxy is as the user left it: there, enabled, with only their own toxic.
    assert _toxics_on(client, BANK_SIDECAR) == ["users_own"]
    assert client.proxies()[BANK_SIDECAR]["enabled"] is True
