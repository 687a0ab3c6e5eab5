"""The experiment schema as JSON Schema, for editors (``paychaos schema > experiment.schema.json``)."""

from __future__ import annotations

from typing import Any

from harness.experiment._model import Experiment


def json_schema() -> dict[str, Any]:
    schema = Experiment.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "paychaos experiment"
    return schema
