"""Every built-in invariant over 1,000,000 payments of evidence, with a known number of planted violations.

The evidence tables are generated in PostgreSQL (embedded) with generate_series:
1M payments, orders, debits, notifications, deliveries, fulfilments and client
operations, 100k refunds, 10k payouts and about 2M postings with running
balances, every record agreeing with every other. Then violations are planted, a known number of each
kind, and every invariant is timed. Every planted violation must be found,
and nothing else.

    python bench/checker_scale.py [--payments 1000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paychaos.invariants import REGISTRY, Evidence, EvidenceStore, RunWindow  # noqa: E402
from paychaos.invariants._store import create_tables, index_and_analyze  # noqa: E402
from paychaos.postgres import EmbeddedPostgres  # noqa: E402
from paychaos.system import load_target  # noqa: E402

T0 = "'2026-11-11 00:00:00+00'::timestamptz"

# invariant -> how many violations are planted (see PLANT). A planted bug shows wherever two records
# disagree, so some plants count under more than one invariant, as they would in a real run.
EXPECTED = {
    "exactly_once_debit": 100 + 50,
    "eventual_refund": 80,
    "merchant_notified": 60 + 40,
    "no_stuck_orders": 70 + 30,
    "no_double_payout": 25,
    # unbalanced transactions, balances off, and the credit_limit plant's 20 rewritten balance_after
    # values, each breaking its account's running balance twice (itself and the posting after it)
    "conservation": 10 + 5 + 20 * 2,
    "credit_limit": 20,
    "amount_integrity": 45,
    "idempotent_replay": 35,
    "refund_integrity": 30 * 2 + 20 + 10,
    # double debits, succeeded without a debit, failed but debited, the discounted debits whose
    # postings moved the full amount, short refunds
    # and eventual_refund's failed payments debited before their deadline (counted twice: money held,
    # and failed although the bank took the money in time)
    "payments_match_ledger": 100 + 50 + 80 + 45 + 30 + 80,
    "orders_match_payments": 40 + 20 + 15,
    "payouts_match_ledger": 25 + 15 + 10,
    "fulfilled_once": 40 + 30 + 20,
    "webhook_authenticity": 25 + 15,
    # never acknowledged, and the 60 notifications merchant_notified's plant deleted from the receiver
    "notifications_settled": 30 + 60,
    "clients_told_the_truth": 20,
}

# Payment i: order oi, account c(i % 10000). i % 10 = 0: declined (FAILED); i % 10 = 5: paid, then
# refunded in full (REFUNDED); otherwise paid (SUCCEEDED). Every record agrees with every other.
GENERATE = f"""
INSERT INTO payments (payment_id, key, order_id, account, amount, discount, charged, cap_percent, cap_amount,
                      state, outcome, succeeded, expires_at, created_at, updated_at)
SELECT 'p' || i, 'order:o' || i, 'o' || i, 'c' || (i % 10000), 1000 + i % 5000, 0, 1000 + i % 5000, 10, 5000,
       CASE i % 10 WHEN 0 THEN 'FAILED' WHEN 5 THEN 'REFUNDED' ELSE 'SUCCEEDED' END,
       CASE i % 10 WHEN 0 THEN 'failed' WHEN 5 THEN 'refunded' ELSE 'succeeded' END, i % 10 <> 0,
       {T0} + i * interval '1 ms' + interval '5 min', {T0} + i * interval '1 ms', {T0} + i * interval '1 ms'
FROM generate_series(1, $1) i;

INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, txn_id, at)
SELECT 'pay:p' || i, 'p' || i, 'o' || i, 'c' || (i % 10000), 1000 + i % 5000, i % 10 <> 0,
       CASE WHEN i % 10 = 0 THEN 'declined' ELSE 'posted' END, 't' || i, {T0} + i * interval '1 ms'
FROM generate_series(1, $1) i;

INSERT INTO refunds (key, debit_key, order_id, account, amount, posted, txn_id, at)
SELECT 'refund:p' || i, 'pay:p' || i, 'o' || i, 'c' || (i % 10000), 1000 + i % 5000, true, 'r' || i,
       {T0} + i * interval '1 ms' + interval '1 s'
FROM generate_series(1, $1) i WHERE i % 10 = 5;

INSERT INTO orders (order_id, account, amount, payment_id, state, outcome, terminal, created_at, updated_at)
SELECT 'o' || i, 'c' || (i % 10000), 1000 + i % 5000, 'p' || i,
       CASE i % 10 WHEN 0 THEN 'FAILED' WHEN 5 THEN 'REFUNDED' ELSE 'PAID' END,
       CASE i % 10 WHEN 0 THEN 'failed' WHEN 5 THEN 'refunded' ELSE 'paid' END, true, {T0}, {T0}
FROM generate_series(1, $1) i;

INSERT INTO notifications (event_id, order_id, payment_id, outcome, first, received_at)
SELECT 'e' || i, 'o' || i, 'p' || i, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, true, {T0}
FROM generate_series(1, $1) i
UNION ALL
SELECT 'e' || i || 'r', 'o' || i, 'p' || i, 'refunded', true, {T0} FROM generate_series(1, $1) i WHERE i % 10 = 5;

INSERT INTO deliveries (event_id, order_id, payment_id, acknowledged, attempts, created_at)
SELECT event_id, order_id, payment_id, true, 1, received_at FROM notifications;

INSERT INTO fulfilments (order_id, at) SELECT 'o' || i, {T0} FROM generate_series(1, $1) i WHERE i % 10 <> 0;

INSERT INTO history (id, kind, order_id, key, amount, started, ended, outcome, status, payment_id,
                     payment_state, expected, forged, refusal_expected, told)
SELECT 'op' || i, 'pay', 'o' || i, 'order:o' || i, 1000, {T0} + i * interval '1 ms',
       {T0} + i * interval '1 ms' + interval '40 ms', 'ok', 200, 'p' || i,
       CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END, false, false, false,
       CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END
FROM generate_series(1, $1) i;

INSERT INTO accounts (id, balance) SELECT 'c' || a, 0 FROM generate_series(0, 9999) a;
INSERT INTO accounts (id, balance) VALUES ('merchant', 0), ('channel-a', 0);
INSERT INTO credit_lines (account, credit_limit) SELECT 'c' || a, 1000000000 FROM generate_series(0, 999) a;

INSERT INTO postings (txn_id, account, amount, balance_after, at)
SELECT 't' || i, 'c' || (i % 10000), -(1000 + i % 5000), 0, {T0} FROM generate_series(1, $1) i WHERE i % 10 <> 0
UNION ALL
SELECT 't' || i, 'merchant', 1000 + i % 5000, 0, {T0} FROM generate_series(1, $1) i WHERE i % 10 <> 0
UNION ALL
SELECT 'r' || i, 'merchant', -(1000 + i % 5000), 0, {T0} FROM generate_series(1, $1) i WHERE i % 10 = 5
UNION ALL
SELECT 'r' || i, 'c' || (i % 10000), 1000 + i % 5000, 0, {T0} FROM generate_series(1, $1) i WHERE i % 10 = 5
UNION ALL
SELECT 'po' || i, 'merchant', -500, 0, {T0} FROM generate_series(1, $1 / 100) i
UNION ALL
SELECT 'po' || i, 'channel-a', 500, 0, {T0} FROM generate_series(1, $1 / 100) i;

WITH r AS (
    SELECT ctid, row_number() OVER (ORDER BY account, txn_id) AS seq,
           sum(amount) OVER (PARTITION BY account ORDER BY txn_id ROWS UNBOUNDED PRECEDING) AS running
    FROM postings)
UPDATE postings p SET seq = r.seq, balance_after = r.running FROM r WHERE p.ctid = r.ctid;

UPDATE accounts a SET balance = s.total FROM (SELECT account, sum(amount) AS total FROM postings GROUP BY account) s
WHERE s.account = a.id;

INSERT INTO payouts (instruction, channel, key, account, amount, posted, status, txn_id, at)
SELECT 'i' || i, 'channel-a', 'i' || i, 'merchant', 500, true, 'posted', 'po' || i, {T0} FROM generate_series(1, $1 / 100) i;

INSERT INTO payout_requests (instruction, account, amount, state, outcome, channel, created_at, updated_at)
SELECT 'i' || i, 'merchant', 500, 'PAID', 'paid', 'a', {T0}, {T0} FROM generate_series(1, $1 / 100) i;
"""

PLANT = f"""
-- exactly_once_debit: 100 orders debited twice, 50 succeeded payments with no debit
INSERT INTO debits (key, payment_id, order_id, account, amount, posted, status, at)
SELECT 'pay:again' || i, 'p' || i, 'o' || i, 'x', 1000 + i % 5000, true, 'posted', {T0}
FROM generate_series(1, 1000) i WHERE i % 10 = 1;
DELETE FROM debits WHERE payment_id IN (SELECT 'p' || i FROM generate_series(2001, 2500) i WHERE i % 10 = 2);
-- eventual_refund: 80 failed payments whose debit did post, never refunded
UPDATE debits SET posted = true, status = 'posted', txn_id = NULL
WHERE payment_id IN (SELECT 'p' || i FROM generate_series(3000, 3799) i WHERE i % 10 = 0);
-- merchant_notified: 60 succeeded payments never notified, 40 orders fulfilled twice
DELETE FROM notifications WHERE payment_id IN (SELECT 'p' || i FROM generate_series(4001, 4600) i WHERE i % 10 = 1);
INSERT INTO fulfilments (order_id, at) SELECT 'o' || i, {T0} FROM generate_series(5001, 5400) i WHERE i % 10 = 1;
-- no_stuck_orders: 70 orders still paying, 30 accepted orders vanished
UPDATE orders SET terminal = false, state = 'PAYING', outcome = 'pending'
WHERE order_id IN (SELECT 'o' || i FROM generate_series(6001, 6700) i WHERE i % 10 = 1);
INSERT INTO history (id, kind, order_id, outcome, started, ended) SELECT 'ghost' || i, 'pay', 'ghost' || i, 'ok', {T0}, {T0}
FROM generate_series(1, 30) i;
-- no_double_payout: 25 instructions paid on channel B too
INSERT INTO payouts (instruction, channel, key, account, amount, posted, status, at)
SELECT 'i' || i, 'channel-b', 'i' || i, 'merchant', 500, true, 'posted', {T0} FROM generate_series(1, 25) i;
-- conservation: 10 transactions that do not balance, 5 balances that differ from their postings
INSERT INTO postings (txn_id, account, amount, balance_after, at)
SELECT 'bad' || i, 'c' || (9000 + i), 7, 0, {T0} FROM generate_series(1, 10) i;
UPDATE accounts SET balance = balance + 7 WHERE id IN (SELECT 'c' || (9000 + i) FROM generate_series(1, 10) i);
UPDATE accounts SET balance = balance + 1 WHERE id IN (SELECT 'c' || (8000 + i) FROM generate_series(1, 5) i);
-- credit_limit: 20 accounts past their line at some posting
UPDATE postings SET balance_after = -2000000000
WHERE txn_id IN (SELECT 't' || (70001 + a * 10) FROM generate_series(0, 19) a) AND account <> 'merchant';
-- amount_integrity: 45 payments discounted past the caps (the ledger still took the full amount)
UPDATE payments SET discount = 600, charged = amount - 600
WHERE payment_id IN (SELECT 'p' || i FROM generate_series(7001, 7450) i WHERE i % 10 = 1);
UPDATE debits d SET amount = p.charged FROM payments p WHERE p.payment_id = d.payment_id AND p.discount = 600;
-- idempotent_replay: 35 keys answered with two different payments
INSERT INTO history (id, kind, order_id, key, outcome, started, ended, payment_id)
SELECT 'dup' || i, 'pay_retry', 'o' || i, 'order:o' || i, 'ok', {T0}, {T0}, 'other' || i FROM generate_series(8001, 8350) i WHERE i % 10 = 1;
-- refund_integrity: 30 refunds of 1% of the debit, 20 refunds to another account, 10 refunds of nothing
UPDATE refunds SET amount = amount / 100
WHERE debit_key IN (SELECT 'pay:p' || i FROM generate_series(10005, 10295) i WHERE i % 10 = 5);
UPDATE refunds SET account = 'mallory'
WHERE debit_key IN (SELECT 'pay:p' || i FROM generate_series(11005, 11195) i WHERE i % 10 = 5);
INSERT INTO refunds (key, debit_key, order_id, account, amount, posted, at)
SELECT 'refund:nothing' || i, 'nothing' || i, 'nothing' || i, 'zed', 100, true, {T0} FROM generate_series(1, 10) i;
-- orders_match_payments: 40 orders failed whose payment went through, 20 paid whose payment failed
UPDATE orders SET state = 'FAILED', outcome = 'failed'
WHERE order_id IN (SELECT 'o' || i FROM generate_series(20003, 20393) i WHERE i % 10 = 3);
UPDATE orders SET state = 'PAID', outcome = 'paid'
WHERE order_id IN (SELECT 'o' || i FROM generate_series(21000, 21190) i WHERE i % 10 = 0);
-- payouts_match_ledger: 15 payouts marked paid that never left, 10 marked failed that did
INSERT INTO payout_requests (instruction, account, amount, state, outcome, created_at, updated_at)
SELECT 'j' || i, 'merchant', 500, 'PAID', 'paid', {T0}, {T0} FROM generate_series(1, 15) i;
UPDATE payout_requests SET state = 'FAILED', outcome = 'failed'
WHERE instruction IN (SELECT 'i' || i FROM generate_series(100, 109) i);
-- fulfilled_once: 30 paid orders never fulfilled, 20 declined orders fulfilled
DELETE FROM fulfilments WHERE order_id IN (SELECT 'o' || i FROM generate_series(30007, 30297) i WHERE i % 10 = 7);
INSERT INTO fulfilments (order_id, at) SELECT 'o' || i, {T0} FROM generate_series(31000, 31190) i WHERE i % 10 = 0;
-- webhook_authenticity: 25 notifications accepted about payments nobody made; 15 declined orders a
-- forged notification turned paid (orders_match_payments sees those too)
INSERT INTO notifications (event_id, order_id, payment_id, outcome, first, received_at)
SELECT 'forged' || i, 'o' || i, 'nope' || i, 'succeeded', true, {T0} FROM generate_series(40000, 40240) i WHERE i % 10 = 0;
INSERT INTO history (id, kind, order_id, payment_id, outcome, status, started, ended, forged)
SELECT 'forgery' || i, 'forged_notification', 'o' || i, 'nope' || i, 'ok', 200, {T0}, {T0}, true
FROM generate_series(41000, 41140) i WHERE i % 10 = 0;
UPDATE orders SET state = 'PAID', outcome = 'paid'
WHERE order_id IN (SELECT 'o' || i FROM generate_series(41000, 41140) i WHERE i % 10 = 0);
-- clients_told_the_truth: 20 declined payments the customer was told had gone through
UPDATE history SET told = 'succeeded'
WHERE order_id IN (SELECT 'o' || i FROM generate_series(60000, 60190) i WHERE i % 10 = 0);
-- notifications_settled: 30 notifications the receiver kept refusing
UPDATE deliveries SET acknowledged = false, attempts = 40, last_error = 'status 409'
WHERE event_id IN (SELECT 'e' || i FROM generate_series(50001, 50300) i WHERE i % 10 = 1);
"""


async def build(dsn: str, payments: int) -> float:
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        await create_tables(conn)
        await conn.execute("SET synchronous_commit = off")
        for statement in [s for s in GENERATE.split(";\n") if s.strip()]:
            await conn.execute(statement, payments) if "$1" in statement else await conn.execute(statement)
        await conn.execute(PLANT)
        await index_and_analyze(conn)
    finally:
        await conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with EmbeddedPostgres() as pg:
        pg.create_databases(["evidence"])
        built = asyncio.run(build(pg.dsn("evidence"), args.payments))
        print(
            f"generated {args.payments:,} payments of evidence (and planted violations) in {built:.1f}s",
            flush=True,
        )
        store = EvidenceStore(load_target(ROOT / "targets" / "paystack"), evidence_dsn=pg.dsn("evidence"),
                              source_dsn=pg.dsn, service_url=lambda s: "", run_dir=Path("."))  # fmt: skip
        evidence = Evidence(store, RunWindow(0, 0, 0), pg.dsn)
        rows, total, all_found = [], 0.0, True
        for name, expected in EXPECTED.items():
            definition = REGISTRY[name]
            started = time.perf_counter()
            verdict = definition.run(evidence, {})
            seconds = time.perf_counter() - started
            total += seconds
            found = verdict.count == expected
            all_found &= found
            rows.append(
                {"invariant": name, "planted": expected, "found": verdict.count, "seconds": round(seconds, 2)}
            )
            print(f"{name:<22} planted {expected:>4}  found {verdict.count:>4}  {seconds:6.2f}s"
                  f"{'' if found else '  <-- MISMATCH'}", flush=True)  # fmt: skip
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=2) as pool:  # as the runner's verify phase does
            list(pool.map(lambda n: REGISTRY[n].run(evidence, {}), EXPECTED))
        together = time.perf_counter() - started
    print(
        f"\nall invariants: {total:.1f}s one after the other, {together:.1f}s two at a time (as a run verifies); "
        f"every planted violation found: {all_found}"
    )
    print("\n| invariant | planted | found | seconds |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['invariant']} | {r['planted']} | {r['found']} | {r['seconds']:.2f} |")
    found = sum(r["found"] for r in rows)
    print(f"| all, one after the other | {sum(EXPECTED.values())} | {found} | {total:.1f} |")
    print(f"| **all, two at a time (as a run verifies)** | | | **{together:.1f}** |")
    if args.json:
        summary = {
            "payments": args.payments,
            "sequential_seconds": total,
            "together_seconds": together,
            "rows": rows,
        }
        args.json.write_text(json.dumps(summary, indent=2))
    sys.exit(0 if all_found else 1)


if __name__ == "__main__":
    main()
