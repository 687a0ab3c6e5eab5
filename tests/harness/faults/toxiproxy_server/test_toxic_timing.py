"""Each toxic's timing against its nominal minimum, at every scale down to microseconds.

A toxic may be late (this is a busy 2-core machine) but never early, so every timing here is
a lower bound: the client starts its clock before the bytes leave and stops it once the last
one arrived, so the time it measures can only be longer than the proxy's. Distributions
(latency jitter, slicer sizes) are checked on the functions that draw them, with a seeded
random generator, not through sockets.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections import Counter
from typing import Any

import pytest

from paychaos.faults.toxiproxy_server._stages import latency_ms, slice_points
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    Api,
    Upstream,
    assert_silent,
    open_pair,
    recv_exactly,
    recv_until_eof,
)

MS = 0.001
US = 0.000_001
integration = pytest.mark.integration  # real sockets through the embedded Toxiproxy


# The distributions, as Toxiproxy draws them.


def test_latency_jitter_is_whole_milliseconds_uniform_on_latency_plus_minus_jitter() -> None:
    rng = random.Random(7)
    draws = Counter(latency_ms(100, 10, rng) for _ in range(20_000))
    assert set(draws) == set(range(90, 110))  # [latency - jitter, latency + jitter): Go's Int63n
    assert min(draws.values()) > 0.8 * 1000  # 20 values, 1000 each if uniform
    assert max(draws.values()) < 1.2 * 1000


def test_latency_without_jitter_is_exact_and_a_large_jitter_can_go_below_zero() -> None:
    rng = random.Random(7)
    assert {latency_ms(25, 0, rng) for _ in range(100)} == {25}
    draws = {latency_ms(5, 20, rng) for _ in range(5_000)}
    assert min(draws) == -15  # sent at once: a negative delay is no delay
    assert max(draws) == 24


def test_slicer_cuts_evenly_by_halving_as_toxiproxy_does() -> None:
    rng = random.Random(3)
    assert slice_points(64 << 10, 64, 0, rng) == list(range(64, (64 << 10) + 1, 64))
    assert slice_points(50, 64, 0, rng) == [50]  # shorter than a piece: one piece
    ends = slice_points(100_000, 100, 30, rng)
    sizes = [b - a for a, b in zip([0, *ends], ends, strict=False)]
    assert ends[-1] == 100_000
    assert all(0 < size <= 130 for size in sizes)  # never above average + variation
    assert len(set(sizes)) > 20  # and varied
    assert 0.8 * 100 < sum(sizes) / len(sizes) < 1.2 * 100


# Timings through the proxy: never less than nominal.


def timed_transfer(client: socket.socket, server: socket.socket, payload: bytes) -> float:
    start = time.perf_counter()
    server.sendall(payload)
    assert recv_exactly(client, len(payload), timeout=30) == payload
    return time.perf_counter() - start


@integration
def test_slicer_honours_a_100_microsecond_delay(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    # 64 KiB in 64 B pieces with 100 µs after each: 1024 pieces, 1023 gaps, >= 102.3 ms.
    api.add_toxic("p", "slicer", average_size=64, size_variation=0, delay=100)
    client, server = open_pair(proxy, upstream)
    elapsed = timed_transfer(client, server, os.urandom(64 << 10))
    nominal = 1023 * 100 * US
    assert elapsed >= nominal, f"{elapsed * 1000:.1f} ms < {nominal * 1000:.1f} ms"


@integration
def test_slicer_honours_a_delay_between_two_timer_ticks(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "slicer", average_size=100, size_variation=0, delay=1500)
    client, server = open_pair(proxy, upstream)
    elapsed = timed_transfer(client, server, os.urandom(4000))  # 40 pieces, 39 gaps
    assert elapsed >= 39 * 1500 * US


@integration
def test_slicer_paces_a_stream_sent_in_many_writes(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    # Pieces of later chunks wait their turn behind the earlier ones: the pace holds across reads.
    api.add_toxic("p", "slicer", average_size=10, size_variation=0, delay=200)
    client, server = open_pair(proxy, upstream)
    payload = os.urandom(5000)
    start = time.perf_counter()
    for i in range(0, len(payload), 500):
        server.sendall(payload[i : i + 500])
    assert recv_exactly(client, len(payload)) == payload
    assert time.perf_counter() - start >= 499 * 200 * US


@integration
@pytest.mark.parametrize("latency", [1, 3, 40])
def test_latency_is_never_less_than_nominal(
    api: Api, proxy: dict[str, Any], upstream: Upstream, latency: int
) -> None:
    api.add_toxic("p", "latency", latency=latency)
    client, server = open_pair(proxy, upstream)
    for _ in range(20):
        start = time.perf_counter()
        server.sendall(b"x")
        assert recv_exactly(client, 1) == b"x"
        assert time.perf_counter() - start >= latency * MS


@integration
def test_latency_with_jitter_is_never_less_than_latency_minus_jitter(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "latency", "upstream", latency=20, jitter=10)
    client, server = open_pair(proxy, upstream)
    for _ in range(20):
        start = time.perf_counter()
        client.sendall(b"x")
        assert recv_exactly(server, 1) == b"x"
        assert time.perf_counter() - start >= 10 * MS


@integration
def test_latency_delays_every_chunk(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    # Each chunk waits the latency from its own arrival: a later one is delayed again.
    api.add_toxic("p", "latency", latency=50)
    client, server = open_pair(proxy, upstream)
    start = time.perf_counter()
    server.sendall(b"a")
    assert recv_exactly(client, 1) == b"a"
    first = time.perf_counter()
    server.sendall(b"b")
    assert recv_exactly(client, 1) == b"b"
    assert first - start >= 50 * MS
    assert time.perf_counter() - first >= 50 * MS


@integration
@pytest.mark.parametrize(("rate", "size"), [(1000, 200_000), (64, 20_000)])
def test_bandwidth_is_never_faster_than_its_rate(
    api: Api, proxy: dict[str, Any], upstream: Upstream, rate: int, size: int
) -> None:
    api.add_toxic("p", "bandwidth", rate=rate)  # KB/s, 1 KB = 1000 bytes
    client, server = open_pair(proxy, upstream)
    elapsed = timed_transfer(client, server, os.urandom(size))
    assert elapsed >= size / (rate * 1000), f"{size / elapsed:.0f} B/s"


@integration
def test_bandwidth_gives_no_credit_for_idle_time(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    api.add_toxic("p", "bandwidth", rate=100)
    client, server = open_pair(proxy, upstream)
    assert timed_transfer(client, server, b"x" * 1000) >= 10 * MS
    assert_silent(client, 0.1)  # 100 ms idle, worth 10 KB at this rate
    assert timed_transfer(client, server, b"y" * 5000) >= 50 * MS  # paced all the same


@integration
def test_slow_close_holds_the_close_for_its_delay(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "slow_close", delay=30)
    client, server = open_pair(proxy, upstream)
    start = time.perf_counter()
    server.close()
    assert recv_until_eof(client) == b""
    assert time.perf_counter() - start >= 30 * MS


@integration
def test_timeout_closes_no_sooner_than_its_timeout(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "timeout", timeout=30)
    start = time.perf_counter()
    client, _server = open_pair(proxy, upstream)
    assert recv_until_eof(client) == b""
    assert time.perf_counter() - start >= 30 * MS


@integration
def test_reset_peer_resets_no_sooner_than_its_timeout(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "reset_peer", timeout=30)
    client, server = open_pair(proxy, upstream)
    start = time.perf_counter()
    server.sendall(b"x")
    with pytest.raises(ConnectionResetError):
        recv_until_eof(client)
    assert time.perf_counter() - start >= 30 * MS
