"""results.json's JSON Schema (``results.schema.json``, draft 2020-12) and validation against it.

The schema is generated from the models in ``harness/_results_model.py``, never edited by hand;
after changing them, write it again (a test fails until the shipped file is what they generate)::

    python -m paychaos.report.write_schema
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from paychaos._jsonschema import model_schema
from paychaos._results_model import SCHEMA_VERSION, Results
from paychaos.errors import InvalidInput

SCHEMA_NAME = "results.schema.json"
SHIPPED = Path(__file__).with_name(SCHEMA_NAME)  # in the source tree, where write_schema writes it
_MAX_LISTED = 10


class ResultsInvalid(InvalidInput):
    """A results structure does not match the schema; the message lists where and why."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def generated_schema() -> dict[str, Any]:
    """The schema of results.json as the models make it (what ``results.schema.json`` must hold)."""
    return model_schema(Results, mode="validation")


def schema_text() -> str:
    """The generated schema as the shipped file writes it."""
    return json.dumps(generated_schema(), indent=2, ensure_ascii=False) + "\n"


@functools.cache
def results_schema() -> dict[str, Any]:
    """The schema of results.json version 1, as data (the shipped ``results.schema.json``)."""
    text = resources.files("paychaos.report").joinpath(SCHEMA_NAME).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    schema = results_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_results(data: Any) -> None:
    """Raise :class:`ResultsInvalid` unless ``data`` is a results.json (version 1) as the runner writes it."""
    if isinstance(data, dict) and data.get("schema_version") not in (None, SCHEMA_VERSION):
        version = data.get("schema_version")
        raise ResultsInvalid(
            f"results: schema_version {version!r}; this paychaos reads version {SCHEMA_VERSION}",
            [f"schema_version: {version!r}"],
        )
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if not errors:
        return
    problems = [f"{where(e.absolute_path)}: {_message(e)}" for e in errors]
    listed = "\n".join(f"  - {p}" for p in problems[:_MAX_LISTED])
    more = f"\n  … and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    raise ResultsInvalid(
        f"results do not match results.json schema version {SCHEMA_VERSION} "
        f"({len(problems)} problem(s)):\n{listed}{more}",
        problems,
    )


def where(path: Iterable[str | int]) -> str:
    """``invariants[0].status`` for the path ['invariants', 0, 'status']; ``(top level)`` for []."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(error: ValidationError) -> str:
    # "… is not valid under any of the given schemas" says little; the closest branch of a oneOf says more.
    best = best_match([error])
    inner = where(best.absolute_path)[len(where(error.absolute_path)) :].lstrip(".")
    return f"{inner}: {best.message}" if inner else best.message
