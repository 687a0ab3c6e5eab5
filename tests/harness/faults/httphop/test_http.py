"""HTTP framing without sockets: reading requests whole, re-sending them, finding an answer's end."""

from __future__ import annotations

import pytest

from paychaos.faults.httphop._http import Refusal, Request, RequestReader, ResponseFramer, canned


def read(*chunks: bytes, max_body: int = 1 << 20) -> list[Request | Refusal]:
    reader = RequestReader(max_body=max_body)
    out: list[Request | Refusal] = []
    for chunk in chunks:
        reader.feed(chunk)
        out += reader.take()
    return out


def one(*chunks: bytes) -> Request:
    (got,) = read(*chunks)
    assert isinstance(got, Request)
    return got


def test_a_request_is_sent_on_as_it_came() -> None:
    raw = b'POST /debits?x=1 HTTP/1.1\r\nHost: bank\r\nIdempotency-Key: pay:1\r\nContent-Length: 7\r\n\r\n{"a":1}'
    got = one(raw)
    assert (got.method, got.path, got.body, got.keep_alive) == ("POST", "/debits", b'{"a":1}', True)
    assert got.header("idempotency-key") == "pay:1"
    assert got.json_body() == {"a": 1}
    assert got.wire() == raw


def test_requests_split_anywhere_are_put_back_together() -> None:
    raw = b"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    got = one(*(raw[i : i + 1] for i in range(len(raw))))
    assert got.body == b"hello"
    assert got.wire() == raw


def test_pipelined_requests_come_out_in_order() -> None:
    raw = b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(3))
    assert [r.path for r in read(raw) if isinstance(r, Request)] == ["/0", "/1", "/2"]


def test_a_chunked_body_is_resent_as_one_chunk_without_trailers() -> None:
    got = one(
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    assert got.body == b"abcde"
    assert got.header_values("x-trailer") == []
    assert (
        got.wire()
        == b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"
    )


def test_expect_is_not_passed_on_and_continue_is_wanted_until_the_body_starts() -> None:
    reader = RequestReader()
    reader.feed(b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    wanted_before_body = reader.awaiting_continue
    assert reader.take() == []
    reader.feed(b"ok")
    assert (wanted_before_body, reader.awaiting_continue) == (True, False)
    (got,) = reader.take()
    assert isinstance(got, Request)
    assert got.wire() == b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"


def test_http_1_0_closes_unless_asked_to_keep_alive() -> None:
    assert not one(b"GET / HTTP/1.0\r\n\r\n").keep_alive
    assert one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive
    assert not one(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 501),
        (b"CONNECT bank:443 HTTP/1.1\r\nHost: bank:443\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n0123456789A", 413),
    ],
)
def test_what_the_hop_refuses(raw: bytes, status: int) -> None:
    got = read(b"GET /before HTTP/1.1\r\n\r\n" + raw, max_body=10)
    assert isinstance(got[0], Request)
    assert isinstance(got[-1], Refusal)
    assert got[-1].status == status


def test_nothing_is_read_after_a_refusal() -> None:
    reader = RequestReader()
    reader.feed(b"BAD\r\n\r\n")
    reader.feed(b"GET / HTTP/1.1\r\n\r\n")
    assert [type(r) for r in reader.take()] == [Refusal]


def framed(chunks: list[bytes], *, head: bool = False, closed: bool = False) -> ResponseFramer:
    framer = ResponseFramer(head=head)
    for chunk in chunks:
        framer.feed(chunk)
    if closed:
        framer.ended()
    return framer


def test_an_answer_ends_after_its_content_length() -> None:
    raw = b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nbody"
    assert not framed([raw[:-1]]).complete
    done = framed([raw[:-1], raw[-1:]])
    assert (done.complete, done.status, done.keep_alive) == (True, 201, True)


def test_a_chunked_answer_ends_at_its_last_chunk() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert not framed([raw[:-2]]).complete
    assert framed([raw]).complete


def test_an_answer_to_head_ends_at_its_head() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    assert framed([raw], head=True).complete
    assert not framed([raw]).complete


def test_204_and_304_have_no_body() -> None:
    assert framed([b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"]).complete
    assert framed([b"HTTP/1.1 304 Not Modified\r\n\r\n"]).complete


def test_interim_answers_pass_and_the_final_one_counts() -> None:
    framer = framed([b"HTTP/1.1 100 Continue\r\n\r\n"])
    assert not framer.complete
    framer.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert (framer.complete, framer.status) == (True, 200)


def test_an_answer_without_length_ends_when_the_upstream_closes() -> None:
    framer = framed([b"HTTP/1.1 200 OK\r\n\r\nsome body"])
    assert not framer.complete
    assert framer.ended()
    assert not framer.keep_alive
    # Cut short: a declared length not reached is no complete answer.
    assert not framed([b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsome"], closed=True).complete


def test_connection_close_means_no_keep_alive() -> None:
    assert not framed([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"]).keep_alive


def test_canned_answers_carry_their_length_and_the_connection_state() -> None:
    assert canned(503, b"busy", (("Retry-After", "1"),)) == (
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"
    )
    assert b"Connection: close\r\n" in canned(502, b"", keep_alive=False)
    assert b"Connection: keep-alive\r\n" in canned(200, b"", version="1.0")
    assert canned(200, b"body", head=True).endswith(b"Content-Length: 4\r\n\r\n")
