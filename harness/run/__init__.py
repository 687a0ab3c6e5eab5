"""Running an experiment: a plan fixed before anything starts, then phases composed in one function.

    plan_run → prepare → target up → steady state → load (schedule, guards) → heal → settle → verify

The modules beside it serve only the run: the fault schedule, the guards and
the progress display.
"""

from __future__ import annotations

from paychaos.run._plan import RunOptions, RunPlan, invariant_specs, not_checked, plan_run, scenario_weights
from paychaos.run._runner import RunResult, run_experiment

__all__ = [
    "RunOptions",
    "RunPlan",
    "RunResult",
    "invariant_specs",
    "not_checked",
    "plan_run",
    "run_experiment",
    "scenario_weights",
]
