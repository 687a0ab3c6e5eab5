"""How verdicts are said: each invariant's promise (one source: the registry, which the README's table
follows), the unit of what it checked, how an eventual one converged, amounts as money."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paychaos.invariants import REGISTRY
from paychaos.invariants._base import WORDING
from paychaos.report._words import checked, convergence, currency_of, is_money, money, promise
from paychaos.system import CurrencySpec

ROOT = Path(__file__).resolve().parents[3]
_ROW = re.compile(r"^\| `([a-z_]+)` \| (.+) \| (once|eventual) \|$", re.MULTILINE)


def _readme_table() -> dict[str, tuple[str, str]]:
    """The README's invariant table: name → (holds when, kind)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {name: (holds, kind) for name, holds, kind in _ROW.findall(text)}


def test_every_invariant_has_a_promise_in_one_sentence_and_a_unit() -> None:
    assert set(WORDING) == set(REGISTRY), "give each registered invariant its WORDING in invariants/_base.py"
    for name, definition in REGISTRY.items():
        said = definition.promise
        assert said == WORDING[name].promise
        assert said[0].isupper(), name
        assert said.endswith("."), name
        assert said.count(". ") == 0, f"{name}: one sentence"
        assert definition.unit.one, name
        assert definition.unit.many, name


def test_the_readme_table_says_what_the_registry_promises() -> None:
    """The registry is the source (the report and JUnit say it); the README's "holds when" is the same
    words, as a phrase, with details after it for the custom ones."""
    table = _readme_table()
    assert set(table) == set(REGISTRY)
    for name, definition in REGISTRY.items():
        holds, kind = table[name]
        phrase = definition.promise[0].lower() + definition.promise[1:-1]
        assert holds == phrase or holds.startswith((f"{phrase} (", f"{phrase}; ")), (
            f"README's {name}: {holds!r}; the registry (WORDING) promises {definition.promise!r}"
        )
        assert kind == ("eventual" if definition.eventual else "once"), name


def test_custom_invariants_promise_what_they_are() -> None:
    assert promise("sql: no huge overdraft") == "No huge overdraft."
    assert promise("sql") == "A query of yours returns no rows."
    assert promise("python: checks.money:no_negative_balance") == (
        "The function checks.money:no_negative_balance returns no violations."
    )
    assert promise("a_newer_paychaos_invariant") == ""


def test_checked_counts_have_units() -> None:
    assert checked({"invariant": "no_stuck_orders", "checked": 4812}) == "checked 4,812 orders"
    assert checked({"invariant": "credit_limit", "checked": 1}) == "checked 1 credit line"
    assert checked({"invariant": "sql: x", "checked": None}) == ""
    assert checked({"invariant": "unknown", "checked": 3}) == "checked 3 items"


def test_eventual_invariants_say_how_they_converged() -> None:
    settle = {
        "healed_at": 0.0,
        "deadlines": {"eventual_refund": 60.0, "no_stuck_orders": 30.0, "fulfilled_once": 30.0},
        "polls": [
            {"at": 0.1, "violations": {"eventual_refund": 3, "no_stuck_orders": 9, "fulfilled_once": 0}},
            {"at": 1.1, "violations": {"eventual_refund": 0, "no_stuck_orders": 9}},
            {"at": 30.2, "violations": {"no_stuck_orders": 8}},
        ],
    }
    said = {
        "eventual_refund": convergence(
            {"invariant": "eventual_refund", "status": "holds", "converged_after": 1.14}, settle
        ),
        "no_stuck_orders": convergence({"invariant": "no_stuck_orders", "status": "violated"}, settle),
        "fulfilled_once": convergence({"invariant": "fulfilled_once", "status": "violated"}, settle),
        "conservation": convergence({"invariant": "conservation", "status": "holds"}, settle),
        "unchecked": convergence({"invariant": "merchant_notified", "status": "could_not_check"}, settle),
        "stopped": convergence({"invariant": "no_stuck_orders", "status": "could_not_check"}, settle),
        "slow": convergence(
            {"invariant": "eventual_refund", "status": "holds", "converged_after": 42.4}, settle
        ),
    }
    assert said == {
        "eventual_refund": "held after 1.1 s",
        "no_stuck_orders": "still violated at the deadline (30 s)",
        "fulfilled_once": "held while settling, violated again at the end",
        "conservation": "not eventual",
        "unchecked": "could not check",
        "stopped": "8 violation(s) at its last round, 30 s after the heal",
        "slow": "held after 42 s",
    }
    # results without settle rounds (an older paychaos): no deadline to name
    assert convergence({"invariant": "no_stuck_orders", "status": "violated"}, None) == (
        "still violated at the deadline"
    )
    assert convergence({"invariant": "sql: x", "status": "holds"}, settle) == "not eventual"


@pytest.mark.parametrize(
    ("key", "value", "money_"),
    [("amount", 9107, True), ("credit_limit", 500000, True), ("balance_after", -3, True),
     ("refund_amount", 1, True), ("amount_due", 1, True), ("at_stake", 96454, True), ("net_debits", 3, False), ("payouts", 2, False),
     ("amount", "9107", False), ("amount", True, False), ("attempts", 4, False), ("cap_percent", 20, False)],
)  # fmt: skip
def test_which_fields_are_money(key: str, value: object, money_: bool) -> None:
    assert is_money(key, value) is money_


def test_amounts_read_as_money() -> None:
    cny = currency_of(
        {"target": {"name": "paystack", "defects": [], "currency": {"code": "CNY", "minor_unit": 2}}}
    )
    assert cny == CurrencySpec(code="CNY", minor_unit=2)
    assert money(9107, cny) == "91.07 CNY"
    assert money(500000, cny) == "5,000.00 CNY"
    assert money(-123456789, cny) == "-1,234,567.89 CNY"
    assert money(5000, CurrencySpec(code="JPY", minor_unit=0)) == "5,000 JPY"
    assert currency_of({"target": {"name": "x", "defects": []}}) is None
    assert money(9107, None) == "9,107 (minor units)"
