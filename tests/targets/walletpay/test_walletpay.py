"""walletpay's API and worker as processes against a real PostgreSQL: the money path, idempotency,
the evidence endpoints, and each defect switch shown directly (each defect test fails if the bug
is not there, and its correct twin fails if it is)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from paychaos.system import Address
from tests.support.netfault import FaultyLink
from tests.support.wait import wait_until
from tests.targets.walletpay.conftest import TOKEN, Walletpay

pytestmark = pytest.mark.integration


@pytest.fixture
def link() -> Iterator[FaultyLink]:
    faulty = FaultyLink()
    try:
        yield faulty
    finally:
        faulty.close()


def test_a_charge_is_captured_then_refunded_and_the_books_balance(walletpay: Walletpay) -> None:
    walletpay.start_api()
    walletpay.start_worker()
    answer = walletpay.charge("cust-1", 1250, "order-1")
    assert answer.status_code == 202
    charge = answer.json()["charge"]
    assert charge["status"] == "queued"

    assert walletpay.wait_final(charge["id"]) == "captured"
    balances = {r["id"]: r["balance"] for r in walletpay.query("SELECT id, balance FROM accounts")}
    assert balances["wallet:cust-1"] == 200_000 - 1250
    assert balances["merchant"] == 1250
    assert walletpay.scalar("SELECT count(*) FROM fulfilments WHERE charge_id = $1", charge["id"]) == 1

    refund = httpx.post(f"{walletpay.api}/v1/charges/{charge['id']}/refunds", timeout=10)
    again = httpx.post(f"{walletpay.api}/v1/charges/{charge['id']}/refunds", timeout=10)
    assert refund.status_code == again.status_code == 200
    assert refund.json()["refund"] == again.json()["refund"]  # one refund per charge
    assert walletpay.status(charge["id"]) == "refunded"
    assert walletpay.scalar("SELECT balance FROM accounts WHERE id = 'wallet:cust-1'") == 200_000
    assert walletpay.scalar("SELECT balance FROM accounts WHERE id = 'merchant'") == 0
    walletpay.books_balance()


def test_an_empty_wallet_is_declined_and_cannot_be_refunded(walletpay: Walletpay) -> None:
    walletpay.start_api()
    walletpay.start_worker()
    charge = walletpay.charge("empty-7", 500, "order-2").json()["charge"]
    assert walletpay.wait_final(charge["id"]) == "declined"
    assert [c["status"] for c in walletpay.captures(charge["id"])] == ["declined"]
    assert httpx.post(f"{walletpay.api}/v1/charges/{charge['id']}/refunds", timeout=10).status_code == 422
    assert walletpay.scalar("SELECT count(*) FROM fulfilments") == 0
    walletpay.books_balance()


def test_a_refund_before_the_capture_is_refused_with_409(walletpay: Walletpay) -> None:
    walletpay.start_api()  # no worker: the charge stays queued
    charge = walletpay.charge("cust-2", 300, "order-3").json()["charge"]
    answer = httpx.post(f"{walletpay.api}/v1/charges/{charge['id']}/refunds", timeout=10)
    assert answer.status_code == 409
    assert answer.json()["charge"]["status"] == "queued"


def test_idempotency_key_and_reference(walletpay: Walletpay) -> None:
    walletpay.start_api()
    first = walletpay.charge("cust-3", 700, "order-4", key="k-1")
    replay = walletpay.charge("cust-3", 700, "order-4", key="k-1")
    assert first.status_code == replay.status_code == 202
    assert first.json()["charge"]["id"] == replay.json()["charge"]["id"]
    assert walletpay.charge("cust-3", 701, "order-4", key="k-1").status_code == 409  # another body
    assert walletpay.charge("cust-3", 700, "order-4", key="k-2").status_code == 409  # another key
    assert walletpay.scalar("SELECT count(*) FROM charges") == 1
    no_key = httpx.post(f"{walletpay.api}/v1/charges", json={"customer": "c", "amount_cents": 1}, timeout=10)
    assert no_key.status_code == 400


def test_the_result_endpoint_wants_the_token_and_a_real_capture(walletpay: Walletpay) -> None:
    walletpay.start_api()
    charge = walletpay.charge("cust-4", 900, "order-5").json()["charge"]
    url = f"{walletpay.api}/internal/charges/{charge['id']}/result"
    body = {"event_id": f"result:{charge['id']}", "outcome": "captured", "txn_id": 1}
    assert httpx.post(url, json=body, timeout=10).status_code == 401
    forged = httpx.post(url, json=body, headers={"X-Walletpay-Token": TOKEN}, timeout=10)
    assert forged.status_code == 422  # txn 1 is the wallet's top-up, not a capture of this charge
    assert walletpay.status(charge["id"]) == "queued"


def test_a_long_poll_answers_once_the_charge_is_final(walletpay: Walletpay) -> None:
    walletpay.start_api()
    walletpay.start_worker()
    charge = walletpay.charge("cust-5", 100, "order-6").json()["charge"]
    answer = httpx.get(f"{walletpay.api}/v1/charges/{charge['id']}?wait=10", timeout=15)
    assert answer.json()["charge"]["status"] == "captured"


def test_evidence_endpoints_answer_json_lines_with_one_set_of_keys(walletpay: Walletpay) -> None:
    walletpay.start_api()
    walletpay.start_worker()
    ids = [
        walletpay.charge(c, 400, f"order-e{i}").json()["charge"]["id"]
        for i, c in enumerate(["cust-6", "empty-1"])
    ]
    for charge_id in ids:
        walletpay.wait_final(charge_id)
    expected = {
        "orders": [
            "order_id",
            "account",
            "amount",
            "payment_id",
            "state",
            "outcome",
            "terminal",
            "created_at",
            "updated_at",
        ],
        "notifications": ["event_id", "order_id", "payment_id", "outcome", "first", "received_at"],
        "fulfilments": ["order_id", "at"],
    }
    for table, keys in expected.items():
        answer = httpx.get(f"{walletpay.api}/evidence/{table}", timeout=10)
        assert answer.status_code == 200
        rows = [json.loads(line) for line in answer.text.splitlines()]
        assert rows, table
        assert all(list(row) == keys for row in rows), table
    orders = {
        r["order_id"]: r
        for r in (json.loads(x) for x in httpx.get(f"{walletpay.api}/evidence/orders").text.splitlines())
    }
    assert (orders["order-e0"]["outcome"], orders["order-e1"]["outcome"]) == ("paid", "failed")


# --- the defects, each next to the correct behaviour ------------------------------------------


@pytest.mark.parametrize("defects", [(), ("double-capture",)], ids=["correct", "double-capture"])
def test_a_report_that_times_out_is_sent_again_not_captured_again(
    walletpay: Walletpay, link: FaultyLink, defects: tuple[str, ...]
) -> None:
    """The API takes the report, its answer comes too late for the worker (the classic "timed out
    but done"). A correct worker sends the report again; with double-capture it captures again."""
    walletpay.start_api()
    proxy = link.start(Address("127.0.0.1", walletpay.api_port))
    link.set("delay", 1.0)
    walletpay.start_worker(*defects, api=f"http://{proxy}", report_timeout="0.3")
    charge = walletpay.charge("cust-10", 1000, "order-10").json()["charge"]

    wait_until(
        lambda: (
            (walletpay.scalar("SELECT attempts FROM worker_outbox WHERE charge_id = $1", charge["id"]) or 0)
            >= 3
        ),
        timeout=20,
        what="the worker to retry its report three times",
    )
    assert walletpay.status(charge["id"]) == "captured"  # the first report landed
    link.heal()
    wait_until(
        lambda: walletpay.scalar("SELECT acknowledged FROM worker_outbox WHERE charge_id = $1", charge["id"]),
        timeout=20,
        what="the report acknowledged",
    )
    posted = [c for c in walletpay.captures(charge["id"]) if c["status"] == "posted"]
    debited = 200_000 - walletpay.scalar("SELECT balance FROM accounts WHERE id = 'wallet:cust-10'")
    if defects:
        assert len(posted) >= 2, "double-capture should have captured the charge again"
        assert debited == 1000 * len(posted)
    else:
        assert [c["key"] for c in posted] == [f"capture:{charge['id']}"]
        assert debited == 1000
    walletpay.books_balance()


@pytest.mark.parametrize("defects", [(), ("lost-claim",)], ids=["correct", "lost-claim"])
def test_charges_a_dead_worker_held_are_claimed_again(
    walletpay: Walletpay, link: FaultyLink, defects: tuple[str, ...]
) -> None:
    """Worker A (one charge at a time, prefetching one more) captures c1 but cannot report it (its
    link to the API swallows everything) and holds c2, claimed, waiting for its turn; then A is
    killed. Worker B must take both over once their leases run out: c1's capture is found, not
    made again; c2 is captured. With lost-claim, nothing ever takes c2 back."""
    walletpay.start_api()
    proxy = link.start(Address("127.0.0.1", walletpay.api_port))
    link.set("blackhole")
    a = walletpay.start_worker(*defects, api=f"http://{proxy}", concurrency="1", lease="1")
    c1 = walletpay.charge("cust-20", 500, "order-20").json()["charge"]["id"]
    wait_until(lambda: walletpay.captures(c1), timeout=20, what="c1 captured by worker A")
    c2 = walletpay.charge("cust-21", 600, "order-21").json()["charge"]["id"]
    wait_until(lambda: walletpay.status(c2) == "processing", timeout=20, what="c2 claimed by worker A")
    assert walletpay.captures(c2) == []
    os.killpg(a.pid, signal.SIGKILL)
    a.wait()

    walletpay.start_worker(*defects, lease="1")  # worker B, straight to the API
    if not defects:
        assert walletpay.wait_final(c1) == walletpay.wait_final(c2) == "captured"
        assert [c["key"] for c in walletpay.captures(c1)] == [f"capture:{c1}"]  # found, not made again
        assert len(walletpay.captures(c2)) == 1
        assert walletpay.scalar("SELECT attempts FROM charges WHERE id = $1", c2) == 2
    else:
        wait_until(
            lambda: walletpay.scalar("SELECT lease_until < now() FROM charges WHERE id = $1", c2),
            timeout=10,
            what="c2's lease to run out",
        )
        c3 = walletpay.charge("cust-22", 700, "order-22").json()["charge"]["id"]
        assert walletpay.wait_final(c3) == "captured"  # B claims in order of arrival: c2 came first
        assert walletpay.status(c2) == "processing", "lost-claim should leave c2 with the dead worker"
        assert walletpay.captures(c2) == []
    walletpay.books_balance()


@pytest.mark.parametrize("defects", [(), ("fulfil-every-report",)], ids=["correct", "fulfil-every-report"])
def test_a_report_received_twice_fulfils_the_order_once(
    walletpay: Walletpay, defects: tuple[str, ...]
) -> None:
    walletpay.start_api(*defects)
    walletpay.start_worker()
    charge_id = walletpay.charge("cust-30", 800, "order-30").json()["charge"]["id"]
    assert walletpay.wait_final(charge_id) == "captured"
    wait_until(
        lambda: walletpay.scalar("SELECT acknowledged FROM worker_outbox WHERE charge_id = $1", charge_id),
        timeout=10,
        what="the report acknowledged",
    )
    report = walletpay.query(
        "SELECT event_id, outcome, txn_id FROM worker_outbox WHERE charge_id = $1", charge_id
    )[0]
    again = httpx.post(  # what the worker sends again when the API's answer is lost
        f"{walletpay.api}/internal/charges/{charge_id}/result",
        json=report,
        headers={"X-Walletpay-Token": TOKEN},
        timeout=10,
    )
    assert again.status_code == 200
    assert again.json()["first"] is False
    fulfilments = walletpay.scalar("SELECT count(*) FROM fulfilments WHERE charge_id = $1", charge_id)
    assert fulfilments == (2 if defects else 1)
