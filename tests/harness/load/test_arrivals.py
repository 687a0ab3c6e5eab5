"""Open-loop load as functions of time: the arrival rate, each arrival's intended time, the per-second tally."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from paychaos.experiment import Load
from paychaos.load import arrival_times, rate_at, users_at
from paychaos.load._arrivals import ArrivalTally
from paychaos.load._shapes import OPEN_GRACE


def _load(**kwargs: Any) -> Load:
    return Load.model_validate({"arrival_rate": 40, "duration": "20s", **kwargs})


def _count(times: list[float], start: float, end: float) -> int:
    return sum(start <= t < end for t in times)


def test_a_constant_rate_starts_evenly_spaced_arrivals_for_the_whole_load() -> None:
    load = _load()
    times = list(arrival_times(load))
    assert len(times) == 800  # rate × duration
    assert times[:3] == [0.0, 0.025, 0.05]
    assert times[-1] == pytest.approx(19.975)
    assert [rate_at(load, t) for t in (0, 10, 19.99)] == [40.0] * 3
    assert rate_at(load, 20) is None
    assert rate_at(load, -1) is None


def test_a_ramp_climbs_from_its_start_rate_then_holds() -> None:
    load = _load(shape={"type": "ramp", "start": 5, "over": "10s"})
    assert [rate_at(load, t) for t in (0, 5, 10, 15)] == [5.0, 22.5, 40.0, 40.0]
    times = list(arrival_times(load))
    assert _count(times, 0, 10) == 225  # the area under the ramp: (5 + 40) / 2 × 10
    assert _count(times, 10, 20) == 400
    assert _count(times, 0, 1) in (6, 7)  # about 5.75/s on average in the first second
    assert _count(times, 9, 10) in (38, 39)  # about 38.25/s in the last
    gaps = [b - a for a, b in itertools.pairwise(times[:225])]
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(gaps))  # they crowd together


def test_a_ramp_from_zero_starts_at_zero_and_still_arrives() -> None:
    times = list(arrival_times(_load(duration="10s", shape={"type": "ramp", "over": "10s"})))
    assert times[0] == 0.0
    assert len(times) == 200  # 40 / 2 × 10
    assert times[1] == pytest.approx((2 / (40 / 10)) ** 0.5)  # area 1 under 4t: t² × 2 = 1


def test_a_spike_multiplies_the_rate_for_its_window() -> None:
    load = _load(arrival_rate=10, shape={"type": "spike", "at": "10s", "multiple": 3, "for": "5s"})
    assert [rate_at(load, t) for t in (9.9, 10, 14.9, 15)] == [10.0, 30.0, 30.0, 10.0]
    times = list(arrival_times(load))
    assert len(times) == 10 * 15 + 30 * 5
    assert _count(times, 10, 15) == 150


def test_stages_give_each_stage_its_rate_and_end_with_the_last() -> None:
    load = Load.model_validate({"shape": {"type": "stages", "stages": [
        {"duration": "1500ms", "arrival_rate": 4}, {"duration": "1s", "arrival_rate": 10}]}})  # fmt: skip
    assert [rate_at(load, t) for t in (0, 1.49, 1.5, 2.49)] == [4.0, 4.0, 10.0, 10.0]
    assert rate_at(load, 2.5) is None
    times = list(arrival_times(load))
    assert times[:6] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25])
    assert times[6:] == pytest.approx([1.5 + n / 10 for n in range(10)])


@pytest.mark.parametrize("shape", [None, {"type": "ramp", "start": 3, "over": "7s"},
                                   {"type": "spike", "at": "3s", "multiple": 2.5, "for": "2s"}])  # fmt: skip
def test_a_share_of_the_rate_per_process_adds_up_to_the_rate(shape: dict[str, Any] | None) -> None:
    load = _load(arrival_rate=33, duration="10s", processes=3, **({"shape": shape} if shape else {}))
    whole = list(arrival_times(load))
    third = list(arrival_times(load, share=1 / load.senders))
    assert len(third) * 3 == pytest.approx(len(whole), abs=3)


def test_intended_times_are_fixed_in_advance_and_increase() -> None:
    load = _load(shape={"type": "spike", "at": "5s", "multiple": 4, "for": "1s"})
    first, again = list(arrival_times(load)), list(arrival_times(load))
    assert first == again
    assert all(a < b for a, b in itertools.pairwise(first))
    assert all(0 <= t < load.total_duration for t in first)


def test_an_open_loop_starts_every_user_at_once_and_keeps_them_past_the_arrivals() -> None:
    load = _load(max_users=50)
    assert users_at(load, 0) == (50, 50.0)  # a spawn rate of all of them: one batch
    assert users_at(load, 20 + OPEN_GRACE / 2) == (50, 50.0)
    assert users_at(load, 20 + OPEN_GRACE) is None


def test_the_tally_writes_one_line_per_second_once_the_second_is_over() -> None:
    tally = ArrivalTally(t0=100.0, process=1, seconds=3)
    tally.add(0.0, started=True)
    tally.add(0.9, started=False)
    assert tally.due(0.99) == []
    assert tally.due(1.0) == [{"event": "arrivals", "at": 100.0, "process": 1, "offered": 2, "started": 1,
                               "dropped": 1}]  # fmt: skip
    assert tally.due(1.5) == []  # each second once
    tally.add(1.2, started=True)
    assert [line["at"] for line in tally.rest(1.5)] == [101.0]  # stopped early: up to the second under way
    assert [(line["at"], line["offered"]) for line in tally.rest()] == [(102.0, 0)]  # an empty second too
    assert tally.rest() == []
