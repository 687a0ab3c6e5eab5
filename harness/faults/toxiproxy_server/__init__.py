"""An embedded, Toxiproxy-compatible TCP fault proxy.

It speaks Toxiproxy 2.x's HTTP API (so Toxiproxy clients drive it unchanged) and
proxies TCP with the standard toxics: latency, bandwidth, slow_close, timeout,
reset_peer, slicer and limit_data::

    from harness.faults.toxiproxy_server import ToxiproxyServer

    server = ToxiproxyServer(port=0)          # 127.0.0.1, a free port
    await server.start()
    ...                                       # drive it over HTTP at server.url
    await server.stop()

    with ToxiproxyServer(port=0).run_in_thread() as handle:   # from synchronous code
        requests.post(f"{handle.url}/proxies", json={...})

Run ``python -m harness.faults.toxiproxy_server --help`` for the command line.
"""

from __future__ import annotations

from harness.faults.toxiproxy_server._api import API_VERSION
from harness.faults.toxiproxy_server._server import (
    DEFAULT_PORT,
    ServerThread,
    ToxiproxyServer,
    new_event_loop,
    serve,
)
from harness.faults.toxiproxy_server._toxics import ATTRIBUTES as TOXIC_ATTRIBUTES

__all__ = [
    "API_VERSION",
    "DEFAULT_PORT",
    "TOXIC_ATTRIBUTES",
    "ServerThread",
    "ToxiproxyServer",
    "new_event_loop",
    "serve",
]
