"""Starting and stopping: in an event loop, in a thread, and as a command-line process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from paychaos.faults.toxiproxy_server import ToxiproxyServer
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    WAIT,
    Api,
    Upstream,
    assert_refused,
    connect,
    open_pair,
    port_of,
    recv_exactly,
    recv_until_eof,
)

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services


def test_async_start_and_stop_on_the_default_event_loop(upstream: Upstream) -> None:
    # asyncio's own loop, not uvloop: the data path must not depend on uvloop.
    async def main() -> None:
        server = ToxiproxyServer(port=0, seed=1)
        await server.start()
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        api = Api(server.url)

        def drive() -> tuple[int, int]:
            proxy = api.create_proxy("p", upstream.addr)
            api.add_toxic("p", "latency", latency=50)
            client, upstream_side = open_pair(proxy, upstream)
            start = time.perf_counter()
            upstream_side.sendall(b"x")
            assert recv_exactly(client, 1) == b"x"
            assert time.perf_counter() - start >= 0.047
            return port_of(proxy), client.detach()

        proxy_port, client_fd = await asyncio.to_thread(drive)
        await server.stop()
        await server.stop()  # idempotent

        def after() -> None:
            import socket

            client = socket.socket(fileno=client_fd)
            client.settimeout(WAIT)
            assert recv_until_eof(client) == b""  # stop() closes open connections
            client.close()
            assert_refused(proxy_port)  # and every proxy listener
            assert_refused(server.port)  # and the API

        await asyncio.to_thread(after)

    asyncio.run(main())


def test_run_in_thread_handle(upstream: Upstream) -> None:
    handle = ToxiproxyServer(port=0).run_in_thread()
    try:
        assert handle.url == f"http://127.0.0.1:{handle.port}"
        proxy = Api(handle.url).create_proxy("p", upstream.addr)
        client = connect(port_of(proxy))
        upstream.accept()
    finally:
        handle.close()
    handle.close()  # idempotent
    assert recv_until_eof(client) == b""
    assert_refused(handle.port)
    assert_refused(port_of(proxy))


def test_run_in_thread_reports_start_failures(upstream: Upstream) -> None:
    with pytest.raises(OSError, match="address already in use"):
        ToxiproxyServer(port=upstream.port).run_in_thread()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_api_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        ToxiproxyServer(host=host, port=0).run_in_thread()


def test_same_seed_same_toxicity_rolls(upstream: Upstream) -> None:
    def pattern(seed: int) -> list[bool]:
        with ToxiproxyServer(port=0, seed=seed).run_in_thread() as handle:
            api = Api(handle.url)
            proxy = api.create_proxy("p", upstream.addr)
            api.add_toxic("p", "limit_data", "upstream", toxicity=0.5, bytes=0)
            hits = []
            for _ in range(24):
                client, server = open_pair(proxy, upstream)
                client.sendall(b"x")
                hits.append(server.recv(1) == b"")
                client.close()
                server.close()
            return hits

    first = pattern(7)
    assert pattern(7) == first
    assert 0 < sum(first) < len(first)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_command_line_serves_until_signalled(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "paychaos.faults.toxiproxy_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("toxiproxy_server listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert Api(url).get("/version").body == {"version": "2.12.0"}
        proc.send_signal(sig)
        assert proc.wait(timeout=WAIT) == 0
        assert_refused(int(url.rsplit(":", 1)[1]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
