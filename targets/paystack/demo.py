"""The quick-start demo: start paystack, send a burst of checkouts, check the money, print a summary.

    python -m paychaos_targets.paystack.demo [--count 300] [--defect NAME] [--db postgresql://…]

Exit code 0 when every check holds, 1 when one does not, 3 when the stack
could not be run. (Experiments with faults and Locust load replace this once
``paychaos run`` exists; the checks here are a preview of its invariants.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from paychaos.errors import ExitCode, PaychaosError
from paychaos.postgres import EmbeddedPostgres, Server, external
from paychaos.system import Stack, load_target
from paychaos_targets.paystack.burst import BurstResult, burst

TARGET = Path(__file__).with_name("target.yaml")

# Each check is one set-based query; a row it returns is a violation.
CHECKS = {
    "no double debit": (
        "bank",
        """SELECT reference AS order_id, count(*) AS debits FROM transactions
           WHERE kind = 'debit' AND status = 'posted' GROUP BY reference HAVING count(*) > 1""",
    ),
    "postings balance": (
        "bank",
        "SELECT txn_id, sum(amount) AS total FROM postings GROUP BY txn_id HAVING sum(amount) <> 0",
    ),
    "balances match postings": (
        "bank",
        """SELECT a.id, a.balance, coalesce(sum(p.amount), 0) AS posted FROM accounts a
           LEFT JOIN postings p ON p.account = a.id GROUP BY a.id, a.balance
           HAVING a.balance <> coalesce(sum(p.amount), 0)""",
    ),
    "no account over its credit line": (
        "bank",
        """SELECT p.account, p.balance_after, a.credit_limit FROM postings p
           JOIN accounts a ON a.id = p.account
           WHERE a.kind = 'customer' AND p.balance_after < -a.credit_limit""",
    ),
    "no stuck order": ("merchant", "SELECT id, state FROM orders WHERE state IN ('CREATED', 'PAYING')"),
    "each paid order fulfilled once": (
        "merchant",
        """SELECT o.id, count(f.id) AS fulfilments FROM orders o LEFT JOIN fulfilments f ON f.order_id = o.id
           WHERE o.state = 'PAID' GROUP BY o.id HAVING count(f.id) <> 1""",
    ),
}


async def _settle(stack: Stack, deadline: float) -> float:
    """Wait until no order is PAYING and no notification is pending; return the seconds it took."""
    started = time.monotonic()
    merchant = await asyncpg.connect(stack.dsn("merchant"))
    notifier = await asyncpg.connect(stack.dsn("notifier"))
    try:
        while time.monotonic() - started < deadline:
            paying = await merchant.fetchval("SELECT count(*) FROM orders WHERE state = 'PAYING'")
            pending = await notifier.fetchval("SELECT count(*) FROM deliveries WHERE state = 'PENDING'")
            if paying == 0 and pending == 0:
                break
            await asyncio.sleep(0.2)
    finally:
        await merchant.close()
        await notifier.close()
    return time.monotonic() - started


async def _inspect(stack: Stack) -> dict[str, Any]:
    conns = {db: await asyncpg.connect(stack.dsn(db)) for db in ("bank", "merchant", "gateway", "notifier")}
    try:
        counted = {"orders": ("merchant", "orders"), "payments": ("gateway", "payments"),
                   "notifications": ("notifier", "deliveries")}  # fmt: skip
        states: dict[str, dict[str, int]] = {}
        for what, (db, table) in counted.items():
            rows = await conns[db].fetch(f"SELECT state, count(*) AS n FROM {table} GROUP BY state")
            states[what] = {r["state"]: r["n"] for r in rows}
        checks = {}
        for name, (db, sql) in CHECKS.items():
            rows = await conns[db].fetch(sql)
            checks[name] = {"holds": not rows, "examples": [dict(r) for r in rows[:5]]}
        return {"states": states, "checks": checks}
    finally:
        for conn in conns.values():
            await conn.close()


@contextlib.contextmanager
def _postgres(db: str | None, log: Path) -> Iterator[Server]:
    if db:
        yield external(db)
        return
    with EmbeddedPostgres(log_path=log) as server:
        yield server


def run(count: int, concurrency: int, defects: tuple[str, ...], db: str | None, out: Path) -> int:
    target = load_target(TARGET)
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"demo_{out.name.replace('-', '_')}_" if db else ""
    print(f"paystack demo: starting 5 services and PostgreSQL (logs in {out / 'logs'})", flush=True)
    t0 = time.monotonic()
    with (
        _postgres(db, out / "postgres.log") as server,
        Stack(target, server, log_dir=out / "logs", defects=defects, ports="auto", db_prefix=prefix) as stack,
    ):
        print(f"  stack up in {time.monotonic() - t0:.1f}s; sending {count} checkouts", flush=True)
        result: BurstResult = asyncio.run(burst(stack.url("merchant"), count=count, concurrency=concurrency))
        settled = asyncio.run(_settle(stack, deadline=30))
        findings = asyncio.run(_inspect(stack))
    summary = {"burst": result.summary(), "settled_after_s": round(settled, 2), "defects": list(defects)}
    summary.update(findings)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return _print(summary, out)


def _print(summary: dict[str, Any], out: Path) -> int:
    b = summary["burst"]
    print(
        f"  {b['sent']} checkouts in {b['seconds']:.1f}s ({b['rate']}/s): {b['paid']} paid, "
        f"{b['declined']} declined, {b['accepted']} still paying, {b['refused']} refused, "
        f"{b['errors']} errors; "
        f"p50 {b['p50_ms']}ms, p99 {b['p99_ms']}ms"
    )
    for what, counts in summary["states"].items():
        listed = ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none"
        print(f"  {what:<14} {listed}")
    print(f"  settled {summary['settled_after_s']}s after the burst")
    failed = [name for name, c in summary["checks"].items() if not c["holds"]]
    for name, check in summary["checks"].items():
        mark = "holds" if check["holds"] else f"VIOLATED, e.g. {check['examples'][:2]}"
        print(f"  {name:<32} {mark}")
    verdict = "FAILED: " + ", ".join(failed) if failed else "PASSED: every check holds"
    print(f"verdict: {verdict}")
    print(f"summary: {out / 'summary.json'}")
    return int(ExitCode.VIOLATED if failed else ExitCode.HELD)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m paychaos_targets.paystack.demo", description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="checkouts to send")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--defect", action="append", default=[], help="switch a defect on (repeatable)")
    parser.add_argument("--db", help="postgresql://… of an existing server (default: embedded)")
    parser.add_argument("--out", type=Path, help="where to write logs and summary.json")
    args = parser.parse_args()
    out = args.out or Path("reports") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        code = run(args.count, args.concurrency, tuple(args.defect), args.db, out)
    except PaychaosError as exc:
        print(f"paystack demo: {exc}", file=sys.stderr)
        code = int(exc.exit_code)
    except KeyboardInterrupt:
        code = int(ExitCode.INTERRUPTED)
    sys.exit(code)


if __name__ == "__main__":
    main()
