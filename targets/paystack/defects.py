"""Defect switches: each turns one correct behaviour into the broken one from a real incident.

Switches are read once at start-up from ``PAYSTACK_DEFECTS`` (comma-separated)
or ``--defect NAME`` and never change while a service runs.

>>> parse_defects("retry-new-key, no-reconciler")
frozenset({'no-reconciler', 'retry-new-key'})
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    name: str
    service: str
    breaks: str


DEFECTS: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect("retry-new-key", "merchant", "retries a timed-out payment with a new idempotency key"),
        Defect("timeout-as-failure", "gateway", "marks a bank timeout FAILED and never refunds it"),
        Defect("failover-on-timeout", "gateway", "retries a timed-out payout on channel B"),
        Defect("notify-fire-and-forget", "notifier", "makes one delivery attempt, never retries"),
        Defect("no-reconciler", "reconciler", "never resolves UNKNOWN or PENDING payments"),
        Defect("credit-check-race", "bank", "checks the credit line, then debits without a lock"),
        Defect("drop-on-overload", "merchant", "accepts orders into memory only, drops them when full"),
        Defect("uncapped-promo", "gateway", "applies the configured promotion without its caps"),
        Defect("webhook-not-idempotent", "merchant", "fulfils an order on every delivery"),
        Defect("webhook-accepts-unsigned", "merchant", "accepts a notification that carries no signature"),
    )
}

ENV_VAR = "PAYSTACK_DEFECTS"


def parse_defects(text: str) -> frozenset[str]:
    """Parse a comma-separated list; unknown names raise ValueError with a did-you-mean."""
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    for name in sorted(names):
        if name not in DEFECTS:
            close = difflib.get_close_matches(name, DEFECTS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown defect {name!r}; known defects: {', '.join(sorted(DEFECTS))}{hint}")
    return names


def active_defects(extra: list[str] | None = None) -> frozenset[str]:
    """Defects from the environment plus any given on the command line."""
    return parse_defects(",".join([os.environ.get(ENV_VAR, ""), *(extra or [])]))
