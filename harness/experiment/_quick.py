"""``--quick``: the same experiment with every duration of the load and its faults scaled down."""

from __future__ import annotations

import math
from typing import Any

from paychaos.experiment._model import MAX_USERS, Experiment, Load, RampShape, SpikeShape, StagesShape


def quick(experiment: Experiment) -> Experiment:
    """Scale load, shape, fault and guard durations by ``quick.scale``.

    Settling is not scaled: eventual invariants need the same time after the
    heal however long the load lasted. ``quick.settle``, if given, replaces the
    settle timeout, which caps every invariant's ``within``. ``quick.users``
    replaces a closed loop's users, and a ramp's start or each stage's users follow
    it in proportion; ``quick.arrival_rate`` an open loop's rate, and the shape's
    rates and max_users follow it in proportion.
    """
    scale = experiment.quick.scale

    def k(seconds: float) -> float:
        # To the millisecond: 12 s × 0.3 reads 3.6 s in the report, not 3.5999999999999996 s.
        return round(seconds * scale, 3)

    load = experiment.load
    shape = load.shape
    if isinstance(shape, RampShape):
        shape = shape.model_copy(update={"over": k(shape.over)})
    elif isinstance(shape, SpikeShape):
        shape = shape.model_copy(update={"at": k(shape.at), "for_": k(shape.for_)})
    elif isinstance(shape, StagesShape):
        stages = [s.model_copy(update={"duration": k(s.duration)}) for s in shape.stages]
        shape = shape.model_copy(update={"stages": stages})
    load_update: dict[str, Any] = {"duration": k(load.duration), "shape": shape}
    if experiment.quick.users is not None:
        shape, users = _peopled(load, shape, experiment.quick.users)
        load_update.update(users=users, shape=shape)
    if experiment.quick.arrival_rate is not None:
        shape, rates = _rated(load, shape, experiment.quick.arrival_rate)
        load_update.update(rates, shape=shape)
    faults = [
        f.model_copy(update={"at": k(f.at), "duration": None if f.duration is None else k(f.duration)})
        for f in experiment.faults
    ]
    guards = [g.model_copy(update={"for_": k(g.for_)}) for g in experiment.guards]
    settle = experiment.settle
    if experiment.quick.settle is not None:
        settle = settle.model_copy(update={"timeout": experiment.quick.settle})
    return experiment.model_copy(
        update={
            "load": load.model_copy(update=load_update),
            "faults": faults,
            "guards": guards,
            "settle": settle,
        }
    )


def _peopled(load: Load, shape: Any, users: int) -> tuple[Any, int]:
    """A closed loop's shape and users with its peak brought to ``users``, the rest in proportion: a
    ramp's start, or each stage's users (a stages shape sets its own, so the load's users alone would
    change nothing). Never below one user."""
    if isinstance(shape, StagesShape):
        peak = max(s.users or 0 for s in shape.stages) or 1
        stages = [
            s.model_copy(update={"users": max(1, round((s.users or 0) * users / peak))}) for s in shape.stages
        ]
        return shape.model_copy(update={"stages": stages}), users
    if isinstance(shape, RampShape):
        shape = shape.model_copy(update={"start": float(min(users, round(shape.start * users / load.users)))})
    return shape, users


def _rated(load: Load, shape: Any, rate: float) -> tuple[Any, dict[str, Any]]:
    """An open loop's shape and load keys with its rate brought to ``rate``, the rest in proportion.

    The rate is ``load.arrival_rate``, or a stages shape's highest stage.
    """
    ratio = rate / (load.arrival_rate or load.peak_rate)
    update: dict[str, Any] = {}
    if load.arrival_rate is not None:
        update["arrival_rate"] = rate
    if isinstance(shape, RampShape):
        shape = shape.model_copy(update={"start": shape.start * ratio})
    elif isinstance(shape, StagesShape):
        stages = [
            s.model_copy(update={"arrival_rate": (s.arrival_rate or 0.0) * ratio}) for s in shape.stages
        ]
        shape = shape.model_copy(update={"stages": stages})
    if load.max_users is not None:
        update["max_users"] = min(max(math.ceil(load.max_users * ratio), load.senders), MAX_USERS)
    return shape, update
