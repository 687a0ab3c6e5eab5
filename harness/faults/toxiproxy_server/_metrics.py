"""``/metrics``: Prometheus text, as Toxiproxy's ``-proxy-metrics`` and ``-runtime-metrics`` serve it.

Proxy metrics keep Toxiproxy's names and labels where it has them
(``toxiproxy_proxy_received_bytes_total`` and ``toxiproxy_proxy_sent_bytes_total``,
labelled ``direction``, ``proxy``, ``listener``, ``upstream``) and add the
connections it has none for. Unlike Toxiproxy, which adds a connection's bytes once
the connection ends, a scrape also sees the bytes of connections still open.

Nothing is counted through ``prometheus_client`` on the data path: each link
keeps two plain integers, and the collector reads them when scraped. With proxy
metrics off, the fast path (a chunk goes straight from one socket's
``data_received`` into the other's ``write``) does not count at all.

Runtime metrics are the Python process's: ``process_*``, ``python_info`` and
``python_gc_*`` (Toxiproxy's are its Go runtime's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paychaos.faults.toxiproxy_server._toxics import Stream

LABELS = ("direction", "proxy", "listener", "upstream")
Labels = tuple[str, str, str, str]


class Counted(Protocol):
    """One direction of a connection, as the collector reads it."""

    received: int
    sent: int


class CountedConnection(Protocol):
    #: ``(proxy, listener, upstream)``: the proxy as it was when the connection was accepted.
    labels: tuple[str, str, str]

    @property
    def links(self) -> Mapping[Stream, Counted]: ...


class ProxyCollector(Collector):
    """Bytes and connections per proxy and direction: totals of closed connections plus live ones."""

    def __init__(self) -> None:
        self._live: set[CountedConnection] = set()
        # labels → [received bytes, sent bytes, connections] of connections already closed
        self._closed: dict[Labels, list[int]] = {}

    def opened(self, conn: CountedConnection) -> None:
        self._live.add(conn)

    def closed(self, conn: CountedConnection) -> None:
        self._live.discard(conn)
        for direction, link in conn.links.items():
            totals = self._closed.setdefault((direction, *conn.labels), [0, 0, 0])
            totals[0] += link.received
            totals[1] += link.sent
            totals[2] += 1

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "toxiproxy_proxy_received_bytes",
            "Bytes the proxy read from the sending side of a link (client upstream, server downstream)",
            labels=LABELS,
        )
        sent = CounterMetricFamily(
            "toxiproxy_proxy_sent_bytes",
            "Bytes the proxy wrote to the receiving side of a link, after its toxics",
            labels=LABELS,
        )
        connections = CounterMetricFamily(
            "toxiproxy_proxy_connections",
            "Proxied connections accepted; each has a link in both directions",
            labels=LABELS,
        )
        open_now = GaugeMetricFamily(
            "toxiproxy_proxy_open_connections",
            "Proxied connections open now",
            labels=LABELS,
        )
        totals = {labels: [*counts, 0] for labels, counts in self._closed.items()}
        for conn in list(self._live):
            for direction, link in conn.links.items():
                entry = totals.setdefault((direction, *conn.labels), [0, 0, 0, 0])
                entry[0] += link.received
                entry[1] += link.sent
                entry[2] += 1
                entry[3] += 1
        for labels, (nreceived, nsent, nconnections, nopen) in sorted(totals.items()):
            received.add_metric(labels, nreceived)
            sent.add_metric(labels, nsent)
            connections.add_metric(labels, nconnections)
            open_now.add_metric(labels, nopen)
        yield received
        yield sent
        yield connections
        yield open_now


class Metrics:
    """What ``/metrics`` serves; with neither kind enabled, there is no ``/metrics``."""

    def __init__(self, *, proxy: bool = False, runtime: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.proxies: ProxyCollector | None = None
        self.runtime = runtime
        if proxy:
            self.proxies = ProxyCollector()
            self.registry.register(self.proxies)
        if runtime:
            # The collectors prometheus_client registers globally, in this server's own registry.
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    @property
    def enabled(self) -> bool:
        return self.proxies is not None or self.runtime

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
