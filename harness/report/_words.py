"""How a verdict is said to people: its promise, what it checked, how it converged, its amounts in money.

The promise and the unit come from the invariant's registry entry
(``paychaos.invariants.REGISTRY``: one source, which the README's invariant table
follows); custom invariants are said by what they are (an ``sql`` one by its
description). Amounts in the evidence are whole minor units; the report shows
them in the target's currency (results.json's ``target.currency``).
"""

from __future__ import annotations

import re
from typing import Any

from paychaos.invariants import REGISTRY, InvariantDef
from paychaos.system import CurrencySpec, format_amount

# Example fields that hold an amount of money in minor units (the built-in invariants' evidence, the
# history's ``amount``); besides these, any field named ``*_amount`` or ``amount_*``.
MONEY_FIELDS = frozenset({
    "amount", "charged", "discount", "allowed_discount", "cap_amount", "debited", "refunded", "paid",
    "amount_held", "balance", "balance_after", "lowest_balance", "credit_limit", "off_by", "at_stake",
})  # fmt: skip
CLIENT_SUCCESS = 0.01  # an error rate at most this reads as "the clients saw success" on the chart


def definition(name: str) -> InvariantDef | None:
    """The registry entry of a verdict's invariant (``sql: …`` is ``sql``); None if this paychaos has
    none of that name."""
    return REGISTRY.get(name.split(":", 1)[0].strip()) or REGISTRY.get(name)


def promise(name: str) -> str:
    """What the invariant promises, in one sentence; "" if unknown."""
    kind, _, rest = name.partition(":")
    rest = rest.strip()
    if kind == "sql" and rest:
        return sentence(rest)
    if kind == "python" and rest:
        return f"The function {rest} returns no violations."
    found = definition(name)
    return found.promise if found is not None else ""


def sentence(text: str) -> str:
    """``no huge overdraft`` → ``No huge overdraft.``"""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def checked(verdict: dict[str, Any]) -> str:
    """``checked 4,812 orders``; "" when the invariant did not say how many it examined."""
    n = verdict.get("checked")
    if not isinstance(n, int) or isinstance(n, bool):
        return ""
    found = definition(str(verdict.get("invariant") or ""))
    return "checked " + (found.unit.of(n) if found is not None else f"{n:,} items")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def convergence(verdict: dict[str, Any], settle: dict[str, Any] | None) -> str:
    """How an eventual invariant converged after the heal: ``held after 2.3 s``, ``still violated at the
    deadline (60 s)``; ``not eventual`` for the others. ``settle``: results.json's settle record."""
    name, status = str(verdict.get("invariant") or ""), verdict.get("status")
    found = definition(name)
    if found is None:
        return ""
    if not found.eventual:
        return "not eventual"
    after = verdict.get("converged_after")
    if status == "holds":
        return "held at the end" if after is None else f"held after {_seconds(float(after))}"
    deadline = ((settle or {}).get("deadlines") or {}).get(name)
    rounds = [(p["at"], p["violations"][name]) for p in (settle or {}).get("polls") or []
              if name in (p.get("violations") or {})]  # fmt: skip
    counts = [n for _, n in rounds]
    if status == "could_not_check":
        if not rounds or counts[-1] is None:
            return "could not check"
        at, n = rounds[-1]  # e.g. a run stopped while settling: the last round it got to
        return f"{n:,} violation(s) at its last round, {_seconds(float(at))} after the heal"
    if counts and counts[-1] == 0:  # it held while settling, and no longer at the end
        return "held while settling, violated again at the end"
    within = f" ({_seconds(float(deadline))})" if deadline is not None else ""
    return "still violated at the deadline" + within


def currency_of(results: dict[str, Any]) -> CurrencySpec | None:
    """The target's currency as results.json records it; None if it records none."""
    record = (results.get("target") or {}).get("currency")
    if not isinstance(record, dict):
        return None
    try:
        return CurrencySpec.model_validate(record)
    except ValueError:
        return None


_MONEY_NAME = re.compile(r"(^amount_|_amount$)")


def is_money(key: str, value: Any) -> bool:
    """Whether an example's field holds an amount of money: a whole number under a money name."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    key = key.lower()
    return key in MONEY_FIELDS or bool(_MONEY_NAME.search(key))


def money(minor: int, currency: CurrencySpec | None) -> str:
    """``91.07 CNY`` (``9,107 (minor units)`` when the target declares no currency)."""
    return format_amount(minor, currency)
