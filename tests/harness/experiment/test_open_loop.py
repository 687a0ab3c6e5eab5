"""An open-loop load in an experiment file: arrival_rate, max_users, shapes in arrivals/s, --quick."""

from __future__ import annotations

from pathlib import Path

import pytest

from paychaos.errors import InvalidInput
from paychaos.experiment import Experiment, Load, json_schema, load_experiment, quick
from paychaos.experiment._model import MAX_USERS, RampShape, StagesShape
from paychaos.invariants import REGISTRY
from tests.conftest import ROOT

PAYSTACK = ROOT / "targets" / "paystack"


def _file(tmp_path: Path, load: str, extra: str = "") -> Experiment:
    path = tmp_path / "x.yaml"
    path.write_text(f"name: t\ntarget: {{path: {PAYSTACK}}}\nload: {load}\n{extra}")
    return load_experiment(path, invariants=REGISTRY).experiment


def test_arrival_rate_makes_an_open_loop_with_a_default_bound_on_users(tmp_path: Path) -> None:
    load = _file(tmp_path, "{arrival_rate: 40, duration: 20s}").load
    assert load.open_loop
    assert (load.arrival_rate, load.max_users, load.max_in_flight) == (40, None, 400)
    assert load.describe() == "40 arrivals/s (at most 400 in flight), 20s"
    given = _file(tmp_path, "{arrival_rate: 40, duration: 20s, max_users: 500}").load
    assert given.max_in_flight == 500
    huge = Load.model_validate({"arrival_rate": 50_000, "duration": "1s"})
    assert huge.max_in_flight == MAX_USERS  # 10 × the rate, capped


def test_a_closed_loop_is_what_it_was(tmp_path: Path) -> None:
    load = _file(tmp_path, "{users: 20, duration: 40s, shape: {type: ramp, start: 2, over: 10s}}").load
    assert not load.open_loop
    assert load.describe() == "20 users, 40s"
    assert isinstance(load.shape, RampShape)
    assert load.shape.start == 2


def test_the_default_bound_covers_the_shapes_peak_and_every_process() -> None:
    spike = Load.model_validate({"arrival_rate": 10, "duration": "20s",
                                 "shape": {"type": "spike", "at": "5s", "multiple": 3, "for": "2s"}})  # fmt: skip
    assert (spike.peak_rate, spike.max_in_flight) == (30, 300)
    slow = Load.model_validate({"arrival_rate": 0.1, "duration": "20s", "processes": 4})
    assert slow.max_in_flight == 4  # a user per process at least
    stages = Load.model_validate({"shape": {"type": "stages", "stages": [
        {"duration": "10s", "arrival_rate": 20}, {"duration": "5s", "arrival_rate": 60}]}})  # fmt: skip
    assert stages.open_loop
    assert (stages.peak_rate, stages.max_in_flight, stages.total_duration) == (60, 600, 15)


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("{users: 5, arrival_rate: 40}", "load: give users (a closed loop"),
        ("{arrival_rate: 40, spawn_rate: 5}", "spawn_rate is for users"),
        ("{arrival_rate: 40, wait: 1s}", "wait is the pause between a user's iterations"),
        ("{users: 5, max_users: 50}", "max_users bounds an open-loop load (with arrival_rate)"),
        ("{arrival_rate: 0}", "load.arrival_rate: Input should be greater than 0"),
        ("{arrival_rate: 200000}", "load.arrival_rate: Input should be less than or equal to 100000"),
        ("{arrival_rate: 40, max_users: 0}", "load.max_users: Input should be greater than or equal to 1"),
        ("{arrival_rate: 40, max_users: 1, processes: 2}", "give each process a user at least (max_users: 2)"),
        ("{arrival_rate: 60000, shape: {type: spike, at: 1s, multiple: 2, for: 1s}}",
         "the peak arrival rate is 120,000/s; at most 100,000/s"),
        ("{users: 5, shape: {type: ramp, start: 2.5, over: 5s}}", "a whole number (got 2.5)"),
        ("{shape: {type: stages, stages: [{duration: 5s, arrival_rate: 5}, {duration: 5s, users: 5}]}}",
         "shape.stages[1] gives users but other stages give arrival_rate"),
        ("{shape: {type: stages, stages: [{duration: 5s, users: 5, arrival_rate: 5}]}}",
         "a stage gives users (closed loop) or arrival_rate (open loop), not both"),
        ("{shape: {type: stages, stages: [{duration: 5s}]}}", "a stage needs users (closed loop) or arrival_rate"),
        ("{shape: {type: stages, stages: [{duration: 5s, arrival_rate: 5, spawn_rate: 9}]}}",
         "spawn_rate is for users; an open-loop stage"),
        ("{arrival_rate: 5, shape: {type: stages, stages: [{duration: 5s, arrival_rate: 5}]}}",
         "a stages shape gives each stage its arrival_rate; remove load.arrival_rate"),
        ("{arrival_rate: 5, shape: {type: stages, stages: [{duration: 5s, users: 5}]}}",
         "for an open loop, give every stage an arrival_rate"),
    ],
)  # fmt: skip
def test_mistakes_say_what_to_write(tmp_path: Path, load: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _file(tmp_path, load)
    assert message in str(caught.value)
    assert ":3:" in str(caught.value)  # located on the load's line


def test_quick_scales_an_open_loops_times_and_with_quick_arrival_rate_its_rates(tmp_path: Path) -> None:
    experiment = _file(
        tmp_path,
        "{arrival_rate: 40, duration: 20s, max_users: 500, shape: {type: ramp, start: 8, over: 10s}}",
        "quick: {scale: 0.5, arrival_rate: 10}\n",
    )
    small = quick(experiment).load
    assert (small.duration, small.arrival_rate, small.max_users) == (10, 10, 125)
    assert isinstance(small.shape, RampShape)
    assert (small.shape.start, small.shape.over) == (2, 5)
    # what Locust's process reads back is the same load
    assert Load.model_validate(small.model_dump(mode="json", by_alias=True, exclude_defaults=True)) == small


def test_quick_arrival_rate_scales_every_stage_in_proportion(tmp_path: Path) -> None:
    experiment = _file(
        tmp_path,
        "{shape: {type: stages, stages: [{duration: 10s, arrival_rate: 20}, {duration: 10s, arrival_rate: 80}]}}",
        "quick: {arrival_rate: 40}\n",
    )
    small = quick(experiment).load
    assert isinstance(small.shape, StagesShape)
    assert [(s.duration, s.arrival_rate) for s in small.shape.stages] == [(2.5, 10), (2.5, 40)]
    assert small.arrival_rate is None


def test_quick_without_a_rate_leaves_the_rate_alone(tmp_path: Path) -> None:
    small = quick(_file(tmp_path, "{arrival_rate: 40, duration: 20s}")).load
    assert (small.duration, small.arrival_rate, small.max_users) == (5, 40, None)


@pytest.mark.parametrize(
    ("load", "quick_", "message"),
    [
        ("{arrival_rate: 40}", "{users: 3}", "quick.users is for a closed-loop load"),
        ("{users: 4}", "{arrival_rate: 3}", "quick.arrival_rate is for an open-loop load"),
    ],
)
def test_quick_speaks_the_loads_language(tmp_path: Path, load: str, quick_: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _file(tmp_path, load, f"quick: {quick_}\n")


def test_the_json_schema_describes_the_open_loop() -> None:
    load = json_schema()["$defs"]["Load"]["properties"]
    assert {"arrival_rate", "max_users"} <= set(load)
    assert "open loop" in load["arrival_rate"]["anyOf"][0].get("description", "") + load["arrival_rate"].get(
        "description", ""
    )
    stage = json_schema()["$defs"]["Stage"]["properties"]
    assert {"users", "arrival_rate"} <= set(stage)
