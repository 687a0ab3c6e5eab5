"""Every violator exported (violations.csv, violations.jsonl) with what would put it right, and each kept
example telling the whole story of its order, over planted evidence in a real PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from paychaos._results_model import VerdictRecord, ViolationsRecord
from paychaos.invariants import Check, Verdict
from paychaos.invariants._base import MAX_EXAMPLES
from paychaos.invariants._violations import COLUMNS, export, summary
from paychaos.rundir import RunDir
from tests.harness.invariants.conftest import Planted

pytestmark = pytest.mark.integration

T = "'2026-01-01 10:00:00+00'::timestamptz"


def _files(folder: Path) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    with (folder / "violations.csv").open(newline="", encoding="utf-8") as table:
        reader = csv.DictReader(table)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    lines = [json.loads(line) for line in (folder / "violations.jsonl").read_text().splitlines()]
    return rows, lines


def _export(planted: Planted, *checked: tuple[Check, Verdict]) -> tuple[list[dict[str, str]], list[Any]]:
    checks, verdicts = [c for c, _ in checked], [v for _, v in checked]
    export(checks, verdicts, planted.evidence, RunDir(planted.tmp_path))
    return _files(planted.tmp_path)


def test_every_violator_is_exported_with_its_remedy_in_the_targets_currency(planted: Planted) -> None:
    # 57 failed payments whose debits were never (or only partly) refunded: more than an example keeps.
    planted.sql(f"""
        INSERT INTO payments (payment_id, key, order_id, account, charged, state, outcome, succeeded)
        SELECT 'p' || i, 'order:o' || i, 'o' || i, 'cust-' || lpad(i::text, 4, '0'), 9000 + i, 'FAILED',
               'failed', false
        FROM generate_series(1, 57) i;
        INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, at)
        SELECT 'pay:p' || i, 'p' || i, 'o' || i, 'cust-' || lpad(i::text, 4, '0'), 9000 + i, true, 'posted',
               {T} + i * interval '1 s'
        FROM generate_series(1, 57) i;
        INSERT INTO refunds (key, debit_key, account, amount, posted) VALUES ('r1', 'pay:p1', 'cust-0001', 1, true);
        INSERT INTO history (id, kind, order_id, key, outcome, started, ended)
        SELECT 'op' || i, 'pay', 'o' || i, 'order:o' || i, 'timeout', {T}, {T} FROM generate_series(1, 57) i;
    """)
    check = Check("eventual_refund", {"within": "30s"})
    verdict = planted.verdict(check.name, **check.params)
    assert (verdict.status, verdict.count, len(verdict.examples)) == ("violated", 57, MAX_EXAMPLES)

    rows, lines = _export(planted, (check, verdict))
    assert verdict.exported == 57
    assert len(rows) == len(lines) == 57
    assert len({r["order_id"] for r in rows}) == 57
    by_order = {r["order_id"]: r for r in rows}
    o7 = by_order["o7"]
    assert (o7["invariant"], o7["payment_id"], o7["account"], o7["item"]) == (
        "eventual_refund", "p7", "cust-0007", "pay:p7")  # fmt: skip
    assert o7["problem"] == "debited, never refunded; the payment did not succeed"
    assert (o7["amount"], o7["amount_minor"]) == ("90.07 CNY", "9007")
    assert o7["remedy"] == "refund 90.07 CNY to account cust-0007 (debit pay:p7 of order o7)"
    assert o7["amounts"] == "amount 90.07 CNY; refunded 0.00 CNY"
    o1 = by_order["o1"]  # refunded 0.01 of 90.01: 90.00 still owed
    assert o1["problem"] == "refunded only in part; the payment did not succeed"
    assert o1["remedy"] == "refund 90.00 CNY to account cust-0001 (debit pay:p1 of order o1)"
    for row in rows:  # every row names its amount in CNY and says what to do
        assert row["amount"].endswith(" CNY")
        assert row["remedy"].startswith("refund ")
        assert "?" not in row["remedy"]
    line = next(x for x in lines if x["order_id"] == "o7")
    assert line["amounts"] == {"amount": "90.07 CNY", "refunded": "0.00 CNY"}
    assert line["evidence"]["debit_key"] == "pay:p7"
    assert line["evidence"]["amount"] == 9007  # minor units, as the evidence has them
    # The kept examples tell the same, with the story of their order.
    example = verdict.examples[0]
    assert example["remedy"].startswith("refund ")
    assert example["remedy"].endswith(")")
    assert [op["id"] for op in example["client_operations"]] == [f"op{example['order_id'][1:]}"]
    assert [p["state"] for p in example["payments"]] == ["FAILED"]
    assert [e["entry"] for e in example["ledger"]][:1] == ["debit"]

    record = summary(RunDir(planted.tmp_path), [verdict])
    assert record is not None
    assert ViolationsRecord.model_validate(record).rows == 57
    assert record["error"] is None
    assert VerdictRecord.model_validate(verdict.as_json()).exported == 57


def test_several_invariants_custom_sql_and_what_could_not_be_written(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payouts (instruction, channel, key, account, amount, posted, status, at) VALUES
            ('i1', 'a', 'a:i1', 'merchant', 1234, true, 'posted', {T}),
            ('i1', 'b', 'b:i1', 'merchant', 1234, true, 'posted', {T} + interval '3 s');
        INSERT INTO accounts (id, balance) VALUES ('x', -5), ('y', -7), ('z', 3);
        INSERT INTO postings (txn_id, account, amount) VALUES ('t', 'x', -5), ('t', 'y', -7), ('t', 'z', 3);
    """)
    payout = Check("no_double_payout")
    custom = Check("sql", {"query": "SELECT id AS account, balance AS at_stake, 'top up account ' || id AS "
                           "remedy FROM accounts WHERE balance < 0", "description": "no negative balance"})  # fmt: skip
    kept_only = Check("python", {"function": "tests.harness.invariants.custom_check:few_accounts"})
    python = Verdict("python: tests.harness.invariants.custom_check:few_accounts", "violated", count=3,
                     examples=[{"accounts": 3, "most": 1}])  # fmt: skip
    holds = Check("credit_limit")
    checked = [
        (payout, planted.verdict(payout.name)),
        (custom, planted.verdict(custom.name, **custom.params)),
        (holds, planted.verdict(holds.name)),
        (kept_only, python),
    ]
    rows, lines = _export(planted, *checked)
    assert [(r["invariant"], r["instruction"] or r["account"]) for r in rows] == [
        ("no_double_payout", "i1"),
        ("sql: no negative balance", "x"),
        ("sql: no negative balance", "y"),
        ("python: tests.harness.invariants.custom_check:few_accounts", ""),
    ]
    assert rows[0]["remedy"] == "reverse the second payout of instruction i1, on channel b (12.34 CNY)"
    assert (rows[0]["amount"], rows[0]["account"]) == ("12.34 CNY", "merchant")
    assert rows[1]["remedy"] == "top up account x"  # a custom query's remedy, as it says it
    assert (rows[1]["amount"], rows[1]["problem"]) == ("-0.05 CNY", "")
    assert rows[3]["problem"] == "accounts=3, most=1"  # no problem column: its columns say it
    assert lines[3]["evidence"] == {"accounts": 3, "most": 1}
    assert [v.exported for _, v in checked] == [1, 2, None, 1]
    record = summary(RunDir(planted.tmp_path), [v for _, v in checked])
    assert record is not None
    assert record["rows"] == 4
    # The python invariant returned three, of which its verdict keeps (and the files get) one.
    assert "1 violator(s) written, the verdict counted 3" in record["error"]


def test_an_example_tells_the_whole_story_of_its_order(planted: Planted) -> None:
    # An order fulfilled twice: its violator names only the order; its payment, account, client
    # operations, ledger, notifications sent and received and fulfilments are all looked up.
    planted.sql(f"""
        INSERT INTO payments (payment_id, key, order_id, account, amount, charged, state, outcome, succeeded,
                              created_at) VALUES
            ('p1', 'order:o1', 'o1', 'cust-0042', 9107, 9107, 'SUCCEEDED', 'succeeded', true, {T});
        INSERT INTO orders (order_id, account, amount, payment_id, state, outcome, terminal) VALUES
            ('o1', 'cust-0042', 9107, 'p1', 'PAID', 'paid', true);
        INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, at) VALUES
            ('pay:p1', 'p1', 'o1', 'cust-0042', 9107, true, 'posted', {T});
        INSERT INTO deliveries (event_id, order_id, payment_id, acknowledged, attempts) VALUES
            ('e1', 'o1', 'p1', true, 2);
        INSERT INTO notifications (event_id, order_id, payment_id, outcome, first, received_at) VALUES
            ('e1', 'o1', 'p1', 'succeeded', true, {T}), ('e1', 'o1', 'p1', 'succeeded', false, {T} + interval '1 s');
        INSERT INTO fulfilments (order_id, at) VALUES ('o1', {T}), ('o1', {T} + interval '1 s');
        INSERT INTO history (id, kind, order_id, key, outcome, status, started, ended, payment_id, told) VALUES
            ('op1', 'pay', 'o1', 'order:o1', 'timeout', NULL, {T}, {T}, NULL, NULL),
            ('op2', 'pay_retry', 'o1', 'order:o1', 'ok', 200, {T} + interval '1 s', {T} + interval '1 s', 'p1',
             'succeeded');
    """)
    verdict = planted.verdict("merchant_notified")
    (example,) = verdict.examples
    assert example["problem"] == "fulfilled more than once"
    assert (example["order_id"], example["payment_id"], example["account"]) == ("o1", "p1", "cust-0042")
    assert (
        example["remedy"]
        == "reverse the extra fulfilments of order o1: it was fulfilled 2 times, once is right"
    )
    assert [op["outcome"] for op in example["client_operations"]] == ["timeout", "ok"]
    assert [(o["state"], o["payment_id"]) for o in example["orders"]] == [("PAID", "p1")]
    assert [(p["payment_id"], p["state"]) for p in example["payments"]] == [("p1", "SUCCEEDED")]
    assert [(e["entry"], e["key"], e["amount"]) for e in example["ledger"]] == [("debit", "pay:p1", 9107)]
    assert [(d["event_id"], d["attempts"]) for d in example["notifications_sent"]] == [("e1", 2)]
    assert [n["first"] for n in example["notifications_received"]] == [True, False]
    assert len(example["fulfilments"]) == 2
    rows, _ = _export(planted, (Check("merchant_notified"), verdict))
    assert [(r["order_id"], r["payment_id"], r["account"]) for r in rows] == [("o1", "p1", "cust-0042")]

    # A table the target does not provide is left out of the story, and nothing else changes.
    planted.store.problems["deliveries"] = "target 'x' provides no 'deliveries' evidence table"
    (example,) = planted.verdict("merchant_notified").examples
    assert "notifications_sent" not in example
    assert len(example["notifications_received"]) == 2


def test_a_double_payout_shows_the_timed_out_attempt_on_the_first_channel(planted: Planted) -> None:
    planted.sql(f"""
        INSERT INTO payout_requests (instruction, key, account, amount, state, outcome, channel) VALUES
            ('i1', 'payout:i1', 'merchant', 500, 'PAID', 'paid', 'b');
        INSERT INTO payouts (instruction, channel, key, account, amount, posted, status, at) VALUES
            ('i1', 'channel-a', 'a:i1', 'merchant', 500, true, 'posted', {T} + interval '2 s'),
            ('i1', 'channel-b', 'b:i1', 'merchant', 500, true, 'posted', {T} + interval '4 s');
        INSERT INTO payout_attempts (instruction, channel, action, outcome, at) VALUES
            ('i1', 'a', 'send', 'timeout', {T} + interval '1 s'), ('i1', 'a', 'settle', 'unreachable', {T} + interval '3 s'),
            ('i1', 'b', 'send', 'paid', {T} + interval '4 s');
        INSERT INTO history (id, kind, key, outcome, started, ended, payment_id) VALUES
            ('op1', 'payout', 'payout:i1', 'timeout', {T}, {T} + interval '5 s', NULL);
    """)
    (example,) = planted.verdict("no_double_payout").examples
    assert example["remedy"] == "reverse the second payout of instruction i1, on channel channel-b (5.00 CNY)"
    assert example["account"] == "merchant"
    assert [(a["channel"], a["action"], a["outcome"]) for a in example["payout_attempts"]] == [
        ("a", "send", "timeout"), ("a", "settle", "unreachable"), ("b", "send", "paid")]  # fmt: skip
    assert [(p["channel"], p["status"]) for p in example["payouts"]] == [
        ("channel-a", "posted"), ("channel-b", "posted")]  # fmt: skip
    assert [r["state"] for r in example["payout_requests"]] == ["PAID"]
    assert [op["id"] for op in example["client_operations"]] == ["op1"]  # by the request's key


def test_a_run_that_violated_nothing_writes_empty_files(planted: Planted) -> None:
    check = Check("exactly_once_debit")
    rows, lines = _export(planted, (check, planted.verdict(check.name)))
    assert (rows, lines) == ([], [])
    assert summary(RunDir(planted.tmp_path), []) == {
        "csv": "violations.csv", "jsonl": "violations.jsonl", "rows": 0, "error": None}  # fmt: skip
