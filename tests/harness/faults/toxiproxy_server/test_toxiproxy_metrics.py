"""``/metrics``: scraped over HTTP and parsed with prometheus_client's own text parser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    WAIT,
    Api,
    Upstream,
    open_pair,
    recv_exactly,
    recv_until_eof,
)

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services

Sample = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> tuple[Sample, str]:
    """Every sample, keyed by name and sorted labels; and the content type."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=WAIT) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode()
    samples: Sample = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, content_type


def of(samples: Sample, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_no_metrics_unless_enabled(server: ServerThread) -> None:
    assert Api(server.url).get("/metrics").status == 404  # as Toxiproxy without its flags


def test_bytes_and_connections_per_proxy_and_direction(metered: ServerThread, upstream: Upstream) -> None:
    api = Api(metered.url)
    proxy: dict[str, Any] = api.create_proxy("db", upstream.addr)
    labels = {"proxy": "db", "listener": proxy["listen"], "upstream": upstream.addr}
    up = {"direction": "upstream", **labels}
    down = {"direction": "downstream", **labels}

    client, server = open_pair(proxy, upstream)
    client.sendall(b"q" * 1000)
    assert recv_exactly(server, 1000)
    server.sendall(b"r" * 250_000)
    assert recv_exactly(client, 250_000)
    # Open connections count already: a scrape sees the bytes so far.
    samples, content_type = scrape(metered.url)
    assert content_type.startswith("text/plain")
    assert of(samples, "toxiproxy_proxy_received_bytes_total", **up) == 1000
    assert of(samples, "toxiproxy_proxy_sent_bytes_total", **up) == 1000
    assert of(samples, "toxiproxy_proxy_received_bytes_total", **down) == 250_000
    assert of(samples, "toxiproxy_proxy_sent_bytes_total", **down) == 250_000
    assert of(samples, "toxiproxy_proxy_connections_total", **up) == 1
    assert of(samples, "toxiproxy_proxy_open_connections", **down) == 1

    # A toxic's effect shows as the difference between received and sent.
    api.add_toxic("db", "limit_data", "upstream", bytes=10)
    client2, server2 = open_pair(proxy, upstream)
    client2.sendall(b"z" * 100)
    assert recv_until_eof(server2) == b"z" * 10
    for sock in (client, server):
        sock.close()
    assert recv_until_eof(client2) == b""
    server2.close()

    samples, _ = scrape(metered.url)
    assert of(samples, "toxiproxy_proxy_received_bytes_total", **up) == 1100
    assert of(samples, "toxiproxy_proxy_sent_bytes_total", **up) == 1010
    assert of(samples, "toxiproxy_proxy_connections_total", **up) == 2


def test_closed_connections_stay_counted(metered: ServerThread, upstream: Upstream) -> None:
    api = Api(metered.url)
    proxy = api.create_proxy("db", upstream.addr)
    up = {"direction": "upstream", "proxy": "db", "listener": proxy["listen"], "upstream": upstream.addr}
    for _ in range(3):
        client, server = open_pair(proxy, upstream)
        client.sendall(b"abc")
        client.shutdown(socket.SHUT_WR)
        assert recv_until_eof(server) == b"abc"
        server.close()
        assert recv_until_eof(client) == b""  # the proxy closed both sides: the connection is done
        client.close()
    samples, _ = scrape(metered.url)
    assert of(samples, "toxiproxy_proxy_received_bytes_total", **up) == 9
    assert of(samples, "toxiproxy_proxy_connections_total", **up) == 3
    assert of(samples, "toxiproxy_proxy_open_connections", **up) == 0
    # Deleting the proxy keeps what it carried, as Prometheus counters do.
    api.delete("/proxies/db")
    samples, _ = scrape(metered.url)
    assert of(samples, "toxiproxy_proxy_received_bytes_total", **up) == 9


def test_runtime_metrics_are_the_process_s() -> None:
    with ToxiproxyServer(port=0, runtime_metrics=True).run_in_thread() as handle:
        samples, _ = scrape(handle.url)
    names = {name for name, _ in samples}
    assert "process_cpu_seconds_total" in names
    assert "python_info" in names
    assert not any(name.startswith("toxiproxy_") for name in names)  # proxy metrics are their own flag


def test_the_command_line_flags_enable_metrics(upstream: Upstream) -> None:
    cmd = [sys.executable, "-m", "paychaos.faults.toxiproxy_server", "--port", "0", "--proxy-metrics"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy()) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[-1]
            proxy = Api(url).create_proxy("cli", upstream.addr)
            client, server = open_pair(proxy, upstream)
            client.sendall(b"hello")
            assert recv_exactly(server, 5) == b"hello"
            samples, _ = scrape(url)
            labels = {"proxy": "cli", "listener": proxy["listen"], "upstream": upstream.addr}
            assert of(samples, "toxiproxy_proxy_received_bytes_total", direction="upstream", **labels) == 5
        finally:
            proc.terminate()
            proc.wait(WAIT)
