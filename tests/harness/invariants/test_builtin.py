"""Each built-in invariant over planted evidence: what holds, what is violated, and the evidence it shows."""

from __future__ import annotations

import pytest

from tests.harness.invariants.conftest import Planted

pytestmark = pytest.mark.integration

T = "'2026-01-01 10:00:00+00'::timestamptz"


def test_exactly_once_debit(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, charged, succeeded) VALUES
            ('p1', 'o1', 100, true), ('p2a', 'o2', 100, true), ('p2b', 'o2', 100, true),
            ('p3', 'o3', 100, true), ('p4', 'o4', 100, true), ('p5', 'o5', 0, true), ('p6', 'o6', 100, false);
        INSERT INTO debits (key, payment_id, order_id, amount, posted, at) VALUES
            ('pay:p1', 'p1', 'o1', 100, true, {T}),
            ('pay:p2a', 'p2a', 'o2', 100, true, {T}), ('pay:p2b', 'p2b', 'o2', 100, true, {T} + interval '1s'),
            ('pay:p3', 'p3', 'o3', 100, true, {T}), ('pay:p3x', 'p3', 'o3', 100, true, {T}),
            ('pay:p6', 'p6', 'o6', 100, false, {T});
        INSERT INTO refunds (key, debit_key, order_id, amount, posted) VALUES ('r', 'pay:p3x', 'o3', 100, true);
        INSERT INTO history (id, kind, order_id, outcome, started, payment_id, payment_state) VALUES
            ('op1', 'pay', 'o2', 'timeout', {T}, NULL, NULL), ('op2', 'pay_retry', 'o2', 'ok', {T}, 'p2b', 'SUCCEEDED');
    """)
    verdict = planted.check("exactly_once_debit")
    assert verdict.status == "violated"
    assert [(e["problem"], e["order_id"]) for e in verdict.examples] == [
        ("more than one net debit", "o2"),  # o3's second debit was refunded; o5 charged nothing
        ("succeeded without a debit", "o4"),
    ]
    double = verdict.examples[0]
    assert double["net_debits"] == 2
    assert [d["key"] for d in double["ledger"]] == ["pay:p2a", "pay:p2b"]
    assert [op["outcome"] for op in double["client_operations"]] == ["timeout", "ok"]
    assert verdict.checked == 5


def test_eventual_refund_resolves_unknowns_against_the_ledger(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, state, succeeded) VALUES
            ('ok', 'o1', 'SUCCEEDED', true), ('failed', 'o2', 'FAILED', false),
            ('refunded', 'o3', 'FAILED', false), ('unknown', 'o4', 'UNKNOWN', false);
        INSERT INTO debits (key, payment_id, order_id, amount, posted, at) VALUES
            ('d1', 'ok', 'o1', 5, true, {T}), ('d2', 'failed', 'o2', 5, true, {T}), ('d3', 'refunded', 'o3', 5, true, {T}),
            ('d4', 'unknown', 'o4', 5, true, {T}), ('d5', 'nobody', 'o5', 5, true, {T}), ('d6', 'failed', 'o2', 5, false, {T});
        INSERT INTO refunds (key, debit_key, amount, posted) VALUES ('r3', 'd3', 5, true);
        INSERT INTO history (id, kind, order_id, outcome, started) VALUES ('op', 'pay', 'o4', 'timeout', {T});
    """)
    verdict = planted.check("eventual_refund", within="30s")
    assert verdict.status == "violated"
    assert [(e["debit_key"], e["payment_state"]) for e in verdict.examples] == [
        ("d2", "FAILED"), ("d4", "UNKNOWN"), ("d5", "no such payment")]  # fmt: skip
    assert verdict.examples[1]["client_operations"][0]["outcome"] == "timeout"


def test_merchant_notified_and_duplicates_change_nothing(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payments (payment_id, order_id, succeeded) VALUES ('p1', 'o1', true), ('p2', 'o2', true), ('p3', 'o3', false);
        INSERT INTO notifications (order_id, payment_id, outcome, first) VALUES
            ('o1', 'p1', 'succeeded', true), ('o1', 'p1', 'succeeded', false), ('o3', 'p3', 'failed', true);
        INSERT INTO fulfilments (order_id, at) VALUES ('o1', {T}), ('o9', {T}), ('o9', {T} + interval '2s');
    """)
    verdict = planted.check("merchant_notified")
    assert [(e["problem"], e["order_id"]) for e in verdict.examples] == [
        ("fulfilled more than once", "o9"), ("succeeded, merchant never told", "o2")]  # fmt: skip
    assert verdict.examples[0]["times_fulfilled"] == 2
    assert len(verdict.examples[0]["fulfilments"]) == 2  # the story of the order


def test_no_stuck_orders_finds_unfinished_and_vanished_orders(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO orders (order_id, state, terminal) VALUES ('o1', 'PAID', true), ('o2', 'PAYING', false);
        INSERT INTO history (id, kind, order_id, outcome, started) VALUES
            ('a', 'pay', 'o1', 'ok', {T}), ('b', 'pay', 'o3', 'ok', {T}), ('c', 'pay', 'o4', 'failed', {T}),
            ('d', 'pay', 'o5', 'timeout', {T}), ('e', 'payout', NULL, 'ok', {T});
    """)
    verdict = planted.check("no_stuck_orders")
    assert [(e["problem"], e["order_id"]) for e in verdict.examples] == [
        ("accepted, then vanished", "o3"), ("not final", "o2")]  # fmt: skip


def test_no_double_payout(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payouts (instruction, channel, key, amount, posted, at) VALUES
            ('i1', 'channel-a', 'i1', 10, true, {T}), ('i2', 'channel-a', 'i2', 10, true, {T}),
            ('i2', 'channel-b', 'i2', 10, true, {T} + interval '1s'), ('i3', 'channel-a', 'i3', 10, true, {T}),
            ('i3', 'channel-b', 'i3', 10, false, {T});
    """)
    verdict = planted.check("no_double_payout")
    assert [(e["instruction"], e["times_paid"], e["paid"]) for e in verdict.examples] == [("i2", 2, 20)]
    assert [leg["channel"] for leg in verdict.examples[0]["payouts"]] == ["channel-a", "channel-b"]
    assert (
        verdict.examples[0]["remedy"]
        == "reverse the second payout of instruction i2, on channel channel-b (0.10 CNY)"
    )


def test_conservation(planted: Planted) -> None:
    planted.sql("""
        INSERT INTO accounts (id, balance) VALUES ('a', -100), ('b', 100), ('c', 7);
        INSERT INTO postings (txn_id, account, amount) VALUES ('t1', 'a', -100), ('t1', 'b', 100), ('t2', 'c', 5);
    """)
    verdict = planted.check("conservation")
    assert [(e["problem"], e["item"], e["off_by"]) for e in verdict.examples] == [
        ("balance differs from its postings", "c", 2), ("postings do not balance", "t2", 5)]  # fmt: skip


def test_credit_limit_looks_at_every_posting_not_only_the_balance(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO credit_lines (account, credit_limit) VALUES ('c1', 1000), ('c2', 1000);
        INSERT INTO postings (txn_id, account, amount, balance_after, at) VALUES
            ('t1', 'c1', -900, -900, {T}), ('t2', 'c2', -1500, -1500, {T}), ('t3', 'c2', 1200, -300, {T});
    """)
    verdict = planted.check("credit_limit")
    assert [(e["account"], e["lowest_balance"]) for e in verdict.examples] == [
        ("c2", -1500)
    ]  # back within it now


def test_amount_integrity(planted: Planted) -> None:
    planted.sql("""
        INSERT INTO payments (payment_id, order_id, amount, discount, charged, cap_percent, cap_amount) VALUES
            ('ok', 'o1', 20000, 2000, 18000, 10, 5000), ('promo', 'o2', 20000, 4000, 16000, 10, 5000),
            ('maths', 'o3', 1000, 0, 900, 10, 5000), ('debit', 'o4', 1000, 0, 1000, 10, 5000);
        INSERT INTO debits (key, payment_id, amount, posted) VALUES ('d', 'debit', 1100, true), ('e', 'ok', 18000, true);
    """)
    verdict = planted.check("amount_integrity")
    assert [(e["problem"], e["payment_id"]) for e in verdict.examples] == [
        ("charged is not the amount less the discount", "maths"), ("debited another amount", "debit"),
        ("discount beyond the caps", "promo")]  # fmt: skip
    promo = verdict.examples[2]
    assert (promo["allowed_discount"], promo["at_stake"]) == (2000, 2000)
    assert promo["remedy"].startswith("collect the 20.00 CNY discounted beyond the caps on payment promo")


def test_idempotent_replay(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO history (id, kind, order_id, key, outcome, started, payment_id) VALUES
            ('a', 'pay', 'o1', 'k1', 'ok', {T}, 'p1'), ('b', 'pay_retry', 'o1', 'k1', 'ok', {T}, 'p1'),
            ('c', 'pay', 'o2', 'k2', 'ok', {T}, 'p2'), ('d', 'pay_retry', 'o2', 'k2', 'ok', {T}, 'p3'),
            ('e', 'pay_conflict', 'o4', 'k4', 'failed', {T}, NULL), ('f', 'pay_conflict', 'o5', 'k5', 'ok', {T}, 'p5');
    """)
    verdict = planted.check("idempotent_replay", conflicting=["pay_conflict"])
    assert [(e["problem"], e["key"]) for e in verdict.examples] == [
        ("one key, several payments", "k2"), ("reused key accepted", "k5")]  # fmt: skip


def test_slo_per_phase(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO faults (id, applied, healed) VALUES ('f1', {T} + interval '10s', {T} + interval '20s');
        INSERT INTO history (id, kind, outcome, started, ended, expected)
        SELECT 's' || i, 'pay', 'ok', {T} + i * interval '0.1s', {T} + i * interval '0.1s' + interval '50ms', false
        FROM generate_series(0, 99) i;
        INSERT INTO history (id, kind, outcome, started, ended, expected)
        SELECT 'f' || i, 'pay', CASE WHEN i % 4 = 0 THEN 'timeout' ELSE 'ok' END, {T} + interval '12s',
               {T} + interval '13s', false FROM generate_series(0, 19) i;
        INSERT INTO history (id, kind, outcome, started, ended, expected)
        SELECT 'r' || i, 'pay', CASE WHEN i = 0 THEN 'failed' ELSE 'ok' END, {T} + interval '30s',
               {T} + interval '30.05s', i = 0 FROM generate_series(0, 9) i;
    """)
    verdict = planted.check("slo", max_error_rate=0.05, p99="500ms")
    assert verdict.status == "violated"
    assert [(e["phase"], e["metric"]) for e in verdict.examples] == [
        ("fault", "error_rate"),
        ("fault", "p99"),
    ]
    phases = {p["phase"]: p for p in verdict.details["phases"]}
    assert phases["steady"]["operations"] == 100
    assert phases["fault"]["error_rate"] == pytest.approx(0.25)
    assert phases["recovery"]["error_rate"] == 0  # the one failure was an expected refusal
    assert planted.check("slo", phases=["steady", "recovery"], max_error_rate=0.05).status == "holds"
    # An slo over no operation at all (a misspelt kind, a phase the run never had) judges nothing.
    typo = planted.check("slo", kind="pya", p99="1s")
    assert typo.status == "could_not_check"
    assert typo.reason == (
        "no client operation of kind 'pya' started in the phases steady, fault, recovery; the run's "
        "operations are of kinds: pay"
    )


def test_custom_sql_and_python(planted: Planted) -> None:
    planted.sql("INSERT INTO accounts (id, balance) VALUES ('a', -5), ('b', 10);")
    rows = planted.check(
        "sql", query="SELECT id FROM accounts WHERE balance < 0", description="no negative balance"
    )
    assert (rows.invariant, rows.status, rows.examples) == (
        "sql: no negative balance",
        "violated",
        [{"id": "a"}],
    )
    python = planted.check(
        "python", function="tests.harness.invariants.custom_check:few_accounts", params={"most": 1}
    )
    assert (python.status, python.examples) == ("violated", [{"accounts": 2, "most": 1}])


def test_missing_evidence_is_could_not_check_never_holds(planted: Planted) -> None:
    from paychaos.invariants import EvidenceUnavailable

    planted.store.problems["debits"] = "target 'x' provides no 'debits' evidence table"
    with pytest.raises(EvidenceUnavailable, match="provides no 'debits'"):
        planted.check("exactly_once_debit")
