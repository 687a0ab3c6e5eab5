"""Load shapes as functions of time."""

from __future__ import annotations

import pytest

from paychaos.experiment import Load
from paychaos.load import users_at


def _load(**kwargs: object) -> Load:
    return Load.model_validate({"users": 10, "spawn_rate": 5, "duration": "60s", **kwargs})


def test_constant_holds_then_stops() -> None:
    load = _load()
    assert [users_at(load, t) for t in (0, 30, 59.9)] == [(10, 5.0)] * 3
    assert users_at(load, 60) is None


def test_ramp_climbs_then_holds() -> None:
    load = _load(shape={"type": "ramp", "start": 2, "over": "20s"})
    assert users_at(load, 0) == (2, 5.0)
    assert users_at(load, 10) == (6, 5.0)
    assert users_at(load, 20) == (10, 5.0)
    assert users_at(load, 59) == (10, 5.0)


def test_spike_multiplies_the_users_for_its_window_and_arrives_at_once() -> None:
    load = _load(shape={"type": "spike", "at": "10s", "multiple": 3, "for": "5s"})
    assert users_at(load, 9.9) == (10, 5.0)
    assert users_at(load, 10) == (30, 20.0)  # the surplus of 20 users within a second
    assert users_at(load, 14.9) == (30, 20.0)
    assert users_at(load, 15) == (10, 5.0)


def test_stages_follow_each_other_and_end_with_the_last() -> None:
    load = _load(shape={"type": "stages", "stages": [
        {"duration": "10s", "users": 5}, {"duration": "5s", "users": 50, "spawn_rate": 50},
        {"duration": "10s", "users": 1}]})  # fmt: skip
    assert load.total_duration == 25
    assert users_at(load, 0) == (5, 5.0)
    assert users_at(load, 12) == (50, 50.0)
    assert users_at(load, 24) == (1, 5.0)
    assert users_at(load, 25) is None


@pytest.mark.parametrize("t", [0.0, 0.5, 7.3, 29.99])
def test_users_never_negative(t: float) -> None:
    load = _load(duration="30s", shape={"type": "ramp", "over": "30s"})
    result = users_at(load, t)
    assert result is not None
    assert result[0] >= 0
