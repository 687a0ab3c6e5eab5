"""Every built-in invariant over 1,000,000 payments of evidence, with a known number of planted violations.

The evidence tables are generated in PostgreSQL (embedded) with generate_series:
1M payments, orders, notifications, fulfilments and client operations, about
1M debits and 2M postings. Then violations are planted, a known number of each
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

from harness.invariants import REGISTRY, Evidence, EvidenceStore, RunWindow  # noqa: E402
from harness.invariants._store import create_tables, index_and_analyze  # noqa: E402
from harness.target import EmbeddedPostgres, load_target  # noqa: E402

T0 = "'2026-11-11 00:00:00+00'::timestamptz"

# invariant -> how many violations are planted (see PLANT)
EXPECTED = {
    "exactly_once_debit": 100 + 50,
    "eventual_refund": 80,
    "merchant_notified": 60 + 40,
    "no_stuck_orders": 70 + 30,
    "no_double_payout": 25,
    "conservation": 10 + 5,
    "credit_limit": 20,
    "amount_integrity": 45,
    "idempotent_replay": 35,
}

GENERATE = f"""
INSERT INTO payments (payment_id, key, order_id, amount, discount, charged, cap_percent, cap_amount, state,
                      succeeded, created_at, updated_at)
SELECT 'p' || i, 'order:o' || i, 'o' || i, 1000 + i % 5000, 0, 1000 + i % 5000, 10, 5000,
       CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END, i % 10 <> 0,
       {T0} + i * interval '1 ms', {T0} + i * interval '1 ms'
FROM generate_series(1, $1) i;

INSERT INTO debits (key, payment_id, order_id, account, amount, posted, at)
SELECT 'pay:p' || i, 'p' || i, 'o' || i, 'c' || (i % 10000), 1000 + i % 5000, i % 10 <> 0, {T0} + i * interval '1 ms'
FROM generate_series(1, $1) i;

INSERT INTO orders (order_id, state, terminal, created_at, updated_at)
SELECT 'o' || i, CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'PAID' END, true, {T0}, {T0}
FROM generate_series(1, $1) i;

INSERT INTO notifications (order_id, payment_id, outcome, first, received_at)
SELECT 'o' || i, 'p' || i, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, true, {T0}
FROM generate_series(1, $1) i;

INSERT INTO fulfilments (order_id, at) SELECT 'o' || i, {T0} FROM generate_series(1, $1) i WHERE i % 10 <> 0;

INSERT INTO history (id, kind, order_id, key, amount, started, ended, outcome, status, payment_id,
                     payment_state, expected)
SELECT 'op' || i, 'pay', 'o' || i, 'order:o' || i, 1000, {T0} + i * interval '1 ms',
       {T0} + i * interval '1 ms' + interval '40 ms', 'ok', 200, 'p' || i,
       CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END, false
FROM generate_series(1, $1) i;

INSERT INTO accounts (id, balance) SELECT 'c' || a, 0 FROM generate_series(0, 9999) a;
INSERT INTO accounts (id, balance) VALUES ('merchant', 0);
INSERT INTO credit_lines (account, credit_limit) SELECT 'c' || a, 1000000000 FROM generate_series(0, 999) a;

INSERT INTO postings (txn_id, account, amount, balance_after, at)
SELECT 't' || i, 'c' || (i % 10000), -(1000 + i % 5000), 0, {T0} FROM generate_series(1, $1) i WHERE i % 10 <> 0
UNION ALL
SELECT 't' || i, 'merchant', 1000 + i % 5000, 0, {T0} FROM generate_series(1, $1) i WHERE i % 10 <> 0;

UPDATE accounts a SET balance = s.total FROM (SELECT account, sum(amount) AS total FROM postings GROUP BY account) s
WHERE s.account = a.id;

INSERT INTO payouts (instruction, channel, key, amount, posted, at)
SELECT 'i' || i, 'channel-a', 'i' || i, 500, true, {T0} FROM generate_series(1, $1 / 100) i;
"""

PLANT = f"""
-- exactly_once_debit: 100 orders debited twice, 50 succeeded payments with no debit
INSERT INTO debits (key, payment_id, order_id, account, amount, posted, at)
SELECT 'pay:again' || i, 'p' || i, 'o' || i, 'x', 1000 + i % 5000, true, {T0}
FROM generate_series(1, 1000) i WHERE i % 10 = 1;
DELETE FROM debits WHERE payment_id IN (SELECT 'p' || i FROM generate_series(2001, 2500) i WHERE i % 10 = 2);
-- eventual_refund: 80 failed payments whose debit did post, never refunded
UPDATE debits SET posted = true WHERE payment_id IN (SELECT 'p' || i FROM generate_series(3000, 3799) i WHERE i % 10 = 0);
-- merchant_notified: 60 succeeded payments never notified, 40 orders fulfilled twice
DELETE FROM notifications WHERE payment_id IN (SELECT 'p' || i FROM generate_series(4001, 4600) i WHERE i % 10 = 1);
INSERT INTO fulfilments (order_id, at) SELECT 'o' || i, {T0} FROM generate_series(5001, 5400) i WHERE i % 10 = 1;
-- no_stuck_orders: 70 orders still paying, 30 accepted orders vanished
UPDATE orders SET terminal = false, state = 'PAYING' WHERE order_id IN (SELECT 'o' || i FROM generate_series(6001, 6700) i WHERE i % 10 = 1);
INSERT INTO history (id, kind, order_id, outcome, started, ended) SELECT 'ghost' || i, 'pay', 'ghost' || i, 'ok', {T0}, {T0}
FROM generate_series(1, 30) i;
-- no_double_payout: 25 instructions paid on channel B too
INSERT INTO payouts (instruction, channel, key, amount, posted, at)
SELECT 'i' || i, 'channel-b', 'i' || i, 500, true, {T0} FROM generate_series(1, 25) i;
-- conservation: 10 transactions that do not balance, 5 balances that differ from their postings
INSERT INTO postings (txn_id, account, amount, balance_after, at)
SELECT 'bad' || i, 'c' || (9000 + i), 7, 0, {T0} FROM generate_series(1, 10) i;
UPDATE accounts SET balance = balance + 7 WHERE id IN (SELECT 'c' || (9000 + i) FROM generate_series(1, 10) i);
UPDATE accounts SET balance = balance + 1 WHERE id IN (SELECT 'c' || (8000 + i) FROM generate_series(1, 5) i);
-- credit_limit: 20 accounts past their line at some posting
UPDATE postings SET balance_after = -2000000000
WHERE txn_id IN (SELECT 't' || (70001 + a * 10) FROM generate_series(0, 19) a) AND account <> 'merchant';
-- amount_integrity: 45 payments discounted past the caps
UPDATE payments SET discount = 600, charged = amount - 600
WHERE payment_id IN (SELECT 'p' || i FROM generate_series(7001, 7450) i WHERE i % 10 = 1);
UPDATE debits d SET amount = p.charged FROM payments p WHERE p.payment_id = d.payment_id AND p.discount = 600;
-- idempotent_replay: 35 keys answered with two different payments
INSERT INTO history (id, kind, order_id, key, outcome, started, ended, payment_id)
SELECT 'dup' || i, 'pay_retry', 'o' || i, 'order:o' || i, 'ok', {T0}, {T0}, 'other' || i FROM generate_series(8001, 8350) i WHERE i % 10 = 1;
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
            print(f"{name:<20} planted {expected:>4}  found {verdict.count:>4}  {seconds:6.2f}s"
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
