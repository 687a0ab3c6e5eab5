"""A short burst of checkouts against the merchant, with latencies: the demo's and the benchmark's load.

Not the harness's load generator (experiments drive Locust); this is the
smallest client that exercises the whole payment path.

    python -m paychaos_targets.paystack.burst --merchant http://127.0.0.1:8101 --count 300
    python -m paychaos_targets.paystack.burst --merchant http://127.0.0.1:8101 --duration 20 \
        --concurrency 96 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp


@dataclass
class BurstResult:
    sent: int = 0
    paid: int = 0  # 200, payment SUCCEEDED
    declined: int = 0  # 200, payment FAILED (e.g. over a credit line)
    accepted: int = 0  # 202: still being paid when the merchant answered
    refused: int = 0  # 503: over capacity, nothing written
    errors: int = 0  # anything else, or no answer
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    order_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> dict[str, float | int]:
        data = {k: v for k, v in asdict(self).items() if k not in ("latencies_ms", "order_ids")}
        data.update(rate=round(self.rate, 1), p50_ms=round(self.percentile(50), 1))
        data.update(p99_ms=round(self.percentile(99), 1))
        return data


async def burst(
    merchant_url: str,
    *,
    count: int | None = None,
    duration: float | None = None,
    concurrency: int = 32,
    seed: int = 1,
    customers: int = 1000,
    credit_customers: int = 100,
    timeout: float = 10.0,
) -> BurstResult:
    """Send checkouts until ``count`` were sent or ``duration`` seconds passed, whichever is given."""
    if (count is None) == (duration is None):
        raise ValueError("give exactly one of count or duration")
    rng = random.Random(seed)
    result = BurstResult()
    started = time.perf_counter()
    deadline = started + duration if duration is not None else float("inf")
    numbers = iter(range(count if count is not None else sys.maxsize))
    run = f"{seed}-{int(time.time() * 1000) % 10**9}"
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=15)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for n in numbers:
                if time.perf_counter() > deadline:
                    return
                credit = rng.random() < 0.1
                body = {
                    "order_id": f"burst-{run}-{n}",
                    "account": f"credit-{rng.randint(1, credit_customers):05d}"
                    if credit
                    else f"cust-{rng.randint(1, customers):05d}",
                    "amount": rng.randint(100, 50_000),
                }
                await _checkout(session, f"{merchant_url}/checkout", body, timeout, result)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def _checkout(
    session: aiohttp.ClientSession, url: str, body: dict[str, object], timeout: float, result: BurstResult
) -> None:
    t0 = time.perf_counter()
    result.sent += 1
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            reply = await resp.json(content_type=None)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, ValueError):
        result.errors += 1
        return
    result.latencies_ms.append((time.perf_counter() - t0) * 1000)
    if status == 200 and (reply.get("payment") or {}).get("state") == "SUCCEEDED":
        result.paid += 1
    elif status == 200:
        result.declined += 1
    elif status == 202:
        result.accepted += 1
    elif status == 503:
        result.refused += 1
        return
    else:
        result.errors += 1
        return
    result.order_ids.append(str(body["order_id"]))


def _run(coro: Coroutine[Any, Any, BurstResult]) -> BurstResult:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m paychaos_targets.paystack.burst", description=__doc__)
    parser.add_argument("--merchant", required=True, help="merchant base URL")
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--count", type=int, help="checkouts to send")
    amount.add_argument("--duration", type=float, help="seconds to keep sending")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    result = _run(
        burst(
            args.merchant,
            count=args.count,
            duration=args.duration,
            concurrency=args.concurrency,
            seed=args.seed,
        )
    )
    summary = result.summary()
    print(json.dumps(summary) if args.json else " ".join(f"{k}={v}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
