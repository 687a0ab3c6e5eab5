"""JSON Schemas generated from the models: what a file may hold, never written by hand.

>>> input_schema(Target, title="paychaos target", description="…")["$schema"]  # doctest: +SKIP
'https://json-schema.org/draft/2020-12/schema'
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import CoreSchema, SchemaSerializer, core_schema

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_LINE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")  # one line break, not a blank line between paragraphs


class _Generator(GenerateJsonSchema):
    # Titles made from field names ("Run Id") say nothing the property name does not; descriptions do.
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        # A default as a file would write it: a duration's is "30s", not the 30.0 it holds.
        json_schema: dict[str, Any] = super().default_schema(schema)
        if "default" in json_schema and "default" in schema:
            try:
                serializer = SchemaSerializer(schema["schema"])
                json_schema["default"] = serializer.to_python(schema["default"], mode="json", by_alias=True)
            except Exception:  # a model default (its refs live elsewhere) is written right already
                pass
        return json_schema

    def dict_schema(self, schema: core_schema.DictSchema) -> dict[str, Any]:
        # pydantic writes dict[Name, X] as patternProperties, which lets any other key through with
        # any value; the models refuse such keys, so say so with propertyNames.
        json_schema: dict[str, Any] = super().dict_schema(schema)
        patterns = json_schema.get("patternProperties")
        if patterns and len(patterns) == 1 and "additionalProperties" not in json_schema:
            ((pattern, values),) = patterns.items()
            del json_schema["patternProperties"]
            names = json_schema.setdefault("propertyNames", {})
            names["pattern"] = pattern
            json_schema["additionalProperties"] = values
        return json_schema

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> dict[str, Any]:
        generated = super().generate(schema, mode)
        return {"$schema": DRAFT, **_unwrapped(generated)}


def _unwrapped(node: Any) -> Any:
    """Descriptions taken from docstrings, their lines joined: a schema reader wraps them itself."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            joined = key == "description" and isinstance(value, str)
            out[key] = _LINE_BREAK.sub(" ", value) if joined else _unwrapped(value)
        return out
    if isinstance(node, list):
        return [_unwrapped(item) for item in node]
    return node


def model_schema(model: type[BaseModel], *, mode: JsonSchemaMode, **extra: Any) -> dict[str, Any]:
    """``model``'s JSON Schema (draft 2020-12, keys as written in files), with ``extra`` keys on top."""
    schema = {**model.model_json_schema(by_alias=True, mode=mode, schema_generator=_Generator), **extra}
    # What the schema is first, the definitions it refers to last.
    first = [key for key in ("$schema", "$id", "title", "description") if key in schema]
    rest = [key for key in schema if key not in first and key != "$defs"]
    return {key: schema[key] for key in [*first, *rest, *(["$defs"] if "$defs" in schema else [])]}


def input_schema(model: type[BaseModel], *, title: str, description: str) -> dict[str, Any]:
    """What a YAML file read into ``model`` may contain: durations as ``30s``, shorthands as written.

    Generated in validation mode: each before-validator declares the input it accepts
    (``json_schema_input_type``), so the schema describes the file, not the parsed model.
    """
    return model_schema(model, mode="validation", title=title, description=description)
