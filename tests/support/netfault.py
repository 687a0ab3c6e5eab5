"""A link between two services that tests break at will, through the embedded Toxiproxy server.

It stands between two services of a stack (``Stack.route``) and can forward
normally, delay what the server sends back (the request lands, the answer is
late: the classic "timed out but done"), refuse service (proxy disabled), or
swallow everything (a ``timeout`` toxic that holds data and never closes).
Each mode is a real toxic on a real proxy, so it affects new and open
connections alike, exactly as it would in an experiment.
"""

from __future__ import annotations

from typing import Literal

from paychaos.faults import ToxiproxyClient
from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from paychaos.system import Address

Mode = Literal["forward", "delay", "down", "blackhole"]
PROXY = "link"


class FaultyLink:
    def __init__(self) -> None:
        self.address: Address | None = None
        self._server: ServerThread | None = None
        self._client: ToxiproxyClient | None = None

    @property
    def client(self) -> ToxiproxyClient:
        assert self._client is not None, "start() the link first"
        return self._client

    def start(self, upstream: Address) -> Address:
        self._server = ToxiproxyServer(port=0).run_in_thread()
        self._client = ToxiproxyClient(self._server.url)
        listen = self.client.create_proxy(PROXY, "127.0.0.1:0", str(upstream))["listen"]
        host, _, port = listen.rpartition(":")
        self.address = Address(host, int(port))
        return self.address

    def set(self, mode: Mode, delay: float = 0.0) -> None:
        self.heal()
        if mode == "delay":
            self.client.add_toxic(PROXY, "latency", {"latency": int(delay * 1000)}, stream="downstream")
        elif mode == "down":
            self.client.set_enabled(PROXY, False)
        elif mode == "blackhole":
            self.client.add_toxic(PROXY, "timeout", {"timeout": 0}, stream="upstream")

    def heal(self) -> None:
        self.client.reset()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.close()
