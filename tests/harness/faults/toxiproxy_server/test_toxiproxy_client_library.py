"""The ``toxiproxy-python`` client library (imported as ``toxiproxy``) drives the server as is."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from paychaos.faults.toxiproxy_server import ServerThread
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    Upstream,
    assert_refused,
    connect,
    recv_exactly,
    recv_until_eof,
)

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services


@pytest.fixture
def client(server: ServerThread) -> Iterator[toxiproxy.Toxiproxy]:
    # The library keeps its address in class attributes: point them at this server, then restore.
    saved = APIConsumer.host, APIConsumer.port
    tp = toxiproxy.Toxiproxy()
    tp.update_api_consumer(server.host, server.port)
    yield tp
    APIConsumer.host, APIConsumer.port = saved


def port_of(proxy: toxiproxy.Proxy) -> int:
    return int(proxy.listen.rsplit(":", 1)[1])


def echo_once(proxy: toxiproxy.Proxy, upstream: Upstream) -> float:
    """Open a connection through ``proxy``, bounce one message off the upstream, time it."""
    sock = connect(port_of(proxy))
    server = upstream.accept()
    start = time.perf_counter()
    sock.sendall(b"ping")
    server.sendall(recv_exactly(server, 4))
    assert recv_exactly(sock, 4) == b"ping"
    elapsed = time.perf_counter() - start
    sock.close()
    server.close()
    return elapsed


def test_server_is_running_and_reports_a_version(client: toxiproxy.Toxiproxy) -> None:
    assert client.running() is True
    assert b"2.12.0" in client.version()


def test_create_list_and_destroy_proxies(client: toxiproxy.Toxiproxy, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.addr, name="redis")  # the library asks for port 0
    assert proxy.enabled is True
    assert port_of(proxy) > 0
    assert set(client.proxies()) == {"redis"}
    assert client.get_proxy("redis").listen == proxy.listen
    echo_once(proxy, upstream)
    with pytest.raises(ProxyExists):
        client.create(upstream=upstream.addr, name="redis")
    assert client.destroy(proxy) is True
    assert client.proxies() == {}
    with pytest.raises(NotFound):
        proxy.destroy()


def test_add_and_remove_toxics(client: toxiproxy.Toxiproxy, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.addr, name="db", listen="127.0.0.1:0")
    proxy.add_toxic(type="latency", attributes={"latency": 150})
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic is not None
    assert (toxic.type, toxic.stream, toxic.toxicity) == ("latency", "downstream", 1.0)
    assert toxic.attributes == {"latency": 150, "jitter": 0}
    assert echo_once(proxy, upstream) >= 0.147

    proxy.add_toxic(type="bandwidth", stream="upstream", name="slow", attributes={"rate": 100})
    assert set(proxy.toxics()) == {"slow", "latency_downstream"}

    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.destroy_toxic("slow") is True
    assert proxy.toxics() == {}
    assert echo_once(proxy, upstream) < 0.1

    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")


def test_disable_enable_and_down(client: toxiproxy.Toxiproxy, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.addr, name="db")
    sock = connect(port_of(proxy))
    upstream.accept()
    proxy.disable()
    assert client.get_proxy("db").enabled is False
    assert recv_until_eof(sock) == b""  # disabling drops open connections
    assert_refused(port_of(proxy))
    proxy.enable()
    assert client.get_proxy("db").enabled is True
    echo_once(proxy, upstream)
    with proxy.down():
        assert_refused(port_of(proxy))
    echo_once(proxy, upstream)


def test_reset_restores_every_proxy(client: toxiproxy.Toxiproxy, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.addr, name="db")
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()
    assert client.reset() is True
    restored = client.get_proxy("db")
    assert restored.enabled is True
    assert restored.toxics() == {}
    echo_once(restored, upstream)


def test_populate_and_destroy_all(client: toxiproxy.Toxiproxy, upstream: Upstream) -> None:
    created = client.populate(
        [
            {"name": "a", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
        ]
    )
    assert sorted(p.name for p in created) == ["a", "b"]
    assert set(client.proxies()) == {"a", "b"}
    client.destroy_all()
    assert client.proxies() == {}
