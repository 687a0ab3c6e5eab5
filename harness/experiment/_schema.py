"""The experiment schema as JSON Schema, for editors (``paychaos schema > experiment.schema.json``).

It describes the file as written (``duration: 30s``, ``invariants: [name]``), and every
experiment the loader accepts matches it; the loader checks more (names against the target).
"""

from __future__ import annotations

from typing import Any

from paychaos._jsonschema import input_schema
from paychaos.experiment._model import Experiment


def json_schema() -> dict[str, Any]:
    return input_schema(
        Experiment,
        title="paychaos experiment",
        description="What to run, how hard, what to break and what must hold (experiments/*.yaml). "
        "Durations are written 250ms, 30s, 1m30s. `paychaos validate` checks more than this schema: "
        "every name against the target, and the times against each other.",
    )
