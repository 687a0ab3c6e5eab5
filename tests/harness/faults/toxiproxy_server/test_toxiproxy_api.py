"""Every endpoint of the Toxiproxy 2.x HTTP API, its success shapes and its error statuses."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from paychaos.faults.toxiproxy_server import ServerThread
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import (
    WAIT,
    Api,
    Upstream,
    assert_refused,
    connect,
    open_pair,
    port_of,
    recv_exactly,
    recv_until_eof,
)

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services


def error(status: int, message: str) -> dict[str, Any]:
    return {"error": message, "status": status}


def test_version(api: Api) -> None:
    reply = api.get("/version")
    assert reply.status == 200
    assert reply.body == {"version": "2.12.0"}


def test_browsers_are_refused(api: Api) -> None:
    reply = api.call("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert reply.status == 403


def test_every_response_has_a_request_id(server: ServerThread) -> None:
    ids = []
    for path, agent, status in [
        ("/version", "curl", 200),
        ("/proxies/nope", "curl", 404),
        ("/no/such/route", "curl", 404),
        ("/proxies", "Mozilla/5.0", 403),
    ]:
        request = urllib.request.Request(server.url + path, headers={"User-Agent": agent})
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                got, headers = response.status, response.headers
        except urllib.error.HTTPError as exc:
            got, headers = exc.code, exc.headers
        assert got == status
        ids.append(headers["X-Toxiproxy-Request-Id"])
    # Toxiproxy's are xids: 20 characters of base32hex, lowercase.
    assert all(len(i) == 20 and set(i) <= set("0123456789abcdefghijklmnopqrstuv") for i in ids), ids
    assert len(set(ids)) == len(ids)


# Proxies.


def test_create_proxy_answers_201_with_the_bound_address(api: Api, upstream: Upstream) -> None:
    reply = api.post("/proxies", {"name": "db", "upstream": upstream.addr, "listen": "127.0.0.1:0"})
    assert reply.status == 201
    assert set(reply.body) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert reply.body["name"] == "db"
    assert reply.body["upstream"] == upstream.addr
    assert reply.body["enabled"] is True
    assert reply.body["toxics"] == []
    host, port = reply.body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    client, server = open_pair(reply.body, upstream)
    client.sendall(b"hi")
    assert recv_exactly(server, 2) == b"hi"


def test_create_without_listen_stays_on_loopback(api: Api, upstream: Upstream) -> None:
    reply = api.post("/proxies", {"name": "db", "upstream": upstream.addr})
    assert reply.status == 201
    assert reply.body["listen"].startswith("127.0.0.1:")


def test_create_disabled_does_not_listen(api: Api, upstream: Upstream) -> None:
    taken = Upstream()
    free_port = taken.port
    taken.close()
    listen = f"127.0.0.1:{free_port}"
    reply = api.post("/proxies", {"name": "db", "upstream": upstream.addr, "listen": listen,
                                  "enabled": False})  # fmt: skip
    assert reply.status == 201
    assert reply.body["enabled"] is False
    assert reply.body["listen"] == listen
    assert_refused(free_port)


def test_create_existing_name_is_409(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    reply = api.post("/proxies", {"name": "p", "upstream": upstream.addr})
    assert (reply.status, reply.body) == (409, error(409, "proxy already exists"))


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'{"name": 7, "upstream": "127.0.0.1:1"}'])
def test_create_with_a_bad_body_is_400(api: Api, raw: bytes) -> None:
    reply = api.post("/proxies", raw=raw)
    assert reply.status == 400
    assert reply.body["status"] == 400
    assert reply.body["error"].startswith("bad request body")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"upstream": "127.0.0.1:1"}, "name"), ({"name": "x"}, "upstream")],
)
def test_create_with_a_missing_field_is_400(api: Api, body: dict[str, Any], field: str) -> None:
    reply = api.post("/proxies", body)
    assert (reply.status, reply.body) == (400, error(400, f"missing required field: {field}"))


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "[::]:0"])
def test_non_loopback_listen_is_refused_with_400(api: Api, listen: str) -> None:
    reply = api.post("/proxies", {"name": "x", "upstream": "127.0.0.1:1", "listen": listen})
    assert reply.status == 400
    assert "not a loopback address" in reply.body["error"]
    assert "allow_non_loopback" in reply.body["error"]
    assert api.get("/proxies").body == {}


def test_listen_address_in_use_is_500_like_toxiproxy(api: Api, upstream: Upstream) -> None:
    reply = api.post("/proxies", {"name": "x", "upstream": "127.0.0.1:1", "listen": upstream.addr})
    assert reply.status == 500
    assert reply.body == error(500, f"listen tcp {upstream.addr}: bind: address already in use")
    assert api.get("/proxies").body == {}


def test_malformed_upstream_is_400(api: Api) -> None:
    reply = api.post("/proxies", {"name": "x", "upstream": "no-port-here"})
    assert reply.status == 400
    assert reply.body["error"].startswith("bad request body: upstream")


def test_list_proxies_is_an_object_keyed_by_name(api: Api, upstream: Upstream) -> None:
    assert api.get("/proxies").body == {}
    a = api.create_proxy("a", upstream.addr)
    b = api.create_proxy("b", upstream.addr)
    reply = api.get("/proxies")
    assert reply.status == 200
    assert reply.body == {"a": a, "b": b}


def test_show_proxy(api: Api, proxy: dict[str, Any]) -> None:
    reply = api.get("/proxies/p")
    assert (reply.status, reply.body) == (200, proxy)
    missing = api.get("/proxies/nope")
    assert (missing.status, missing.body) == (404, error(404, "proxy not found"))


def test_disable_closes_listener_and_connections_enable_listens_again(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    client, server = open_pair(proxy, upstream)
    reply = api.post("/proxies/p", {"enabled": False})
    assert reply.status == 200
    assert reply.body == proxy | {"enabled": False}
    assert recv_until_eof(client) == b""
    assert recv_until_eof(server) == b""
    assert_refused(port_of(proxy))

    reply = api.call("PATCH", "/proxies/p", {"enabled": True})  # PATCH is accepted too
    assert reply.status == 200
    assert reply.body == proxy  # same port as before
    client, server = open_pair(proxy, upstream)
    client.sendall(b"back")
    assert recv_exactly(server, 4) == b"back"


def test_update_upstream_drops_connections_and_uses_the_new_one(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    client, _ = open_pair(proxy, upstream)
    other = Upstream()
    try:
        reply = api.post("/proxies/p", {"upstream": other.addr})
        assert reply.status == 200
        assert reply.body["upstream"] == other.addr
        assert reply.body["listen"] == proxy["listen"]
        assert recv_until_eof(client) == b""
        client = connect(port_of(reply.body))
        server = other.accept()
        client.sendall(b"new")
        assert recv_exactly(server, 3) == b"new"
    finally:
        other.close()


def test_update_errors(api: Api, proxy: dict[str, Any]) -> None:
    missing = api.post("/proxies/nope", {"enabled": False})
    assert (missing.status, missing.body) == (404, error(404, "proxy not found"))
    bad = api.post("/proxies/p", raw=b"{")
    assert bad.status == 400
    assert bad.body["error"].startswith("bad request body")
    wrong_type = api.post("/proxies/p", {"enabled": "no"})
    assert wrong_type.status == 400
    outside = api.post("/proxies/p", {"listen": "0.0.0.0:0"})
    assert outside.status == 400
    assert "not a loopback address" in outside.body["error"]
    assert api.get("/proxies/p").body == proxy


def test_delete_proxy(api: Api, proxy: dict[str, Any], upstream: Upstream) -> None:
    client, _ = open_pair(proxy, upstream)
    reply = api.delete("/proxies/p")
    assert (reply.status, reply.text) == (204, "")
    assert recv_until_eof(client) == b""
    assert_refused(port_of(proxy))
    assert api.get("/proxies/p").status == 404
    again = api.delete("/proxies/p")
    assert (again.status, again.body) == (404, error(404, "proxy not found"))


# Toxics.


def test_create_toxic_fills_in_toxiproxy_defaults(api: Api, proxy: dict[str, Any]) -> None:
    reply = api.post("/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 100}})
    assert reply.status == 200
    assert reply.body == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 100, "jitter": 0},
    }


@pytest.mark.parametrize(
    ("type_", "attributes"),
    [
        ("latency", {"latency": 0, "jitter": 0}),
        ("bandwidth", {"rate": 0}),
        ("slow_close", {"delay": 0}),
        ("timeout", {"timeout": 0}),
        ("reset_peer", {"timeout": 0}),
        ("slicer", {"average_size": 0, "size_variation": 0, "delay": 0}),
        ("limit_data", {"bytes": 0}),
        ("noop", {}),
    ],
)
def test_every_standard_toxic_type_is_accepted(
    api: Api, proxy: dict[str, Any], type_: str, attributes: dict[str, int]
) -> None:
    reply = api.post("/proxies/p/toxics", {"type": type_, "stream": "upstream", "toxicity": 0.5})
    assert reply.status == 200
    assert reply.body == {
        "name": f"{type_}_upstream",
        "type": type_,
        "stream": "upstream",
        "toxicity": 0.5,
        "attributes": attributes,
    }


def test_toxic_errors(api: Api, proxy: dict[str, Any]) -> None:
    api.add_toxic("p", "latency", latency=1)
    cases = [
        ("/proxies/nope/toxics", {"type": "latency"}, 404, "proxy not found"),
        ("/proxies/p/toxics", {"type": "latency"}, 409, "toxic already exists"),
        ("/proxies/p/toxics", {"type": "latency", "name": "x", "stream": "upstream"}, 200, None),
        ("/proxies/p/toxics", {"type": "latency", "name": "x"}, 409, "toxic already exists"),
        ("/proxies/p/toxics", {"type": "nonsense"}, 400, "invalid toxic type"),
        ("/proxies/p/toxics", {}, 400, "invalid toxic type"),
        (
            "/proxies/p/toxics",
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
    ]
    for path, body, status, message in cases:
        reply = api.post(path, body)
        assert reply.status == status, (body, reply)
        if message is not None:
            assert reply.body == error(status, message), body


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"type": "latency", "attributes": {"latency": "slow"}}',
        b'{"type": "latency", "attributes": {"latency": 1.5}}',
        b'{"type": "latency", "attributes": [1]}',
        b'{"type": "latency", "toxicity": "high"}',
    ],
)
def test_toxic_bad_body_is_400(api: Api, proxy: dict[str, Any], body: bytes) -> None:
    reply = api.post("/proxies/p/toxics", raw=body)
    assert reply.status == 400
    assert reply.body["error"].startswith("bad request body")


def test_list_and_show_toxics(api: Api, proxy: dict[str, Any]) -> None:
    assert api.get("/proxies/p/toxics").body == []
    down = api.add_toxic("p", "latency", latency=5)
    up = api.add_toxic("p", "bandwidth", "upstream", rate=10)
    # Upstream chain first, then downstream, as Toxiproxy lists them.
    assert api.get("/proxies/p/toxics").body == [up, down]
    assert api.get("/proxies/p").body["toxics"] == [up, down]
    assert api.get("/proxies/p/toxics/latency_downstream").body == down
    missing = api.get("/proxies/p/toxics/nope")
    assert (missing.status, missing.body) == (404, error(404, "toxic not found"))
    assert api.get("/proxies/nope/toxics").status == 404
    assert api.get("/proxies/nope/toxics/x").status == 404


def test_update_toxic_merges_attributes(api: Api, proxy: dict[str, Any]) -> None:
    api.add_toxic("p", "latency", latency=100, jitter=10)
    reply = api.post(
        "/proxies/p/toxics/latency_downstream",
        {"attributes": {"jitter": 30}, "toxicity": 0.25, "type": "timeout", "stream": "upstream"},
    )
    assert reply.status == 200
    assert reply.body == {
        "name": "latency_downstream",
        "type": "latency",  # type and stream cannot change
        "stream": "downstream",
        "toxicity": 0.25,
        "attributes": {"latency": 100, "jitter": 30},
    }
    assert api.get("/proxies/p/toxics/latency_downstream").body == reply.body
    patched = api.call("PATCH", "/proxies/p/toxics/latency_downstream", {"toxicity": 1})
    assert patched.status == 200
    assert patched.body["toxicity"] == 1.0


def test_update_toxic_errors(api: Api, proxy: dict[str, Any]) -> None:
    api.add_toxic("p", "latency", latency=100)
    missing = api.post("/proxies/p/toxics/nope", {"toxicity": 1})
    assert (missing.status, missing.body) == (404, error(404, "toxic not found"))
    no_proxy = api.post("/proxies/nope/toxics/latency_downstream", {"toxicity": 1})
    assert (no_proxy.status, no_proxy.body) == (404, error(404, "proxy not found"))
    bad = api.post("/proxies/p/toxics/latency_downstream", {"attributes": {"latency": "x"}})
    assert bad.status == 400


def test_delete_toxic(api: Api, proxy: dict[str, Any]) -> None:
    api.add_toxic("p", "latency", latency=100)
    reply = api.delete("/proxies/p/toxics/latency_downstream")
    assert (reply.status, reply.text) == (204, "")
    assert api.get("/proxies/p/toxics").body == []
    again = api.delete("/proxies/p/toxics/latency_downstream")
    assert (again.status, again.body) == (404, error(404, "toxic not found"))
    no_proxy = api.delete("/proxies/nope/toxics/latency_downstream")
    assert (no_proxy.status, no_proxy.body) == (404, error(404, "proxy not found"))


# Whole-server endpoints.


def test_reset_enables_every_proxy_and_removes_every_toxic(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.create_proxy("q", upstream.addr)
    api.add_toxic("p", "latency", latency=100)
    api.add_toxic("q", "timeout", "upstream", timeout=0)
    assert api.post("/proxies/p", {"enabled": False}).status == 200
    reply = api.post("/reset")
    assert (reply.status, reply.text) == (204, "")
    proxies = api.get("/proxies").body
    assert proxies["p"] == proxy
    assert proxies["q"]["toxics"] == []
    assert proxies["q"]["enabled"] is True
    client, server = open_pair(proxy, upstream)
    client.sendall(b"ok")
    assert recv_exactly(server, 2) == b"ok"


def test_populate_creates_and_answers_201(api: Api, upstream: Upstream) -> None:
    reply = api.post(
        "/populate",
        [
            {"name": "a", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": upstream.addr, "listen": "127.0.0.1:0", "enabled": False},
        ],
    )
    assert reply.status == 201
    assert set(reply.body) == {"proxies"}
    a, b = reply.body["proxies"]
    assert (a["name"], a["enabled"], b["name"], b["enabled"]) == ("a", True, "b", False)
    assert api.get("/proxies").body == {"a": a, "b": b}


def test_populate_keeps_unchanged_proxies_and_replaces_changed_ones(
    api: Api, proxy: dict[str, Any], upstream: Upstream
) -> None:
    api.add_toxic("p", "latency", latency=1)
    api.create_proxy("q", upstream.addr)
    api.add_toxic("q", "latency", latency=1)
    other = Upstream()
    try:
        reply = api.post(
            "/populate",
            [
                {"name": "p", "upstream": upstream.addr, "listen": proxy["listen"]},
                {"name": "q", "upstream": other.addr, "listen": "127.0.0.1:0"},
            ],
        )
        assert reply.status == 201
        p, q = reply.body["proxies"]
        assert len(p["toxics"]) == 1  # unchanged: kept as it was, toxics and all
        assert q["upstream"] == other.addr
        assert q["toxics"] == []
    finally:
        other.close()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "a"}, 400, None),
        ([{"upstream": "127.0.0.1:1"}], 400, "missing required field: name at proxy 1"),
        (
            [{"name": "a", "upstream": "127.0.0.1:1"}, {"name": "b"}],
            400,
            "missing required field: upstream at proxy 2",
        ),
        ([{"name": "a", "upstream": "127.0.0.1:1", "listen": "0.0.0.0:0"}], 400, None),
    ],
)
def test_populate_errors_change_nothing(api: Api, body: Any, status: int, message: str | None) -> None:
    reply = api.post("/populate", body)
    assert reply.status == status
    assert reply.body["proxies"] is None  # Toxiproxy's shape: nothing applied is null, not []
    if message is not None:
        assert reply.body == error(status, message) | {"proxies": None}
    assert api.get("/proxies").body == {}


def test_populate_of_nothing_is_201_with_null(api: Api) -> None:
    reply = api.post("/populate", [])
    assert (reply.status, reply.body) == (201, {"proxies": None})  # Go marshals the empty list as null


def test_populate_keeps_a_proxy_whose_listen_names_the_same_address(api: Api, upstream: Upstream) -> None:
    created = api.create_proxy("p", upstream.addr, listen="localhost:0")
    api.add_toxic("p", "latency", latency=1)
    port = port_of(created)
    reply = api.post("/populate", [{"name": "p", "upstream": upstream.addr, "listen": f"localhost:{port}"}])
    assert reply.status == 201
    assert reply.body["proxies"][0] == api.get("/proxies/p").body
    assert len(reply.body["proxies"][0]["toxics"]) == 1  # localhost:N is 127.0.0.1:N: kept
    reply = api.post("/populate", [{"name": "p", "upstream": upstream.addr, "listen": "localhost:0"}])
    assert reply.body["proxies"][0]["toxics"] == []  # port 0 is another address: replaced


def test_populate_applies_the_entries_before_a_bad_one_and_returns_them(api: Api, upstream: Upstream) -> None:
    reply = api.post(
        "/populate",
        [
            {"name": "a", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": upstream.addr, "listen": "local373"},
            {"name": "c", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
        ],
    )
    assert reply.status == 500
    assert reply.body["error"] == "listen tcp: address local373: missing port in address"
    assert reply.body["status"] == 500
    assert [p["name"] for p in reply.body["proxies"]] == ["a"]
    assert list(api.get("/proxies").body) == ["a"]


def test_a_port_conflict_names_the_address_as_resolved(api: Api, upstream: Upstream) -> None:
    reply = api.post(
        "/proxies", {"name": "x", "upstream": "127.0.0.1:1", "listen": f"localhost:{upstream.port}"}
    )
    assert reply.body == error(500, f"listen tcp 127.0.0.1:{upstream.port}: bind: address already in use")


def test_populate_reports_a_bind_failure_with_what_it_applied(api: Api, upstream: Upstream) -> None:
    reply = api.post(
        "/populate",
        [
            {"name": "a", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": upstream.addr, "listen": upstream.addr},
        ],
    )
    assert reply.status == 500
    assert reply.body["status"] == 500
    assert "address already in use" in reply.body["error"]
    assert [p["name"] for p in reply.body["proxies"]] == ["a"]
