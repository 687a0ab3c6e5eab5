"""Dialling the upstream: an IP address at once with a plain connect(), a name through the loop's lookup.

An upstream that refuses is Toxiproxy's "accept, then close the client" on either path and on either
loop; a dialled socket handed to uvloop while still connecting must never leave a descriptor behind
to be closed twice (a connection a toxic ends at once is the case that would).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator

import pytest

from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from paychaos.faults.toxiproxy_server._proxy import numeric_target
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    WAIT,
    Api,
    Upstream,
    connect,
    open_pair,
    port_of,
    recv_exactly,
    recv_until_eof,
)

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _closed_by_proxy(client: socket.socket) -> bool:
    """The proxy ended the connection: EOF or reset, and no byte of anything."""
    client.settimeout(WAIT)
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True


def test_numeric_targets() -> None:
    assert numeric_target("127.0.0.1", 80) == (socket.AF_INET, ("127.0.0.1", 80))
    assert numeric_target("::1", 80) == (socket.AF_INET6, ("::1", 80, 0, 0))
    assert numeric_target("localhost", 80) is None  # a name: looked up per dial
    assert numeric_target("", 80) is None
    assert numeric_target("fe80::1%eth0", 80) is None  # a zone: left to the loop


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_upstream_that_refuses_closes_the_client(server: ServerThread, host: str) -> None:
    api = Api(server.url)
    proxy = api.create_proxy("p", f"{host}:{_closed_port()}")
    for _ in range(3):
        client = connect(port_of(proxy))
        client.sendall(b"hello")  # sent before the proxy finds out: dropped with the connection
        assert _closed_by_proxy(client)
        client.close()
    assert api.get("/proxies/p").body["enabled"] is True  # the proxy itself carries on


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_first_bytes_reach_the_upstream_in_order(
    server: ServerThread, upstream: Upstream, host: str
) -> None:
    proxy = Api(server.url).create_proxy("p", f"{host}:{upstream.port}")
    client = connect(port_of(proxy))
    payload = os.urandom(256 << 10)
    client.sendall(payload)  # likely all of it before the proxy has dialled
    theirs = upstream.accept()
    assert recv_exactly(theirs, len(payload)) == payload
    theirs.sendall(b"ok")
    assert recv_exactly(client, 2) == b"ok"
    client.shutdown(socket.SHUT_WR)
    assert recv_until_eof(theirs) == b""
    client.close()
    theirs.close()


def test_connections_a_toxic_ends_at_once_leave_no_descriptor_behind(
    server: ServerThread, upstream: Upstream
) -> None:
    # The proxy runs in this process: a descriptor it closed twice would be one of ours by then.
    api = Api(server.url)
    proxy = api.create_proxy("p", upstream.addr)
    held = [socket.socketpair() for _ in range(20)]
    before = [(os.fstat(a.fileno()).st_ino, os.fstat(b.fileno()).st_ino) for a, b in held]
    api.add_toxic("p", "limit_data", "upstream", bytes=0)  # every connection ends at its first byte
    for _ in range(100):
        client, theirs = open_pair(proxy, upstream)
        client.sendall(b"x")
        assert _closed_by_proxy(client)
        assert recv_until_eof(theirs) == b""
        client.close()
        theirs.close()
        pair = socket.socketpair()  # takes whatever descriptor number was freed last
        held.append(pair)
        before.append((os.fstat(pair[0].fileno()).st_ino, os.fstat(pair[1].fileno()).st_ino))
    for (a, b), inodes in zip(held, before, strict=True):
        assert (os.fstat(a.fileno()).st_ino, os.fstat(b.fileno()).st_ino) == inodes
        a.sendall(b"x")
        assert b.recv(1) == b"x"
        a.close()
        b.close()


def test_an_upstream_that_refuses_on_the_default_event_loop(upstream: Upstream) -> None:
    async def main() -> None:
        async with ToxiproxyServer(port=0) as server:
            api = Api(server.url)

            def drive() -> None:
                refused = api.create_proxy("refused", f"127.0.0.1:{_closed_port()}")
                client = connect(port_of(refused))
                assert _closed_by_proxy(client)
                client.close()
                fine = api.create_proxy("fine", upstream.addr)
                client, theirs = open_pair(fine, upstream)
                client.sendall(b"ping")
                assert recv_exactly(theirs, 4) == b"ping"
                client.close()
                theirs.close()

            await asyncio.to_thread(drive)

    asyncio.run(main())


@pytest.fixture
def two_upstreams() -> Iterator[list[Upstream]]:
    ups = [Upstream() for _ in range(2)]
    yield ups
    for up in ups:
        up.close()


def test_reconfiguring_the_upstream_dials_the_new_one(
    server: ServerThread, two_upstreams: list[Upstream]
) -> None:
    api = Api(server.url)
    first, second = two_upstreams
    proxy = api.create_proxy("p", first.addr)
    assert api.post("/proxies/p", {"upstream": f"localhost:{second.port}"}).status == 200
    proxy = api.get("/proxies/p").body
    client, theirs = open_pair(proxy, second)
    client.sendall(b"to the second")
    assert recv_exactly(theirs, 13) == b"to the second"
    client.close()
    theirs.close()
    assert api.post("/proxies/p", {"upstream": first.addr}).status == 200
    proxy = api.get("/proxies/p").body
    client, theirs = open_pair(proxy, first)
    client.sendall(b"back")
    assert recv_exactly(theirs, 4) == b"back"
    client.close()
    theirs.close()
