"""What each link's proxy carried: /metrics read into results.json's ``traffic`` and the report.

The parsing runs on real scrapes of the embedded server, and on Toxiproxy 2.12's own format (bytes
only, counted when a connection ends); a Toxiproxy without /metrics is "not available", quietly.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from paychaos._results_model import TrafficRecord
from paychaos.faults._backends import link_traffic, parse_traffic
from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from paychaos.report._proxies import traffic_section
from paychaos.system import load_target
from tests.conftest import ROOT
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    WAIT,
    Api,
    Upstream,
    open_pair,
    recv_exactly,
    recv_until_eof,
)

PAYCHAOS = [sys.executable, "-m", "paychaos.cli"]

# Toxiproxy 2.12 with -proxy-metrics, as it writes them (go's client_golang): bytes only, per proxy
# and direction, added when a connection ends.
REFERENCE_SCRAPE = """\
# HELP toxiproxy_proxy_received_bytes_total The total bytes received by the proxy
# TYPE toxiproxy_proxy_received_bytes_total counter
toxiproxy_proxy_received_bytes_total{direction="downstream",listener="127.0.0.1:40001",proxy="bank",upstream="127.0.0.1:8103"} 2048
toxiproxy_proxy_received_bytes_total{direction="upstream",listener="127.0.0.1:40001",proxy="bank",upstream="127.0.0.1:8103"} 512
# HELP toxiproxy_proxy_sent_bytes_total The total bytes sent by the proxy
# TYPE toxiproxy_proxy_sent_bytes_total counter
toxiproxy_proxy_sent_bytes_total{direction="downstream",listener="127.0.0.1:40001",proxy="bank",upstream="127.0.0.1:8103"} 2000
toxiproxy_proxy_sent_bytes_total{direction="upstream",listener="127.0.0.1:40001",proxy="bank",upstream="127.0.0.1:8103"} 512
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 12
"""


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.close()


def _scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=WAIT) as reply:
        return str(reply.read().decode())


@pytest.mark.integration
def test_parse_a_scrape_of_the_embedded_server(metered: ServerThread, upstream: Upstream) -> None:
    api = Api(metered.url)
    api.create_proxy("bank", upstream.addr)
    proxy = api.create_proxy("idle", upstream.addr)
    assert proxy["name"] == "idle"
    bank = api.get("/proxies/bank").body
    for request, answer in ((b"x" * 300, b"y" * 7000), (b"z" * 20, b"w" * 5)):
        client, server = open_pair(bank, upstream)
        client.sendall(request)
        assert recv_exactly(server, len(request)) == request
        server.sendall(answer)
        assert recv_exactly(client, len(answer)) == answer
        client.close()
        assert recv_until_eof(server) == b""
        server.close()
    still_open, its_server = open_pair(bank, upstream)  # a live connection's bytes count too
    still_open.sendall(b"12345")
    assert recv_exactly(its_server, 5) == b"12345"

    traffic = parse_traffic(_scrape(metered.url))

    assert traffic is not None
    assert traffic.counts_connections
    assert traffic.of("bank") == {
        "connections": 3,
        "upstream": {"received": 325, "sent": 325},
        "downstream": {"received": 7005, "sent": 7005},
        "note": None,
    }
    assert traffic.of("idle")["connections"] == 0  # listed by name, nothing carried
    assert traffic.of("never-made") == {
        "connections": 0, "upstream": {"received": 0, "sent": 0},
        "downstream": {"received": 0, "sent": 0}, "note": None,
    }  # fmt: skip
    still_open.close()
    its_server.close()


@pytest.mark.integration
def test_bytes_a_toxic_holds_are_received_but_not_yet_sent(metered: ServerThread, upstream: Upstream) -> None:
    api = Api(metered.url)
    proxy = api.create_proxy("slow", upstream.addr)
    api.add_toxic("slow", "latency", "upstream", latency=60_000)
    client, server = open_pair(proxy, upstream)
    client.sendall(b"held" * 10)
    found = None
    for _ in range(100):  # the proxy reads it at once; poll the counters, never the clock
        found = parse_traffic(_scrape(metered.url))
        if found is not None and found.of("slow")["upstream"]["received"] == 40:
            break
    assert found is not None
    assert found.of("slow")["upstream"] == {"received": 40, "sent": 0}
    client.close()
    server.close()


def test_parse_toxiproxys_own_format() -> None:
    traffic = parse_traffic(REFERENCE_SCRAPE)
    assert traffic is not None
    assert not traffic.counts_connections
    bank = traffic.of("bank")
    assert bank["connections"] is None
    assert bank["upstream"] == {"received": 512, "sent": 512}
    assert bank["downstream"] == {"received": 2048, "sent": 2000}
    assert "still open are not counted" in bank["note"]
    assert traffic.of("other")["connections"] is None


def test_a_scrape_without_proxy_counters_is_none() -> None:
    assert parse_traffic("# TYPE go_goroutines gauge\ngo_goroutines 12\n") is None
    assert parse_traffic("") is None
    with pytest.raises(ValueError, match="could not convert"):
        parse_traffic("this is { not prometheus\n")


@pytest.mark.integration
def test_link_traffic_reads_each_api_once_and_says_what_is_not_available(
    metered: ServerThread, upstream: Upstream
) -> None:
    api = Api(metered.url)
    proxy = api.create_proxy("run.bank", upstream.addr)
    client, server = open_pair(proxy, upstream)
    client.sendall(b"hello")
    assert recv_exactly(server, 5) == b"hello"
    with ToxiproxyServer(port=0).run_in_thread() as plain:  # no --proxy-metrics: no /metrics
        found = link_traffic({
            "gateway_bank": (metered.url, "run.bank"),
            "gateway_psp": (metered.url, "run.psp"),
            "remote": (plain.url, "theirs"),
            "gone": ("http://127.0.0.1:1", "x"),
        }, timeout=2)  # fmt: skip
    links = found["links"]
    assert links["gateway_bank"]["available"] is True
    assert links["gateway_bank"]["upstream"] == {"received": 5, "sent": 5}
    assert links["gateway_bank"]["connections"] == 1
    assert links["gateway_psp"]["upstream"] == {"received": 0, "sent": 0}
    assert links["remote"] == {
        "proxy": "theirs", "api": plain.url, "available": False,
        "note": "not available: GET /metrics answered 404 (started without -proxy-metrics?)",
        "connections": None, "upstream": None, "downstream": None,
    }  # fmt: skip
    assert links["gone"]["available"] is False
    assert links["gone"]["note"].startswith("not available: GET /metrics failed")
    TrafficRecord.model_validate(json.loads(json.dumps(found)))  # as results.json will hold it
    client.close()
    server.close()


def test_the_report_section() -> None:
    traffic = {
        "at": 1.0,
        "links": {
            "gateway_bank": {"proxy": "gateway_bank", "api": "http://x", "available": True, "note": None,
                             "connections": 1234, "upstream": {"received": 2_500_000, "sent": 2_499_000},
                             "downstream": {"received": 999, "sent": 999}},
            "psp": {"proxy": "psp", "api": "http://y", "available": False, "note": "not available: GET /metrics "
                    "answered 404", "connections": None, "upstream": None, "downstream": None},
        },
    }  # fmt: skip
    html = traffic_section(SimpleNamespace(results={"traffic": traffic}))
    row = re.search(r'<tr data-link="gateway_bank">(.*?)</tr>', html)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    shown = [re.sub(r"<[^>]+>", "", c) for c in cells]
    assert shown == ["gateway_bank", "1,234", "2.5 MB", "2.5 MB", "999 B", "999 B"]
    assert 'title="2,499,000 bytes"' in html
    assert "<b>psp</b>: not available: GET /metrics answered 404" in html
    assert traffic_section(SimpleNamespace(results={"traffic": None})) == ""
    assert traffic_section(SimpleNamespace(results={})) == ""


@pytest.mark.integration
def test_proxy_serve_takes_the_metrics_flags() -> None:
    def serve(*flags: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [*PAYCHAOS, "proxy", "serve", "--port", "0", *flags], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert url, line
        return proc, url.group(1)

    for flags, expect in (((), 404), (("--proxy-metrics",), 200), (("--runtime-metrics",), 200)):
        proc, url = serve(*flags)
        try:
            try:
                with urllib.request.urlopen(f"{url}/metrics", timeout=WAIT) as reply:
                    status, text = reply.status, reply.read().decode()
            except urllib.error.HTTPError as exc:
                status, text = exc.code, ""
            assert status == expect, flags
            if flags == ("--runtime-metrics",):
                assert "process_cpu_seconds_total" in text
                assert parse_traffic(text) is None  # runtime only: no proxy counters
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_records_what_each_link_carried(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PAYCHAOS, "run", str(ROOT / "experiments" / "hello.yaml"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    assert results["backend"]["kind"] == "embedded"
    traffic = TrafficRecord.model_validate(results["traffic"])
    assert results["traffic"]["at"] >= results["phases"][4]["started"]  # read at the heal
    links = traffic.links
    assert set(links) == set(load_target(ROOT / "targets" / "paystack").links)  # every link has a proxy
    for name in ("merchant_gateway", "gateway_bank", "gateway_db", "bank_db"):  # every payment goes through
        link = links[name]
        assert link.available, name
        assert link.note is None, name
        assert (link.connections or 0) > 0, name
        assert link.upstream is not None, name
        assert link.downstream is not None, name
        assert min(link.upstream.received, link.upstream.sent) > 0, name
        assert min(link.downstream.received, link.downstream.sent) > 0, name
    html = (run_dir / "report.html").read_text()
    assert '<section id="traffic-section">' in html
    assert '<tr data-link="gateway_bank">' in html


@pytest.mark.integration
def test_a_toxic_knows_whether_its_link_carried_anything_while_it_was_in_place(
    metered: ServerThread, upstream: Upstream, tmp_path: Path
) -> None:
    from paychaos.faults import FaultInjector, FaultJournal, ToxiproxyClient, read_journal
    from paychaos.faults._backends import carried_while_in_place
    from paychaos.faults.kinds.link import ToxicFault

    api = Api(metered.url)
    bank = api.create_proxy("bank", upstream.addr)
    api.create_proxy("quiet", upstream.addr)
    client = ToxiproxyClient(metered.url)
    before_any, _ = open_pair(bank, upstream)  # carried before the fault: not the fault's
    before_any.sendall(b"x" * 100)
    journal = FaultJournal(tmp_path / "faults.jsonl")
    with FaultInjector(journal) as injector:
        busy = injector.apply(ToxicFault(client, "bank", "latency", {"latency": 1}))
        idle = injector.apply(ToxicFault(client, "quiet", "latency", {"latency": 1}))
        sent, its_server = open_pair(bank, upstream)
        sent.sendall(b"y" * 250)
        assert recv_exactly(its_server, 250) == b"y" * 250
        its_server.sendall(b"z" * 50)
        assert recv_exactly(sent, 50) == b"z" * 50
        injector.heal(busy)
        injector.heal(idle)
    carried = carried_while_in_place(read_journal(journal.path))
    assert carried[busy] >= 300  # what went through while the toxic was on (the 100 before may count too)
    assert carried[idle] == 0  # nothing ever used its link: the fault had nothing to act on
    for sock in (before_any, sent, its_server):
        sock.close()
