"""Each toxic's effect, measured on real loopback sockets through the embedded proxy."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from typing import Any

import pytest

from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    Api,
    Upstream,
    assert_silent,
    connect,
    open_pair,
    port_of,
    recv_exactly,
    recv_until_eof,
)

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services

MS = 0.001
# Toxics are never early, and may be late by any amount on a loaded 2-core machine: timings
# are checked from below only (test_toxic_timing.py has each toxic's nominal minimum). An
# upper bound here only tells two behaviours apart, with the toxic's own delay as margin.


def round_trip(client: socket.socket, server: socket.socket, payload: bytes = b"ping") -> float:
    """Client → server → client, timed."""
    start = time.perf_counter()
    client.sendall(payload)
    server.sendall(recv_exactly(server, len(payload)))
    assert recv_exactly(client, len(payload)) == payload
    return time.perf_counter() - start


def test_no_toxics_passes_bytes_and_half_closes(proxy: dict[str, Any], upstream: Upstream) -> None:
    client, server = open_pair(proxy, upstream)
    payload = os.urandom(3 << 20)
    client.sendall(payload)
    client.shutdown(socket.SHUT_WR)  # the request is complete; the answer must still come back
    assert recv_until_eof(server) == payload
    server.sendall(payload[::-1])
    server.close()
    assert recv_until_eof(client) == payload[::-1]
    client.close()


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_latency_delays_data_by_latency_plus_minus_jitter(
    api: Api, proxy: dict[str, Any], upstream: Upstream, stream: str
) -> None:
    api.add_toxic("p", "latency", stream, latency=80, jitter=20)
    client, server = open_pair(proxy, upstream)
    for _ in range(5):
        assert round_trip(client, server) >= 60 * MS


def test_latency_does_not_delay_the_connect(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "latency", "upstream", latency=400)
    api.add_toxic("p", "latency", "downstream", latency=400)
    start = time.perf_counter()
    client, server = open_pair(proxy, upstream)
    assert time.perf_counter() - start < 400 * MS  # delayed, it would take the latency at least
    start = time.perf_counter()
    server.sendall(b"x")
    assert recv_exactly(client, 1) == b"x"
    assert time.perf_counter() - start >= 400 * MS


def test_latency_toxics_compose_in_a_chain(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "latency", name="first", latency=60)
    api.add_toxic("p", "latency", name="second", latency=60)
    client, server = open_pair(proxy, upstream)
    start = time.perf_counter()
    server.sendall(b"x")
    assert recv_exactly(client, 1) == b"x"
    assert time.perf_counter() - start >= 120 * MS


def test_latency_with_jitter_keeps_the_byte_stream_intact(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "latency", latency=5, jitter=5)
    api.add_toxic("p", "slicer", average_size=2000, size_variation=1000)
    client, server = open_pair(proxy, upstream)
    payload = os.urandom(1 << 20)
    server.sendall(payload)
    assert recv_exactly(client, len(payload)) == payload


def test_bandwidth_limits_the_rate(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "bandwidth", rate=500)  # KB/s: 500_000 bytes per second
    client, server = open_pair(proxy, upstream)
    payload = os.urandom(250_000)
    start = time.perf_counter()
    server.sendall(payload)
    assert recv_exactly(client, len(payload)) == payload
    elapsed = time.perf_counter() - start
    assert elapsed >= len(payload) / 500_000, f"{len(payload) / elapsed:.0f} B/s"


def test_slow_close_delays_the_close_not_the_data(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "slow_close", delay=200)
    client, server = open_pair(proxy, upstream)
    start = time.perf_counter()
    server.sendall(b"bye")
    server.close()
    assert recv_exactly(client, 3) == b"bye"
    assert time.perf_counter() - start < 200 * MS  # held with the close, it would take 200 ms
    assert recv_until_eof(client) == b""
    assert time.perf_counter() - start >= 200 * MS


def test_timeout_holds_data_then_closes_after_the_timeout(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "timeout", timeout=250)
    start = time.perf_counter()
    client, server = open_pair(proxy, upstream)
    server.sendall(b"never seen")
    assert recv_until_eof(client) == b""  # no data, then the close
    assert time.perf_counter() - start >= 250 * MS
    assert recv_until_eof(server) == b""  # the whole connection is gone


def test_timeout_zero_holds_until_the_toxic_is_removed(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "timeout", "upstream", timeout=0)
    client, server = open_pair(proxy, upstream)
    client.sendall(b"stuck")
    assert_silent(server, 0.3)
    assert_silent(client, 0.01)
    api.remove_toxic("p", "timeout_upstream")
    assert recv_until_eof(server) == b""
    assert recv_until_eof(client) == b""


def test_reset_peer_makes_the_peer_see_a_reset(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "reset_peer", "upstream", timeout=0)
    client, server = open_pair(proxy, upstream)
    client.sendall(b"hello")
    with pytest.raises(ConnectionResetError):
        recv_until_eof(client)
    with pytest.raises(ConnectionResetError):
        recv_until_eof(server)


def test_reset_peer_waits_its_timeout(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "reset_peer", timeout=150)
    client, server = open_pair(proxy, upstream)
    start = time.perf_counter()
    server.sendall(b"hello")
    with pytest.raises(ConnectionResetError):
        recv_until_eof(client)
    assert time.perf_counter() - start >= 150 * MS


def test_limit_data_closes_after_exactly_n_bytes(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "limit_data", bytes=1000)
    client, server = open_pair(proxy, upstream)
    payload = os.urandom(600)
    server.sendall(payload)
    assert recv_exactly(client, 600) == payload
    server.sendall(payload)  # counted per connection, across writes
    assert recv_until_eof(client) == payload[:400]


def test_slicer_delivers_the_same_bytes_in_pieces(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "slicer", average_size=100, size_variation=20, delay=3000)
    client, server = open_pair(proxy, upstream)
    payload = os.urandom(2000)
    server.sendall(payload)
    pieces = []
    while sum(map(len, pieces)) < len(payload):
        pieces.append(client.recv(65536))
        assert pieces[-1], "closed early"
    assert b"".join(pieces) == payload
    assert len(pieces) >= 8, [len(p) for p in pieces]  # ~17 expected; coalescing allowed


def test_noop_passes_everything(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "noop", "upstream")
    api.add_toxic("p", "noop", "downstream")
    client, server = open_pair(proxy, upstream)
    payload = os.urandom(1 << 20)
    client.sendall(payload)
    assert recv_exactly(server, len(payload)) == payload
    server.sendall(payload[::-1])
    server.close()
    assert recv_until_eof(client) == payload[::-1]


def test_toxicity_applies_to_about_that_share_of_connections(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    # limit_data of 0 bytes ends a connection on its first byte: easy to tell apart from echo.
    api.add_toxic("p", "limit_data", "upstream", toxicity=0.5, bytes=0)
    hit = 0
    for _ in range(200):
        client, server = open_pair(proxy, upstream)
        client.sendall(b"x")
        if server.recv(1) == b"":
            hit += 1
        client.close()
        server.close()
    assert 70 <= hit <= 130, hit


def test_toxic_added_and_removed_on_an_open_connection(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    client, server = open_pair(proxy, upstream)
    assert round_trip(client, server) < 150 * MS
    api.add_toxic("p", "latency", latency=150)
    assert round_trip(client, server) >= 150 * MS
    api.remove_toxic("p", "latency_downstream")
    assert round_trip(client, server) < 150 * MS  # still delayed, it would take 150 ms at least


def test_toxic_update_reaches_an_open_connection(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "latency", latency=50)
    client, server = open_pair(proxy, upstream)
    assert round_trip(client, server) >= 50 * MS
    reply = api.post("/proxies/p/toxics/latency_downstream", {"attributes": {"latency": 200}})
    assert reply.status == 200
    assert round_trip(client, server) >= 200 * MS


def test_limit_data_added_mid_stream_counts_from_then(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    client, server = open_pair(proxy, upstream)
    server.sendall(b"a" * 500)
    assert recv_exactly(client, 500) == b"a" * 500
    api.add_toxic("p", "limit_data", bytes=100)
    server.sendall(b"b" * 500)
    assert recv_until_eof(client) == b"b" * 100


def test_removing_a_latency_toxic_delivers_what_it_held(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "latency", latency=5000)
    client, server = open_pair(proxy, upstream)
    server.sendall(b"held")
    assert_silent(client, 0.05)
    start = time.perf_counter()
    api.remove_toxic("p", "latency_downstream")
    assert recv_exactly(client, 4) == b"held"
    assert time.perf_counter() - start < 1.0


def test_unreachable_upstream_closes_the_client(api: Api, upstream: Upstream) -> None:
    dead = Upstream()
    dead.close()  # nothing listens there any more
    proxy = api.create_proxy("dead", dead.addr)
    client = connect(port_of(proxy))
    assert recv_until_eof(client) == b""


def test_a_slow_toxic_slows_the_sender_instead_of_buffering_without_bound(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "bandwidth", rate=100)
    _client, server = open_pair(proxy, upstream)
    server.setblocking(False)
    block = b"x" * (1 << 20)
    sent = 0
    stalled_since = time.monotonic()
    # Push until the proxy stops taking data for 0.3 s; give up (and fail) past 256 MiB.
    while time.monotonic() - stalled_since < 0.3 and sent < 256 << 20:
        try:
            sent += server.send(block)
            stalled_since = time.monotonic()
        except BlockingIOError:
            select.select([], [server], [], 0.05)
    # Kernel buffers on both sides plus the proxy's own high-water marks: tens of MiB at most.
    assert sent < 48 << 20, f"proxy kept accepting: {sent >> 20} MiB"


def test_reset_releases_connections_held_by_a_timeout(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "timeout", timeout=0)
    client, server = open_pair(proxy, upstream)
    server.sendall(b"held")
    assert_silent(client, 0.1)
    assert api.post("/reset").status == 204
    assert recv_until_eof(client) == b""


def test_a_client_reset_closes_the_upstream_side(proxy: dict[str, Any], upstream: Upstream) -> None:
    client, server = open_pair(proxy, upstream)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # sends an RST
    assert recv_until_eof(server) == b""
