"""Every action, for real: the hop process, a real upstream, httpx clients, all on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.harness.faults.httphop.conftest import HopLink, Upstream
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def in_thread(call: Any, *args: Any, **kwargs: Any) -> Future[Any]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call, *args, **kwargs)
    pool.shutdown(wait=False)
    return future


def test_a_request_no_rule_acts_on_passes_unchanged_and_is_not_journalled(
    link: HopLink, upstream: Upstream
) -> None:
    link.rule(id="never", match={"path": "/never"}, action={"type": "abort"})
    reply = httpx.post(f"{link.url}/debits?x=1", json={"amount": 5}, headers={"Idempotency-Key": "pay:1"})
    assert reply.status_code == 201
    assert reply.json() == {"n": 1, "path": "/debits?x=1", "body": '{"amount":5}'}
    (seen,) = upstream.seen
    assert seen.headers["idempotency-key"] == "pay:1"
    assert link.journal() == []


def test_delay_of_the_request(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="slow", action={"type": "delay", "by": 0.3})
    start = time.monotonic()
    assert httpx.get(f"{link.url}/a").status_code == 200
    assert time.monotonic() - start >= 0.3
    (line,) = link.wait_journal(1)
    assert (line["action"], line["status"], line["detail"]) == (
        "delay",
        200,
        "held the request 0.3s, then upstream answered 200",
    )


def test_delay_of_the_response_holds_an_answer_already_given(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="slow", action={"type": "delay", "of": "response", "by": 0.3})
    with httpx.Client(base_url=link.url) as client:
        future = in_thread(client.get, "/a")
        wait_until(lambda: upstream.paths() == ["/a"], timeout=5, what="the upstream to answer")
        start = time.monotonic()
        assert future.result(5).status_code == 200
    assert time.monotonic() - start >= 0.2  # the answer was in; the client still waited
    (line,) = link.wait_journal(1)
    assert line["detail"] == "held the upstream's answer 200 for 0.3s"


def test_abort_answers_without_forwarding_and_keeps_the_connection(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="busy", label="bank busy", match={"method": "POST"},
              action={"type": "abort", "status": 503, "body": "try later", "headers": {"Retry-After": "1"}})  # fmt: skip
    with httpx.Client(base_url=link.url) as client:
        reply = client.post("/debits", json={"a": 1}, headers={"Idempotency-Key": "pay:9"})
        assert (reply.status_code, reply.text, reply.headers["retry-after"]) == (503, "try later", "1")
        assert client.get("/after").status_code == 200  # same kept-alive connection
    assert upstream.paths() == ["/after"]
    (line,) = link.wait_journal(1)
    assert {k: line[k] for k in ("link", "rule", "label", "method", "path", "action", "key", "status", "detail")} == {
        "link": link.name, "rule": "busy", "label": "bank busy", "method": "POST", "path": "/debits",
        "action": "abort", "key": "pay:9", "status": None, "detail": "answered 503 without forwarding",
    }  # fmt: skip
    assert abs(line["at"] - time.time()) < 60


def test_lose_request_by_reset(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="lost", action={"type": "lose_request", "how": "reset"})
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{link.url}/debits", json={})
    assert upstream.seen == []
    assert link.wait_journal(1)[0]["detail"] == "reset the connection without forwarding"


def test_lose_request_by_timeout_keeps_silent_until_the_client_gives_up(
    link: HopLink, upstream: Upstream
) -> None:
    link.rule(id="lost", action={"type": "lose_request", "how": "timeout"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{link.url}/debits", json={}, timeout=0.5)
    assert upstream.seen == []
    assert link.wait_journal(1)[0]["status"] is None
    wait_until(lambda: link.holding("lost") == 0, timeout=5, what="the hold to end when the client left")


def test_lose_response_after_the_upstream_committed(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="lost", match={"path": "/debits"}, action={"type": "lose_response"})
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{link.url}/debits", json={"amount": 1})
    assert upstream.paths() == ["/debits"]
    (line,) = link.wait_journal(1)
    assert (line["status"], line["detail"]) == (201, "reset after upstream answered 201")


def test_lose_response_by_timeout(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="lost", action={"type": "lose_response", "how": "timeout"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{link.url}/debits", json={}, timeout=0.5)
    assert upstream.paths() == ["/debits"]
    assert link.wait_journal(1)[0]["detail"] == "kept the connection silent after upstream answered 201"


def test_duplicate_delivers_a_copy_and_the_client_sees_the_first_answer(
    link: HopLink, upstream: Upstream
) -> None:
    link.rule(id="twice", action={"type": "duplicate", "copies": 1})
    reply = httpx.post(f"{link.url}/debits", json={"a": 1}, headers={"Idempotency-Key": "k1"})
    assert reply.json()["n"] == 1
    (line,) = link.wait_journal(1)  # written once the copies were answered
    assert line["detail"] == "client got 201; delivered 1 extra copy, answered 201"
    assert [(s.path, s.body, s.headers["idempotency-key"]) for s in upstream.seen] == [
        ("/debits", b'{"a":1}', "k1")
    ] * 2


def test_reorder_lets_a_later_request_overtake(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="swap", match={"path": "/a"}, action={"type": "reorder", "after": 1, "hold_at_most": 30})
    first = in_thread(httpx.get, f"{link.url}/a", timeout=10)
    wait_until(lambda: link.holding("swap") == 1, timeout=5, what="request A to be held")
    assert upstream.paths() == []  # held: A has not gone upstream
    assert httpx.get(f"{link.url}/b").status_code == 200
    assert first.result(10).json()["path"] == "/a"  # A still gets its own, real answer
    # B went upstream first; A was let go then, on a connection of its own. Which of the two the
    # threaded upstream records first is its threads' business, so the order is not asserted here.
    assert sorted(upstream.paths()) == ["/a", "/b"]
    assert (
        link.wait_journal(1)[0]["detail"] == "held until 1 later request went upstream; upstream answered 200"
    )


def test_reorder_lets_go_after_hold_at_most(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="swap", action={"type": "reorder", "after": 5, "hold_at_most": 0.2})
    assert httpx.get(f"{link.url}/a").status_code == 200
    assert "held 0.2s (fewer than 5 later requests came)" in link.wait_journal(1)[0]["detail"]


def test_deleting_a_rule_forwards_what_it_held(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="swap", action={"type": "reorder", "after": 1, "hold_at_most": 60})
    held = in_thread(httpx.get, f"{link.url}/a", timeout=30)
    wait_until(lambda: link.holding("swap") == 1, timeout=5, what="the request to be held")
    assert link.api.remove_rule(link.name, "swap")
    assert held.result(10).status_code == 200
    assert link.wait_journal(1)[0]["detail"] == "held until the rule was deleted; upstream answered 200"


def test_deleting_a_rule_closes_the_connections_it_kept_silent(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="lost", action={"type": "lose_request", "how": "timeout"})
    silent = in_thread(httpx.get, f"{link.url}/a", timeout=30)
    wait_until(lambda: link.holding("lost") == 1, timeout=5, what="the connection to be held")
    assert link.api.remove_rule(link.name, "lost")
    with pytest.raises(httpx.TransportError):
        silent.result(10)
    assert upstream.seen == []
    assert not link.api.remove_rule(link.name, "lost")


@pytest.mark.parametrize(("select", "expected"), [({"first": 2}, [0, 1]), ({"every": 3}, [2, 5])])
def test_first_and_every_choose_by_arrival(
    link: HopLink, upstream: Upstream, select: dict[str, int], expected: list[int]
) -> None:
    link.rule(id="pick", select=select, action={"type": "abort", "status": 418})
    with httpx.Client(base_url=link.url) as client:
        statuses = [client.get(f"/{i}").status_code for i in range(7)]
    assert [i for i, status in enumerate(statuses) if status == 418] == expected
    assert [line["path"] for line in link.wait_journal(len(expected))] == [f"/{i}" for i in expected]


def test_probability_chooses_the_same_requests_for_the_same_seed(
    hop: Any, api: Any, upstream: Upstream
) -> None:
    chosen = []
    for attempt, seed in enumerate((7, 7, 8)):
        name = f"probability_{attempt}"
        listen = api.create_link(name, "127.0.0.1:0", upstream.address)["listen"]
        api.add_rule(
            name,
            {
                "id": "p",
                "select": {"probability": 0.4},
                "seed": seed,
                "action": {"type": "abort", "status": 418},
            },
        )
        with httpx.Client(base_url=f"http://{listen}") as client:
            chosen.append([i for i in range(30) if client.get(f"/{i}").status_code == 418])
        api.delete_link(name)
    assert chosen[0] == chosen[1]
    assert chosen[0] != chosen[2]
    assert 0 < len(chosen[0]) < 30


def test_matching_on_json_fields_and_header_globs(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="big", match={"json": {"data.amount": 100}, "headers": {"idempotency-key": "pay:*"}},
              action={"type": "abort", "status": 402})  # fmt: skip
    with httpx.Client(base_url=link.url) as client:
        assert (
            client.post(
                "/d", json={"data": {"amount": 100}}, headers={"Idempotency-Key": "pay:1"}
            ).status_code
            == 402
        )
        assert (
            client.post("/d", json={"data": {"amount": 99}}, headers={"Idempotency-Key": "pay:1"}).status_code
            == 201
        )
        assert (
            client.post(
                "/d", json={"data": {"amount": 100}}, headers={"Idempotency-Key": "ref:1"}
            ).status_code
            == 201
        )
        assert (
            client.post("/d", content=b"amount=100", headers={"Idempotency-Key": "pay:1"}).status_code == 201
        )
    assert [line["key"] for line in link.wait_journal(1)] == ["pay:1"]


def test_the_first_rule_that_selects_acts(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="a", select={"every": 2}, action={"type": "abort", "status": 418})
    link.rule(id="b", action={"type": "abort", "status": 429})
    with httpx.Client(base_url=link.url) as client:
        assert [client.get("/").status_code for _ in range(4)] == [429, 418, 429, 418]
    assert [line["rule"] for line in link.wait_journal(4)] == ["b", "a", "b", "a"]
    assert upstream.seen == []


def test_concurrent_clients_each_get_their_own_answers(link: HopLink, upstream: Upstream) -> None:
    link.rule(id="never", match={"path": "/never"}, action={"type": "abort"})
    errors: list[str] = []

    def client(k: int) -> None:
        with httpx.Client(base_url=link.url) as c:
            for i in range(20):
                got = c.post(f"/c{k}/{i}", json={"k": k}).json()["path"]
                if got != f"/c{k}/{i}":
                    errors.append(got)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(upstream.seen) == 120
