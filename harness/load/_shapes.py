"""Load shapes as plain functions of time: how many users, arriving how fast, at second ``t``.

Locust's ``LoadTestShape.tick`` calls :func:`users_at` (in the Locust process);
tests and the progress display call it directly. An open-loop load's shape is a
rate of arrivals instead (:mod:`paychaos.load._arrivals`); its users are only the
pool that takes them, all started at once and kept until the arrivals end.

>>> from paychaos.experiment import Load
>>> users_at(Load(users=10, duration=60), 5.0)
(10, 10.0)
>>> users_at(Load(users=10, duration=60), 61.0) is None
True
"""

from __future__ import annotations

from paychaos.experiment import ConstantShape, Load, RampShape, SpikeShape, StagesShape

OPEN_GRACE = 1.0
"""Seconds an open loop keeps its users after its arrivals end. Each process's arrivals begin when
its users are ready, a little after Locust's clock starts; the grace lets the last ones start
before Locust stops the users (those still in an iteration then finish it, as in a closed loop)."""


def users_at(load: Load, t: float) -> tuple[int, float] | None:
    """(user count, spawn rate) the load should have at ``t`` seconds, or None once it is over."""
    if load.open_loop:
        if t >= load.total_duration + OPEN_GRACE:
            return None
        # every user at once: Locust spawns floor(spawn rate) users per second, all in one go here
        return load.max_in_flight, float(load.max_in_flight)
    if t >= load.total_duration:
        return None
    shape = load.shape
    if isinstance(shape, ConstantShape):
        return load.users, load.spawn_rate
    if isinstance(shape, RampShape):
        if t >= shape.over:
            return load.users, load.spawn_rate
        users = shape.start + (load.users - shape.start) * t / shape.over
        return round(users), load.spawn_rate
    if isinstance(shape, SpikeShape):
        if shape.at <= t < shape.at + shape.for_:
            peak = round(load.users * shape.multiple)
            # A spike arrives at once: spawn the whole surplus within a second.
            return peak, float(max(load.spawn_rate, peak - load.users))
        return load.users, load.spawn_rate
    assert isinstance(shape, StagesShape)
    elapsed = 0.0
    for stage in shape.stages:
        elapsed += stage.duration
        if t < elapsed:
            return stage.users or 0, stage.spawn_rate or load.spawn_rate
    return None  # pragma: no cover - t < total_duration means some stage matched
