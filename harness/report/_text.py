"""Plain-text renderings of verdicts and their evidence (JUnit failure texts, terminal output)."""

from __future__ import annotations

import json
from typing import Any

from paychaos._results import STATUS_WORDS, VERDICT_WORDS
from paychaos._results_model import Results
from paychaos.errors import ExitCode
from paychaos.report._words import checked, is_money, money
from paychaos.system import CurrencySpec


def verdict_summary(verdict: dict[str, Any]) -> str:
    """One line: ``64 violation(s): 64 order(s) debited wrongly`` / ``could not check: …`` / ``holds``."""
    status = verdict.get("status")
    reason = str(verdict.get("reason") or "")
    if status == "violated":
        count = verdict.get("count", 0)
        return f"{count} violation(s)" + (f": {reason}" if reason else "")
    if status == "could_not_check":
        return f"{STATUS_WORDS['could_not_check']}: {reason or 'no reason given'}"
    checked = verdict.get("checked")
    return STATUS_WORDS["holds"] + (f" ({checked} checked)" if checked is not None else "")


def run_summary(results: Results, *, full: bool = False) -> str:
    """A run's verdict after its word, in one line: ``17 invariant(s) held``, ``violated: a, b``, ….

    The parts, in order: why the run ended early or is no pass (results.json's ``error``), the
    violated invariants, those that could not be checked; ``N invariant(s) held`` when none of these
    applies. A command's last line (the default) says the first part only, and a tripped guard's
    message after a pass; the report's header (``full``) says every part, then the guard's message.
    Either ends with an open loop's dropped arrivals, when it dropped any.
    """
    violated = [v.invariant for v in results.invariants if v.status == "violated"]
    unchecked = [v.invariant for v in results.invariants if v.status == "could_not_check"]
    parts = [
        results.error or "",
        f"{STATUS_WORDS['violated']}: {', '.join(violated)}" if violated else "",
        f"{STATUS_WORDS['could_not_check']}: {', '.join(unchecked)}" if unchecked else "",
    ]
    said = [p for p in parts if p]
    dropped = _dropped(results)
    if said and not full:
        return "; ".join([said[0], *dropped])
    if not said:
        n = len(results.invariants)
        said.append(f"{n} invariant(s) {VERDICT_WORDS[ExitCode.HELD]}" if n else "no invariant was checked")
    if results.guard is not None:
        said.append(results.guard.message or "a guard tripped")
    return "; ".join([*said, *dropped])


def _dropped(results: Results) -> list[str]:
    """An open loop's dropped arrivals, if any: the load offered was not all started."""
    load = results.load
    if not load.dropped:
        return []
    offered = f" of {load.offered:,}" if load.offered else ""
    return [f"{load.dropped:,}{offered} arrivals dropped (every user busy; raise load.max_users?)"]


def scalar(value: Any, key: str = "", currency: CurrencySpec | None = None) -> str:
    """A value in one short piece of text: null for None, JSON for containers; an amount of money (by
    its field's ``key``) in ``currency``, when there is one."""
    if currency is not None and is_money(key, value):
        return money(value, currency)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def example_lines(example: Any, indent: str = "  ", currency: CurrencySpec | None = None) -> list[str]:
    """An example as indented lines; a list of objects becomes one ``- key=value, …`` line per object.
    Amounts are in ``currency`` when there is one (else as the evidence has them: minor units)."""
    if not isinstance(example, dict):
        return [indent + scalar(example)]
    lines: list[str] = []
    for key, value in example.items():
        if _is_records(value):
            lines.append(f"{indent}{key}:")
            for record in value:
                pairs = (f"{k}={scalar(v, str(k), currency)}" for k, v in record.items())
                lines.append(f"{indent}  - " + ", ".join(pairs))
        elif isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:")
            lines.extend(example_lines(value, indent + "  ", currency))
        else:
            lines.append(f"{indent}{key}: {scalar(value, str(key), currency)}")
    return lines


def verdict_text(
    verdict: dict[str, Any],
    *,
    examples: int = 3,
    report: str | None = None,
    currency: CurrencySpec | None = None,
) -> str:
    """A verdict for a CI log: summary, parameters, the first examples, and where the rest are."""
    lines = [f"{verdict.get('invariant', '?')}: {verdict_summary(verdict)}"]
    if verdict.get("checked") is not None and verdict.get("status") != "holds":
        lines.append(checked(verdict) or f"checked: {verdict['checked']}")
    params = {k: v for k, v in (verdict.get("params") or {}).items() if v is not None}
    if params:
        lines.append("params: " + ", ".join(f"{k}={scalar(v)}" for k, v in params.items()))
    shown = list(verdict.get("examples") or [])
    total = max(int(verdict.get("count") or 0), len(shown))
    for i, example in enumerate(shown[:examples], 1):
        lines.append("")
        lines.append(f"example {i} of {total}:")
        lines.extend(example_lines(example, currency=currency))
    rest = total - min(examples, len(shown))
    if rest > 0 and shown:
        where = f" (the report holds up to {len(shown)}: {report})" if report else ""
        lines.append("")
        lines.append(f"… and {rest} more{where}")
    return "\n".join(lines)
