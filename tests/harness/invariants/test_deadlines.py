"""When an eventual invariant must hold by: its ``within`` after the heal, capped by the settle timeout."""

from __future__ import annotations

import pytest

from paychaos.invariants import REGISTRY
from paychaos.invariants._checking import Check

HEALED = 1000.0


@pytest.mark.parametrize(
    ("params", "timeout", "deadline"),
    [
        ({"within": "20s"}, 60.0, HEALED + 20),
        ({"within": "90s"}, 60.0, HEALED + 60),  # the settle timeout caps every within
        ({}, 60.0, HEALED + 60),  # no within: the settle timeout
        ({"within": "0s"}, 60.0, HEALED),  # within 0s: hold once the faults are healed, not "no limit"
    ],
)
def test_an_eventual_invariant_must_hold_by_its_within(
    params: dict[str, str], timeout: float, deadline: float
) -> None:
    assert REGISTRY["merchant_notified"].eventual
    assert Check("merchant_notified", params).deadline(HEALED, timeout) == deadline


def test_an_invariant_that_is_not_eventual_has_no_deadline() -> None:
    assert not REGISTRY["exactly_once_debit"].eventual
    assert Check("exactly_once_debit").deadline(HEALED, 60.0) is None
