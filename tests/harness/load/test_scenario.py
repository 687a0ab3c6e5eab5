"""The scenario context: what one request puts in the history, with no socket in sight."""

from __future__ import annotations

from typing import Any

from paychaos.load import Context, Reply


def _context(reply: Reply, sent: list[tuple[Any, ...]], recorded: list[dict[str, Any]]) -> Context:
    def transport(kind: str, method: str, path: str, json: Any, headers: Any, data: Any = None) -> Reply:
        sent.append((kind, method, path, json, headers, data))
        return reply

    def outcome_of(body: Any) -> str | None:
        return {"PAID": "succeeded", "FAILED": "failed"}.get(body.get("order_state"))

    return Context(seed=1, process=0, user=1, transport=transport, record=recorded.append,
                   payment_of=lambda body: (body.get("id"), body.get("state")), outcome_of=outcome_of)  # fmt: skip


def test_what_the_client_was_told_is_recorded_in_paychaos_words() -> None:
    sent: list[tuple[Any, ...]] = []
    recorded: list[dict[str, Any]] = []
    ctx = _context(
        Reply("ok", 200, {"id": "p1", "state": "SUCCEEDED", "order_state": "FAILED"}), sent, recorded
    )
    ctx.request("pay", "POST", "/checkout", json={"a": 1}, order_id="o1", key="order:o1", amount=5)
    (op,) = recorded
    assert (op["payment_id"], op["payment_state"], op["told"]) == ("p1", "SUCCEEDED", "failed")
    assert "forged" not in op
    assert "refusal_expected" not in op


def test_forged_and_refusal_expected_requests_are_marked_and_their_bytes_sent_as_given() -> None:
    sent: list[tuple[Any, ...]] = []
    recorded: list[dict[str, Any]] = []
    ctx = _context(Reply("failed", 401, {"error": "bad signature"}), sent, recorded)
    body = b'{"type":"payment.succeeded"}'
    ctx.request("forged_notification", "POST", "/webhooks", data=body, headers={"X": "1"}, order_id="o2",
                payment_id="made-up", expect=(401,), forged=True)  # fmt: skip
    assert sent == [("forged_notification", "POST", "/webhooks", None, {"X": "1"}, body)]
    (op,) = recorded
    assert (op["forged"], op["refusal_expected"], op["expected"]) == (True, True, True)
    assert op["payment_id"] == "made-up"  # the claim, since the answer names no payment
    assert "told" not in op


def test_an_open_loop_iteration_records_when_it_was_due_on_its_first_operation_only() -> None:
    recorded: list[dict[str, Any]] = []
    ctx = _context(Reply("ok", 200, {"id": "p1", "state": "OK"}), [], recorded)
    ctx.begin(intended=1000.0)
    ctx.request("pay", "POST", "/checkout")
    ctx.request("refund", "POST", "/refund")  # the same iteration: its intended start is its start
    ctx.begin()  # a closed loop's iteration: nothing was due
    ctx.request("pay", "POST", "/checkout")
    first, second, third = recorded
    assert first["intended"] == 1000.0
    assert list(first).index("intended") == list(first).index("start") - 1  # beside start and end
    assert "intended" not in second
    assert "intended" not in third
