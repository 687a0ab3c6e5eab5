"""The control API through HopClient and raw HTTP: shapes, statuses, and messages a person can act on."""

from __future__ import annotations

import httpx
import pytest

from paychaos.errors import InfrastructureError
from paychaos.faults._hop import Hop, HopClient, HopError
from tests.harness.faults.httphop.conftest import HopLink, Upstream, unused_port

pytestmark = pytest.mark.integration


def test_version(hop: Hop) -> None:
    reply = httpx.get(f"{hop.url}/version")
    assert reply.status_code == 200
    assert reply.json()["name"] == "paychaos-httphop"
    with HopClient(hop.url) as client:
        assert client.reachable()


def test_links_show_their_rules_and_what_they_did(link: HopLink, api: HopClient, upstream: Upstream) -> None:
    created = link.rule(id="r1", label="x", match={"path": "/a"}, action={"type": "abort"}, seed=3)
    assert created == {"id": "r1", "label": "x", "match": {"path": "/a"},
                       "action": {"type": "abort", "status": 503, "body": "", "headers": {}},
                       "select": {}, "seed": 3}  # fmt: skip
    httpx.get(f"{link.url}/a")
    (mine,) = [entry for entry in api.links() if entry["name"] == link.name]
    assert mine["listen"] == link.created["listen"]
    assert mine["upstream"] == upstream.address
    assert mine["rules"] == [created | {"stats": {"matched": 1, "acted": 1, "holding": 0}}]
    assert link.created["rules"] == []


def refused(call: object) -> HopError:
    assert callable(call)
    with pytest.raises(HopError) as caught:
        call()
    return caught.value


def test_link_errors(link: HopLink, api: HopClient, upstream: Upstream) -> None:
    exists = refused(lambda: api.create_link(link.name, "127.0.0.1:0", upstream.address))
    assert exists.status == 409
    assert "exists already" in str(exists)
    outside = refused(lambda: api.create_link("outside", "0.0.0.0:0", upstream.address))
    assert outside.status == 400
    assert "not a loopback address" in str(outside)
    malformed = refused(lambda: api.create_link("bad", "127.0.0.1:0", "no-port"))
    assert (malformed.status, "expected host:port" in str(malformed)) == (400, True)
    assert not api.delete_link("no_such_link")
    assert isinstance(exists, InfrastructureError)


def test_rule_errors(link: HopLink, api: HopClient) -> None:
    link.rule(id="r1", action={"type": "abort"})
    duplicate = refused(lambda: link.rule(id="r1", action={"type": "abort"}))
    assert duplicate.status == 409
    bad = refused(lambda: link.rule(id="r2", action={"type": "abort"}, select={"probability": 2}))
    assert bad.status == 400
    assert "select.probability: must be a number from 0 to 1, got 2 (number)" in str(bad)
    unknown_link = refused(lambda: api.add_rule("no_such_link", {"id": "r", "action": {"type": "abort"}}))
    assert unknown_link.status == 404
    assert "create it with POST /links" in str(unknown_link)
    assert not api.remove_rule(link.name, "nope")
    assert not api.remove_rule("no_such_link", "r1")
    assert api.remove_rule(link.name, "r1")


def test_raw_errors_are_json_with_an_error_message(hop: Hop) -> None:
    cases = [
        ("POST", "/links", b"{not json", 400, "not valid JSON"),
        ("POST", "/links", b"", 400, "body is empty"),
        (
            "POST",
            "/links",
            b'{"name": "x", "upstream": "127.0.0.1:1", "colour": 1}',
            400,
            "colour: unknown key",
        ),
        ("POST", "/links", b'{"upstream": "127.0.0.1:1"}', 400, "name: must be a string"),
        ("DELETE", "/links/none", b"", 404, "no link named 'none'"),
        ("GET", "/nowhere", b"", 404, "not part of the API"),
        ("PUT", "/links", b"", 405, "Method Not Allowed"),
    ]
    for method, path, body, status, words in cases:
        reply = httpx.request(method, f"{hop.url}{path}", content=body)
        assert reply.status_code == status, (method, path, reply.text)
        assert words in reply.json()["error"], (method, path, reply.text)


def test_a_hop_that_is_not_there() -> None:
    with HopClient(f"http://127.0.0.1:{unused_port()}", timeout=1) as client:
        assert not client.reachable()
        with pytest.raises(InfrastructureError, match="did not answer GET /links"):
            client.links()
