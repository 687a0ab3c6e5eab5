"""HTTP/1.x framing for the hop: requests in, responses' ends found, canned answers out.

The parser is ``httptools`` (Node's llhttp, in C) rather than ``h11`` (pure Python). The hop sits
on the data path of every request a run makes, and its budget is a couple of hundred
microseconds a request; h11 spends most of that on parsing and re-serialising alone, llhttp a
few microseconds. Fidelity comes from llhttp being the parser Node.js serves the web with: it
handles chunking, pipelining, 1xx answers, 204/304 and keep-alive rules. Where httptools is thin,
this module fills in: it cannot be told that an answer is to a HEAD request (so a fresh parser
is used per exchange and the answer ends at its head), and it has no end-of-input call (so an
answer framed by the connection closing is ended by :meth:`ResponseFramer.ended`).

Requests are read whole (a rule may match on the body) and sent upstream re-serialised from
their parts: the request line and every header as the client wrote them, in order, except
``Expect`` (the hop already has the body, so the upstream must not wait to be asked for it). A
chunked body is re-sent as one chunk, still ``Transfer-Encoding: chunked``; trailers are dropped.
Answers pass through byte for byte.

Everything here is pure: :class:`RequestReader` and :class:`ResponseFramer` take bytes and
need no socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools

#: A request whose body exceeds this is refused with 413 and its connection closed.
MAX_REQUEST_BYTES = 8 << 20


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJson()


class Request:
    """One whole request, as the client sent it."""

    __slots__ = ("_json", "_lower", "body", "chunked", "expect", "headers", "keep_alive", "method",
                 "target", "version")  # fmt: skip

    def __init__(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        *,
        version: str = "1.1",
        keep_alive: bool = True,
        chunked: bool = False,
        expect: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.chunked = chunked
        self.expect = expect
        self._lower: dict[str, list[str]] | None = None
        self._json: object = None

    @property
    def path(self) -> str:
        """The path without the query string, as sent (not percent-decoded)."""
        target = self.target
        if not target.startswith(b"/"):  # absolute form (http://host/path) or "*"
            _scheme, sep, rest = target.partition(b"://")
            target = b"/" + rest.partition(b"/")[2] if sep else target
        return target.partition(b"?")[0].decode("latin-1")

    @property
    def head(self) -> bool:
        return self.method == "HEAD"

    def header_values(self, lower_name: str) -> list[str]:
        lower = self._lower
        if lower is None:
            lower = {}
            for name, value in self.headers:
                lower.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
            self._lower = lower
        return lower.get(lower_name, [])

    def header(self, lower_name: str) -> str | None:
        values = self.header_values(lower_name)
        return values[0] if values else None

    def json_body(self) -> object:
        if self._json is None:
            try:
                self._json = json.loads(self.body) if self.body else NOT_JSON
            except (ValueError, UnicodeDecodeError):
                self._json = NOT_JSON
        return self._json

    def wire(self) -> bytes:
        """The request as sent upstream (see the module docstring for what changes)."""
        parts = [self.method.encode("latin-1"), b" ", self.target, b" HTTP/", self.version.encode(), b"\r\n"]
        for name, value in self.headers:
            if self.expect and name.lower() == b"expect":
                continue
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        if self.chunked:
            if self.body:
                parts += (b"%x\r\n" % len(self.body), self.body, b"\r\n")
            parts.append(b"0\r\n\r\n")
        else:
            parts.append(self.body)
        return b"".join(parts)


@dataclass(frozen=True)
class Refusal:
    """A request the hop answers itself and then closes the connection: malformed, too big, an upgrade."""

    status: int
    message: str


class RequestReader:
    """Turns a client's bytes into :class:`Request` objects (or one final :class:`Refusal`).

    >>> reader = RequestReader()
    >>> reader.feed(b"GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    >>> [r.path for r in reader.take()]
    ['/a', '/b']
    """

    def __init__(self, max_body: int = MAX_REQUEST_BYTES) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._max_body = max_body
        self._ready: list[Request | Refusal] = []
        self.done = False  # a refusal was produced; nothing more is read
        #: The request being read asked for ``100 Continue`` and its body has not arrived yet.
        self.awaiting_continue = False
        self._start()

    def _start(self) -> None:
        self._url: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._in_body = False
        self._chunked = False
        self._expect = False
        self._refuse: Refusal | None = None

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(self._refuse or Refusal(501, "the hop does not relay Upgrade or CONNECT requests"))
        except httptools.HttpParserError as exc:
            reason = self._refuse or Refusal(400, f"malformed HTTP request: {exc}")
            self._finish(reason)

    def take(self) -> list[Request | Refusal]:
        ready, self._ready = self._ready, []
        return ready

    def _finish(self, refusal: Refusal) -> None:
        self._ready.append(refusal)
        self.done = True
        self.awaiting_continue = False

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._start()

    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_body:
            return  # a chunked body's trailer fields: dropped (see the module docstring)
        self._headers.append((name, value))
        lower = name.lower()
        if lower == b"transfer-encoding" and b"chunked" in value.lower():
            self._chunked = True
        elif lower == b"expect" and value.lower() == b"100-continue":
            self._expect = True

    def on_headers_complete(self) -> None:
        self._in_body = True
        if self._parser.should_upgrade():
            self._refuse = Refusal(501, "the hop does not relay Upgrade or CONNECT requests")
        elif self._expect and self._parser.get_http_version() == "1.1":
            self.awaiting_continue = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            self._refuse = Refusal(
                413, f"request body over {self._max_body} bytes: the hop reads bodies whole"
            )
            raise OverflowError  # stops the parser; feed() reports the refusal
        self._body.append(body)
        self.awaiting_continue = False

    def on_message_complete(self) -> None:
        self.awaiting_continue = False
        if self._refuse is not None:
            return  # an upgrade: feed() sees HttpParserUpgrade next and reports it
        parser = self._parser
        self._ready.append(
            Request(
                parser.get_method().decode("latin-1"),
                b"".join(self._url),
                self._headers,
                b"".join(self._body),
                version=parser.get_http_version(),
                keep_alive=parser.should_keep_alive(),
                chunked=self._chunked,
                expect=self._expect,
            )
        )


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def canned(
    status: int,
    body: bytes,
    headers: tuple[tuple[str, str], ...] = (),
    *,
    keep_alive: bool = True,
    version: str = "1.1",
    head: bool = False,
) -> bytes:
    """A complete response the hop writes itself (an abort, a 502, a refusal)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    elif version == "1.0":
        lines.append("Connection: keep-alive")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_bytes if head else head_bytes + body


def hop_error(status: int, message: str, *, keep_alive: bool, version: str, head: bool = False) -> bytes:
    """An answer from the hop itself, saying so, for a person reading a client's log."""
    body = f"paychaos httphop: {message}\n".encode()
    headers = (("Content-Type", "text/plain; charset=utf-8"),)
    return canned(status, body, headers, keep_alive=keep_alive, version=version, head=head)


class ResponseFramer:
    """Finds where the upstream's answer to one request ends; the bytes themselves pass through.

    One framer per exchange, so that an answer to HEAD can end at its head (httptools cannot be
    told the request was HEAD, and would wait for a body). Interim 1xx answers pass, the framer
    waits for the final one.
    """

    def __init__(self, *, head: bool = False) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._head = head
        self._framed = False  # the final answer has a Content-Length or chunked body
        self.status = 0  # the final answer's status, once its head is in
        self.complete = False
        self.keep_alive = False

    def feed(self, data: bytes) -> None:
        """Raises httptools.HttpParserError for a malformed answer."""
        self._parser.feed_data(data)

    def ended(self) -> bool:
        """The upstream closed: True if that ended the answer (a body framed by the close)."""
        if self.status and not self._framed and not self.complete:
            self.complete = True
            self.keep_alive = False
        return self.complete

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"content-length" or lower == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return
        self.status = status
        if self._head:
            self.complete = True
            self.keep_alive = self._parser.should_keep_alive()
        elif status in (204, 304):
            self._framed = True

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            self._framed = False  # an interim answer; the final one follows
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
