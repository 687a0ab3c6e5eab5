"""The relay itself, for real: framing, keep-alive, pipelining, failures, and what the hop refuses."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import httpx
import pytest

from paychaos.faults._hop import HopClient
from tests.harness.faults.httphop.conftest import HopLink, Upstream, unused_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def raw_exchange(port: int, data: bytes, *, until_close: bool = True, want: bytes = b"") -> bytes:
    """Send bytes as they are; read until the hop closes (or until ``want`` has arrived)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        got = b""
        while until_close or want not in got:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def responses(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """(status, body) of each Content-Length-framed response in ``raw``."""
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")
        )
        yield int(lines[0].split()[1]), rest[:length]
        raw = rest[length:]


def test_chunked_request_and_response_bodies(link: HopLink, upstream: Upstream) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"amount": '
        yield b"100}"

    reply = httpx.post(f"{link.url}/debits", content=pieces())
    assert reply.json()["body"] == '{"amount": 100}'
    assert upstream.seen[0].headers["transfer-encoding"] == "chunked"
    assert httpx.get(f"{link.url}/chunked").json() == {"parts": [1, 2, 3]}


def test_a_chunked_json_body_is_matched(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="j", match={"json": {"amount": 100}}, action={"type": "abort", "status": 402})
    assert httpx.post(f"{link.url}/debits", content=iter([b'{"amount"', b": 100}"])).status_code == 402


def test_pipelined_requests_are_answered_in_order(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="second", match={"path": "/1"}, action={"type": "abort", "status": 418, "body": "teapot"})
    requests = b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(4))
    raw = raw_exchange(link.port, requests + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = list(responses(raw))
    assert [status for status, _ in got] == [200, 418, 200, 200, 200]
    assert got[1][1] == b"teapot"
    assert upstream.paths() == ["/0", "/2", "/3", "/last"]


def test_http_1_0_is_answered_and_closed(link: HopLink, upstream: Upstream) -> None:
    raw = raw_exchange(link.port, b"GET /old HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.")
    assert b'"path": "/old"' in raw


def test_expect_100_continue_does_not_deadlock(link: HopLink, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", link.port), timeout=10) as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ok")
        got = b""
        while b'"body": "ok"' not in got:
            got += sock.recv(65536)
    assert "expect" not in upstream.seen[0].headers


def test_head_answers_end_at_their_head(link: HopLink, upstream: Upstream) -> None:
    with httpx.Client(base_url=link.url) as client:
        assert client.head("/h").status_code == 200
        assert client.get("/after").json()["path"] == "/after"  # the connection is still in step


def test_an_answer_ended_by_closing_reaches_the_client(link: HopLink, upstream: Upstream) -> None:
    with httpx.Client(base_url=link.url) as client:
        assert client.get("/until-close").text == "the body ends when the connection does"
        assert client.get("/next").status_code == 200  # on a new upstream connection (and client's)


@pytest.mark.parametrize("upstream", [0.2], indirect=True)
def test_after_the_upstream_closes_the_next_request_opens_a_new_connection(
    link: HopLink, upstream: Upstream
) -> None:
    with httpx.Client(base_url=link.url) as client:
        assert client.get("/a").status_code == 200
        wait_until(
            lambda: upstream.connections == 0, timeout=5, what="the upstream to close the idle connection"
        )
        assert client.get("/b").status_code == 200  # same client connection, a new upstream one
    assert upstream.paths() == ["/a", "/b"]


def test_a_dead_upstream_gets_502(hop: object, api: HopClient) -> None:
    listen = api.create_link("dead_upstream", "127.0.0.1:0", f"127.0.0.1:{unused_port()}")["listen"]
    try:
        with httpx.Client(base_url=f"http://{listen}") as client:
            reply = client.get("/x")
            assert reply.status_code == 502
            assert "unreachable" in reply.text
            assert client.get("/x").status_code == 502  # the client's connection was kept
    finally:
        api.delete_link("dead_upstream")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"THIS IS NOT HTTP\r\n\r\n", 400),
        (b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 501),
    ],
)
def test_refused_requests_get_an_answer_and_a_closed_connection(
    link: HopLink, upstream: Upstream, request_bytes: bytes, status: int
) -> None:
    raw = raw_exchange(link.port, request_bytes)  # returns only once the hop closed
    assert raw.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Connection: close" in raw
    assert upstream.seen == []


def test_a_body_over_the_limit_gets_413(link: HopLink, upstream: Upstream) -> None:
    head = b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (9 << 20)
    with socket.create_connection(("127.0.0.1", link.port), timeout=10) as sock:
        sock.sendall(head)
        with contextlib.suppress(OSError):  # the hop may close before it has read everything
            sock.sendall(b"x" * (9 << 20))
        got = sock.recv(65536)
    assert got.startswith(b"HTTP/1.1 413 ")
    assert upstream.seen == []


def test_deleting_a_link_closes_its_listener_and_connections(
    hop: object, api: HopClient, upstream: Upstream
) -> None:
    listen = api.create_link("short_lived", "127.0.0.1:0", upstream.address)["listen"]
    with httpx.Client(base_url=f"http://{listen}") as client:
        assert client.get("/").status_code == 200
        assert api.delete_link("short_lived")
        with pytest.raises(httpx.TransportError):
            client.get("/")
    assert not api.delete_link("short_lived")
