"""The cross-service invariants over planted evidence: each disagreement found, with both sides' records."""

from __future__ import annotations

import pytest

from tests.harness.invariants.conftest import Planted

pytestmark = pytest.mark.integration

T = "'2026-01-01 10:00:00+00'::timestamptz"


def test_refund_integrity(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, charged, state, outcome, succeeded) VALUES
            ('p1', 'o1', 100, 'REFUNDED', 'refunded', true), ('p2', 'o2', 100, 'REFUNDED', 'refunded', true),
            ('p3', 'o3', 100, 'SUCCEEDED', 'succeeded', true), ('p4', 'o4', 100, 'REFUNDED', 'refunded', true),
            ('p5', 'o5', 100, 'REFUNDED', 'refunded', true);
        INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, txn_id, at) VALUES
            ('d1', 'p1', 'o1', 'alice', 100, true, 'posted', 't1', {T}),
            ('d2', 'p2', 'o2', 'bob', 100, true, 'posted', 't2', {T}),
            ('d3', 'p3', 'o3', 'carol', 100, true, 'posted', 't3', {T}),
            ('d4', 'p4', 'o4', 'dave', 100, true, 'posted', 't4', {T}),
            ('d5', 'p5', 'o5', 'erin', 100, true, 'posted', 't5', {T});
        INSERT INTO refunds (key, debit_key, account, amount, posted, txn_id, at) VALUES
            ('r1', 'd1', 'alice', 100, true, 'u1', {T}),     -- right
            ('r2', 'd2', 'bob', 1, true, 'u2', {T}),         -- 1% of the debit, and the payment says REFUNDED
            ('r3a', 'd3', 'carol', 60, true, 'u3a', {T}), ('r3b', 'd3', 'carol', 60, true, 'u3b', {T}),  -- 120 of 100
            ('r4', 'd4', 'mallory', 100, true, 'u4', {T}),   -- to someone else
            ('r5', 'd5', 'erin', 100, true, 'u5', {T}),      -- says erin, the ledger paid the merchant
            ('r9', 'nothing', 'zed', 50, true, 'u9', {T});   -- refunds no debit
        INSERT INTO postings (txn_id, account, amount) VALUES
            ('u1', 'merchant', -100), ('u1', 'alice', 100), ('u2', 'merchant', -1), ('u2', 'bob', 1),
            ('u3a', 'merchant', -60), ('u3a', 'carol', 60), ('u3b', 'merchant', -60), ('u3b', 'carol', 60),
            ('u4', 'merchant', -100), ('u4', 'mallory', 100), ('u5', 'erin', -100), ('u5', 'merchant', 100);
    """)
    verdict = planted.check("refund_integrity")
    assert verdict.status == "violated"
    found = sorted((e["problem"], e["item"]) for e in verdict.examples)
    assert found == [
        ("refund of no posted debit", "r9"),
        ("refunded payment not given back in full", "d2"),
        ("refunded to another account", "r4"),
        ("refunds exceed the debit", "d3"),
        ("the ledger did not give the refund back to the debited account", "r4"),
        ("the ledger did not give the refund back to the debited account", "r5"),
    ]
    assert verdict.count == 6
    short = next(e for e in verdict.examples if e["item"] == "d2")
    assert (short["refunded"], short["debited"]) == (1, 100)
    assert [p["state"] for p in short["payments"]] == ["REFUNDED"]  # the story of its order
    assert (
        short["remedy"]
        == "refund the remaining 0.99 CNY to account bob (debit d2: 0.01 CNY of 1.00 CNY given back)"
    )
    assert verdict.checked == 7


def test_payments_match_ledger(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, charged, state, outcome, succeeded) VALUES
            ('ok', 'o1', 100, 'SUCCEEDED', 'succeeded', true),
            ('free', 'o2', 0, 'SUCCEEDED', 'succeeded', true),
            ('nodebit', 'o3', 100, 'SUCCEEDED', 'succeeded', true),
            ('failed-held', 'o4', 100, 'FAILED', 'failed', false),
            ('failed-given-back', 'o5', 100, 'FAILED', 'failed', false),
            ('refunded-held', 'o6', 100, 'REFUNDED', 'refunded', true),
            ('twice', 'o7', 100, 'SUCCEEDED', 'succeeded', true),
            ('stuck', 'o8', 100, 'UNKNOWN', 'pending', false),
            ('declined', 'o9', 100, 'FAILED', 'failed', false);
        INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, txn_id, at) VALUES
            ('d1', 'ok', 'o1', 'a', 100, true, 'posted', 't1', {T}),
            ('d4', 'failed-held', 'o4', 'a', 100, true, 'posted', 't4', {T}),
            ('d5', 'failed-given-back', 'o5', 'a', 100, true, 'posted', 't5', {T}),
            ('d6', 'refunded-held', 'o6', 'a', 100, true, 'posted', 't6', {T}),
            ('d7a', 'twice', 'o7', 'a', 50, true, 'posted', 't7a', {T}),
            ('d7b', 'twice', 'o7', 'a', 50, true, 'posted', 't7b', {T}),
            ('d9', 'declined', 'o9', 'a', 100, false, 'declined', 't9', {T});
        INSERT INTO refunds (key, debit_key, amount, posted) VALUES ('r5', 'd5', 100, true);
        INSERT INTO postings (txn_id, account, amount) VALUES
            ('t1', 'a', -100), ('t1', 'm', 100), ('t4', 'a', -100), ('t4', 'm', 100), ('t5', 'a', -100),
            ('t5', 'm', 100), ('t6', 'a', -100), ('t6', 'm', 100), ('t7a', 'a', -50), ('t7a', 'm', 50),
            ('t7b', 'a', -50), ('t7b', 'm', 50),
            ('t9', 'a', -100), ('t9', 'm', 100);  -- declined, yet money moved
    """)
    verdict = planted.check("payments_match_ledger")
    found = sorted((e["problem"], e["payment_id"]) for e in verdict.examples)
    assert found == [
        ("failed, but the ledger still holds money for it", "failed-held"),
        ("payment not final after the settle", "stuck"),
        ("refunded, but the ledger still holds money for it", "refunded-held"),
        ("succeeded, but the ledger holds another debit", "nodebit"),
        ("succeeded, but the ledger holds another debit", "twice"),
        ("the ledger moved other money than the debit says", "declined"),
    ]
    twice = next(e for e in verdict.examples if e["payment_id"] == "twice")
    assert (twice["debits_held"], twice["amount_held"]) == (2, 100)
    assert [d["key"] for d in twice["ledger"]] == ["d7a", "d7b"]


def test_orders_match_payments(planted: Planted) -> None:
    planted.sql("""
        INSERT INTO payments (payment_id, order_id, state, outcome, succeeded) VALUES
            ('p1', 'o1', 'SUCCEEDED', 'succeeded', true), ('p2', 'o2', 'FAILED', 'failed', false),
            ('p3', 'o3', 'SUCCEEDED', 'succeeded', true), ('p4', 'o4', 'REFUNDED', 'refunded', true),
            ('p5', 'o5', 'SUCCEEDED', 'succeeded', true), ('p6', 'o6', 'REFUNDED', 'refunded', true),
            ('p7a', 'o7', 'FAILED', 'failed', false), ('p7b', 'o7', 'SUCCEEDED', 'succeeded', true),
            ('p8', 'ghost', 'SUCCEEDED', 'succeeded', true);
        INSERT INTO orders (order_id, payment_id, state, outcome, terminal) VALUES
            ('o1', 'p1', 'PAID', 'paid', true),
            ('o2', 'p2', 'PAID', 'paid', true),          -- paid, its only payment failed
            ('o3', 'p3', 'FAILED', 'failed', true),      -- failed, the payment went through
            ('o4', 'p4', 'PAID', 'paid', true),          -- refunded upstream, the shop never heard
            ('o5', 'p5', 'REFUNDED', 'refunded', true),  -- refunded at the shop only
            ('o6', 'p6', 'REFUNDED', 'refunded', true),
            ('o7', 'p7a', 'PAID', 'paid', true),         -- paid through the payment that failed
            ('o9', NULL, 'FAILED', 'failed', true);      -- no payment at all: fine
    """)
    verdict = planted.check("orders_match_payments")
    found = sorted((e["problem"], e["order_id"]) for e in verdict.examples)
    assert found == [
        ("failed at the shop, a payment of it went through", "o3"),
        ("paid at the shop by a payment that did not succeed", "o7"),
        ("paid at the shop, no payment of it succeeded", "o2"),
        ("paid at the shop, refunded at the payment service", "o4"),
        ("refunded at the shop, no payment of it was refunded", "o5"),
        ("succeeded at the payment service, the shop has no such order", "ghost"),
    ]
    o7 = next(e for e in verdict.examples if e["order_id"] == "o7")
    assert [p["payment_id"] for p in o7["payments"]] == ["p7a", "p7b"]


def test_payouts_match_ledger(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payout_requests (instruction, amount, state, outcome) VALUES
            ('i1', 10, 'PAID', 'paid'), ('i2', 10, 'PAID', 'paid'), ('i3', 10, 'FAILED', 'failed'),
            ('i4', 10, 'PAID', 'paid'), ('i5', 10, 'UNKNOWN', 'pending'), ('i6', 10, 'PAID', 'paid'),
            ('i7', 10, 'FAILED', 'failed');
        INSERT INTO payouts (instruction, channel, key, account, amount, posted, status, txn_id, at) VALUES
            ('i1', 'a', 'i1', 'm', 10, true, 'posted', 't1', {T}),
            ('i3', 'a', 'i3', 'm', 10, true, 'posted', 't3', {T}),       -- failed, yet paid
            ('i4', 'a', 'i4', 'm', 10, true, 'posted', 't4a', {T}),
            ('i4', 'b', 'i4', 'm', 10, true, 'posted', 't4b', {T}),      -- paid twice
            ('i6', 'a', 'i6', 'm', 7, true, 'posted', 't6', {T}),        -- another amount
            ('i7', 'a', 'i7', NULL, 0, false, 'voided', 't7', {T}),      -- cancelled: fine
            ('i9', 'a', 'i9', 'm', 10, true, 'posted', 't9', {T});       -- nobody asked for it
        INSERT INTO postings (txn_id, account, amount) VALUES
            ('t1', 'm', -10), ('t3', 'm', -10), ('t4a', 'm', -10), ('t4b', 'm', -10), ('t6', 'm', -7),
            ('t9', 'm', -10);
    """)
    verdict = planted.check("payouts_match_ledger")
    found = sorted((e["problem"], e["instruction"]) for e in verdict.examples)
    assert found == [
        ("marked failed, but the ledger paid it", "i3"),
        ("marked paid, but the ledger paid it 0 time(s)", "i2"),
        ("marked paid, but the ledger paid it 1 time(s)", "i6"),
        ("marked paid, but the ledger paid it 2 time(s)", "i4"),
        ("paid out with no payout request", "i9"),
        ("payout not final after the settle", "i5"),
    ]
    twice = next(e for e in verdict.examples if e["instruction"] == "i4")
    assert [leg["channel"] for leg in twice["payouts"]] == ["a", "b"]


def test_fulfilled_once(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, outcome, succeeded) VALUES
            ('p1', 'o1', 'succeeded', true), ('p2', 'o2', 'succeeded', true), ('p3', 'o3', 'succeeded', true),
            ('p4', 'o4', 'failed', false), ('p5', 'o5', 'refunded', true), ('p6', 'o6', 'refunded', true);
        INSERT INTO fulfilments (order_id, at) VALUES
            ('o1', {T}), ('o3', {T}), ('o3', {T} + interval '1s'), ('o4', {T}), ('o5', {T}), ('o9', {T});
    """)
    verdict = planted.check("fulfilled_once")
    found = sorted((e["problem"], e["order_id"]) for e in verdict.examples)
    assert found == [
        ("fulfilled more than once", "o3"),
        ("fulfilled, but no payment of it went through", "o4"),
        ("fulfilled, but no payment of it went through", "o9"),
        ("paid, never fulfilled", "o2"),
    ]  # o5: refunded after shipping once; o6: refunded before anything shipped


def test_webhook_authenticity(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, outcome, succeeded) VALUES
            ('p1', 'o1', 'succeeded', true), ('p2', 'o2', 'failed', false), ('p3', 'o3', 'failed', false),
            ('p4', 'o4', 'failed', false), ('p5', 'o5', 'refunded', true);
        INSERT INTO orders (order_id, payment_id, state, outcome) VALUES
            ('o1', 'p1', 'PAID', 'paid'), ('o2', 'p2', 'FAILED', 'failed'), ('o3', 'forged-id', 'PAID', 'paid'),
            ('o4', 'p4', 'FAILED', 'failed'), ('o5', 'p5', 'REFUNDED', 'refunded');
        INSERT INTO notifications (event_id, order_id, payment_id, outcome, first) VALUES
            ('e1', 'o1', 'p1', 'succeeded', true), ('e2', 'o2', 'p2', 'failed', true),
            ('e3', 'o3', 'forged-id', 'succeeded', true),   -- a payment nobody made
            ('e4', 'o4', 'p4', 'succeeded', true),          -- a true payment, a false claim
            ('e5', 'o2', 'p1', 'succeeded', true),          -- another order's payment
            ('e6', 'o5', 'p5', 'succeeded', true), ('e7', 'o5', 'p5', 'refunded', true);
        INSERT INTO fulfilments (order_id, at) VALUES ('o1', {T}), ('o3', {T}), ('o4', {T});
        INSERT INTO history (id, kind, order_id, payment_id, outcome, status, started, forged) VALUES
            ('f2', 'forged_notification', 'o2', 'x2', 'failed', 401, {T}, true),
            ('f3', 'forged_notification', 'o3', 'forged-id', 'ok', 200, {T}, true),
            ('f4', 'forged_notification', 'o4', 'x4', 'failed', 401, {T}, true);
    """)
    verdict = planted.check("webhook_authenticity")
    found = sorted((e["problem"], e["order_id"]) for e in verdict.examples)
    assert found == [
        ("a forged notification changed the order", "o3"),
        ("a forged notification changed the order", "o4"),
        ("accepted a notification about a payment that does not exist", "o3"),
        ("accepted a notification naming another order than its payment", "o2"),
        ("accepted a notification that contradicts its payment", "o4"),
    ]
    forged = next(
        e for e in verdict.examples if e["problem"].startswith("a forged") and e["order_id"] == "o3"
    )
    assert forged["client_operations"][0]["forged"] is True
    assert verdict.checked == 3


def test_a_payment_failed_although_debited_before_its_deadline(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, charged, state, outcome, succeeded, expires_at) VALUES
            ('in-time', 'o1', 100, 'FAILED', 'failed', false, {T} + interval '5 min'),
            ('too-late', 'o2', 100, 'FAILED', 'failed', false, {T} + interval '5 min');
        INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, at) VALUES
            ('d1', 'in-time', 'o1', 'a', 100, true, 'posted', {T} + interval '3 s'),
            ('d2', 'too-late', 'o2', 'a', 100, true, 'posted', {T} + interval '6 min');
        INSERT INTO refunds (key, debit_key, amount, posted) VALUES ('r1', 'd1', 100, true), ('r2', 'd2', 100, true);
    """)
    verdict = planted.check("payments_match_ledger")
    assert [(e["problem"], e["payment_id"]) for e in verdict.examples] == [
        ("failed, though the bank took the money before its deadline", "in-time")]  # fmt: skip


def test_clients_told_the_truth(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, outcome, succeeded) VALUES
            ('p1', 'o1', 'succeeded', true), ('p2', 'o2', 'failed', false), ('p3', 'o3', 'succeeded', true),
            ('p4', 'o4', 'refunded', true), ('p5a', 'o5', 'failed', false), ('p5b', 'o5', 'succeeded', true);
        INSERT INTO history (id, kind, order_id, payment_id, outcome, started, ended, told) VALUES
            ('a', 'pay', 'o1', 'p1', 'ok', {T}, {T}, 'succeeded'),
            ('b', 'pay', 'o2', 'p2', 'ok', {T}, {T}, 'succeeded'),      -- told paid, declined
            ('c', 'pay', 'o3', NULL, 'ok', {T}, {T}, 'failed'),         -- told failed, then charged
            ('d', 'pay', 'o4', 'p4', 'ok', {T}, {T}, 'succeeded'),      -- paid, refunded later: true then
            ('e', 'pay', 'o5', 'p5a', 'ok', {T}, {T}, 'succeeded'),     -- the order went through, that payment not
            ('f', 'pay', 'o6', NULL, 'ok', {T}, {T}, 'failed'),         -- nothing went through: true
            ('g', 'pay', 'o7', NULL, 'timeout', {T}, {T}, NULL);
    """)
    verdict = planted.check("clients_told_the_truth")
    found = sorted((e["problem"], e["order_id"]) for e in verdict.examples)
    assert found == [
        ("told a payment succeeded that failed", "o5"),
        ("told it failed; a payment of the order went through", "o3"),
        ("told it succeeded; no payment of the order went through", "o2"),
    ]
    assert verdict.checked == 6


def test_notifications_settled(planted: Planted) -> None:
    planted.sql("""
        INSERT INTO deliveries (event_id, order_id, acknowledged, attempts, last_error) VALUES
            ('e1', 'o1', true, 1, NULL), ('e2', 'o2', false, 37, 'status 409'), ('e3', 'o3', true, 1, NULL);
        INSERT INTO notifications (event_id, order_id, payment_id, outcome, first) VALUES
            ('e1', 'o1', 'p1', 'succeeded', true), ('e2', 'o2', 'p2', 'succeeded', true);
    """)
    verdict = planted.check("notifications_settled")
    found = sorted((e["problem"], e["event_id"]) for e in verdict.examples)
    assert found == [
        ("acknowledged, but the receiver has no record of it", "e3"),
        ("never acknowledged", "e2"),
    ]
    stuck = next(e for e in verdict.examples if e["event_id"] == "e2")
    assert (stuck["attempts"], stuck["last_error"]) == (37, "status 409")
    assert [n["event_id"] for n in stuck["notifications_received"]] == ["e2"]
    assert [n["attempts"] for n in stuck["notifications_sent"]] == [37]


def test_conservation_follows_each_accounts_running_balance(planted: Planted) -> None:
    planted.sql("""
        INSERT INTO accounts (id, balance) VALUES ('a', 70), ('b', -70), ('c', 30);
        INSERT INTO postings (txn_id, account, amount, balance_after, seq) VALUES
            ('t1', 'a', 100, 100, 1), ('t1', 'b', -100, -100, 2),
            ('t2', 'a', -30, 100, 3), ('t2', 'b', 30, -70, 4),      -- a's balance_after is the one before
            ('t3', 'c', 30, 30, NULL);                                -- no order known: not judged
        INSERT INTO postings (txn_id, account, amount, balance_after, seq) VALUES ('t3', 'a', -30, 40, 5);
        UPDATE accounts SET balance = 40 WHERE id = 'a';
    """)
    verdict = planted.check("conservation")
    found = sorted((e["problem"], e["item"], e["off_by"]) for e in verdict.examples)
    assert found == [
        ("balance_after does not follow from the posting before", "a t2", 30),
        ("balance_after does not follow from the posting before", "a t3", -30),
    ]


def test_a_keyed_request_sent_to_be_refused_must_be_refused(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO history (id, kind, order_id, key, outcome, status, started, refusal_expected) VALUES
            ('a', 'payout_conflict', NULL, 'payout:1', 'failed', 409, {T}, true),
            ('b', 'payout_conflict', NULL, 'payout:2', 'ok', 200, {T}, true),
            ('c', 'forged_notification', 'o3', NULL, 'ok', 200, {T}, true);  -- no key: the webhook's business
    """)
    verdict = planted.check("idempotent_replay")
    assert [(e["problem"], e["key"]) for e in verdict.examples] == [("reused key accepted", "payout:2")]


def test_eventual_refund_wants_the_refund_in_full(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, state, outcome, succeeded) VALUES ('p', 'o', 'FAILED', 'failed', false);
        INSERT INTO debits (key, payment_id, order_id, amount, posted, at) VALUES ('d', 'p', 'o', 100, true, {T});
        INSERT INTO refunds (key, debit_key, amount, posted) VALUES ('r', 'd', 99, true);
    """)
    verdict = planted.check("eventual_refund")
    assert [(e["debit_key"], e["refunded"]) for e in verdict.examples] == [("d", 99)]


def test_the_correct_stack_leaves_nothing_to_report(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, charged, state, outcome, succeeded) VALUES
            ('p1', 'o1', 100, 'SUCCEEDED', 'succeeded', true), ('p2', 'o2', 100, 'REFUNDED', 'refunded', true),
            ('p3', 'o3', 100, 'FAILED', 'failed', false);
        INSERT INTO orders (order_id, payment_id, state, outcome) VALUES
            ('o1', 'p1', 'PAID', 'paid'), ('o2', 'p2', 'REFUNDED', 'refunded'), ('o3', 'p3', 'FAILED', 'failed');
        INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, txn_id, at) VALUES
            ('d1', 'p1', 'o1', 'a', 100, true, 'posted', 't1', {T}), ('d2', 'p2', 'o2', 'a', 100, true, 'posted', 't2', {T}),
            ('d3', 'p3', 'o3', NULL, 0, false, 'voided', 't3', {T});
        INSERT INTO refunds (key, debit_key, account, amount, posted, txn_id) VALUES ('r2', 'd2', 'a', 100, true, 'u2');
        INSERT INTO postings (txn_id, account, amount) VALUES
            ('t1', 'a', -100), ('t1', 'm', 100), ('t2', 'a', -100), ('t2', 'm', 100), ('u2', 'm', -100), ('u2', 'a', 100);
        INSERT INTO notifications (event_id, order_id, payment_id, outcome, first) VALUES
            ('e1', 'o1', 'p1', 'succeeded', true), ('e1', 'o1', 'p1', 'succeeded', false),
            ('e2', 'o2', 'p2', 'succeeded', true), ('e3', 'o2', 'p2', 'refunded', true), ('e4', 'o3', 'p3', 'failed', true);
        INSERT INTO fulfilments (order_id, at) VALUES ('o1', {T}), ('o2', {T});
        INSERT INTO history (id, kind, order_id, payment_id, outcome, status, started, forged) VALUES
            ('f', 'forged_notification', 'o3', 'x', 'failed', 401, {T}, true);
    """)
    for name in ("refund_integrity", "payments_match_ledger", "orders_match_payments", "fulfilled_once",
                 "webhook_authenticity", "eventual_refund", "exactly_once_debit"):  # fmt: skip
        verdict = planted.check(name)
        assert (name, verdict.status, verdict.examples) == (name, "holds", [])
