"""An embedded, Toxiproxy-compatible TCP fault proxy.

It speaks Toxiproxy 2.x's HTTP API (so Toxiproxy clients drive it unchanged) and
proxies TCP with the standard toxics: latency, bandwidth, slow_close, timeout,
reset_peer, slicer and limit_data::

    from paychaos.faults.toxiproxy_server import ToxiproxyServer

    server = ToxiproxyServer(port=0)          # 127.0.0.1, a free port
    await server.start()
    ...                                       # drive it over HTTP at server.url
    await server.stop()

    with ToxiproxyServer(port=0).run_in_thread() as handle:   # from synchronous code
        requests.post(f"{handle.url}/proxies", json={...})

Run ``python -m paychaos.faults.toxiproxy_server --help`` (or ``paychaos proxy serve``)
for the command line.

Where it differs from Toxiproxy 2.12, on purpose or by its nature:

- a half-close (one peer shuts its write side) is passed on, and the connection
  closes once both directions ended; Toxiproxy closes it on the first EOF;
- updating a toxic keeps each connection's toxicity roll unless ``toxicity``
  itself changes; data a toxic holds is re-timed from the update;
- removing a ``timeout`` toxic closes only the connections it applied to;
- ``reset_peer`` added to an already open connection still resets it;
- a proxy created without ``listen`` gets ``127.0.0.1:0``, and listening beyond
  loopback is refused unless the server allows it; a malformed upstream is a 400;
- ``/version`` answers ``{"version": "2.12.0"}``, the API level emulated;
- JSON field names are case-sensitive; a slicer with ``average_size`` ≤ 0
  passes data through; a failed populate lists the proxies already applied;
- ``/metrics`` and Toxiproxy's non-standard toxics are not implemented.
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
