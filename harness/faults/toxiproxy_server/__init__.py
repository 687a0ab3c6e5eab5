"""An embedded, Toxiproxy-compatible TCP fault proxy.

It speaks Toxiproxy 2.12's HTTP API (so Toxiproxy clients drive it unchanged; Toxiproxy's
own ``api_test.go``, ported to ``tests/harness/faults/toxiproxy_server/test_upstream_api.py``,
passes) and proxies
TCP with Toxiproxy's toxics: latency, bandwidth, slow_close, timeout, reset_peer, slicer,
limit_data and noop, each timed as Toxiproxy times it down to microseconds, never early::

    from paychaos.faults.toxiproxy_server import ToxiproxyServer

    server = ToxiproxyServer(port=0)          # 127.0.0.1, a free port
    await server.start()
    ...                                       # drive it over HTTP at server.url
    await server.stop()

    with ToxiproxyServer(port=0).run_in_thread() as handle:   # from synchronous code
        requests.post(f"{handle.url}/proxies", json={...})

``proxy_metrics=True`` / ``runtime_metrics=True`` (``--proxy-metrics`` / ``--runtime-metrics``)
serve ``/metrics`` in Prometheus text, as Toxiproxy's flags of the same names do. Run
``python -m paychaos.faults.toxiproxy_server --help`` (or ``paychaos proxy serve``) for the
command line.

Where it differs from Toxiproxy 2.12, on purpose or by its nature:

- a half-close (one peer shuts its write side) is passed on, and the connection
  closes once both directions ended; Toxiproxy closes it on the first EOF;
- updating a toxic keeps each connection's toxicity roll unless ``toxicity``
  itself changes; data a toxic holds is re-timed from the update;
- removing a ``timeout`` toxic closes only the connections it applied to;
- ``reset_peer`` added to an already open connection still resets it;
- ``latency`` counts from when a chunk reaches the toxic, Toxiproxy from when it was
  read: the same unless another toxic ahead of it held the chunk;
- a proxy created without ``listen`` gets ``127.0.0.1:0``, and listening beyond
  loopback is refused unless the server allows it; a malformed upstream is a 400;
- ``/version`` answers ``{"version": "2.12.0"}``, the API level emulated (the one
  ``api_test.go`` case that differs: it expects an unreleased build's ``"git"``);
- JSON field names are case-sensitive; a slicer with ``average_size`` ≤ 0
  passes data through (Toxiproxy's recursion never ends);
- ``/metrics`` counts the bytes of open connections too (Toxiproxy adds a connection's
  once it ends), adds connection counts, and its runtime metrics are Python's, not Go's.
"""

from __future__ import annotations

from paychaos._aio import new_event_loop
from paychaos.faults.toxiproxy_server._api import API_VERSION
from paychaos.faults.toxiproxy_server._server import (
    DEFAULT_PORT,
    ServerThread,
    ToxiproxyServer,
    serve,
)
from paychaos.faults.toxiproxy_server._toxics import ATTRIBUTES as TOXIC_ATTRIBUTES

__all__ = [
    "API_VERSION",
    "DEFAULT_PORT",
    "TOXIC_ATTRIBUTES",
    "ServerThread",
    "ToxiproxyServer",
    "new_event_loop",
    "serve",
]
