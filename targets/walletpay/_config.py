"""Settings of the API and the worker: command-line arguments first, then ``WALLETPAY_*`` variables."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFECTS = {
    "double-capture": "the worker re-runs a capture whose result report timed out, under a new key",
    "lost-claim": "a charge claimed by a worker that dies is never claimed again (no lease expiry)",
    "fulfil-every-report": "the API fulfils the order on every 'captured' report, not once",
}


@dataclass(frozen=True)
class Settings:
    role: str
    host: str
    port: int
    db: str
    api_url: str
    token: str
    defects: frozenset[str]
    evidence: bool
    concurrency: int
    lease_seconds: float
    report_timeout: float
    initial_balance: int

    def defect(self, name: str) -> bool:
        return name in self.defects


def parse_defects(text: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(names - DEFECTS.keys())
    if unknown:
        raise SystemExit(f"walletpay: unknown defect(s) {unknown}; known: {sorted(DEFECTS)}")
    return names


def parse(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m paychaos_targets.walletpay",
        description="walletpay's API or capture worker. Every option falls back to its WALLETPAY_* variable.",
    )
    parser.add_argument("role", choices=["api", "worker"])
    parser.add_argument("--host", default=env.get("WALLETPAY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("WALLETPAY_PORT", "0") or 0))
    parser.add_argument(
        "--db",
        default=env.get("WALLETPAY_DB", ""),
        help="PostgreSQL DSN (WALLETPAY_DB); without a password in it, PGPASSWORD is used",
    )
    parser.add_argument(
        "--api-url", default=env.get("WALLETPAY_API_URL", ""), help="worker: the API (WALLETPAY_API_URL)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=int(env.get("WALLETPAY_CONCURRENCY", "8")), help="worker"
    )
    parser.add_argument(
        "--lease", type=float, default=float(env.get("WALLETPAY_LEASE_SECONDS", "4")), help="worker, seconds"
    )
    parser.add_argument(
        "--report-timeout",
        type=float,
        default=float(env.get("WALLETPAY_REPORT_TIMEOUT", "1")),
        help="worker: seconds to wait for the API to take a result",
    )
    parser.add_argument(
        "--initial-balance",
        type=int,
        default=int(env.get("WALLETPAY_INITIAL_BALANCE", "200000")),
        help="api: cents a new wallet is funded with (customers named empty-… get none)",
    )
    args = parser.parse_args(argv)
    if not args.db:
        parser.error("--db or WALLETPAY_DB is required")
    if args.role == "worker" and not args.api_url:
        parser.error("the worker needs --api-url or WALLETPAY_API_URL")
    if args.port <= 0:
        parser.error("--port or WALLETPAY_PORT is required")
    return Settings(
        role=args.role,
        host=args.host,
        port=args.port,
        db=args.db,
        api_url=args.api_url.rstrip("/"),
        token=env.get("WALLETPAY_INTERNAL_TOKEN", ""),
        defects=parse_defects(env.get("WALLETPAY_DEFECTS", "")),
        evidence=env.get("WALLETPAY_EVIDENCE", "") in ("1", "true", "yes"),
        concurrency=max(1, args.concurrency),
        lease_seconds=args.lease,
        report_timeout=args.report_timeout,
        initial_balance=args.initial_balance,
    )
