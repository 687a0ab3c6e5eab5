"""docs/experiments.md stays complete and true: it names every key of the experiment file, and its
complete examples load."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paychaos.experiment import json_schema, load_experiment
from paychaos.invariants import REGISTRY
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "experiments.md").read_text()
PAYSTACK = ROOT / "targets" / "paystack"
# A complete experiment in the page: a ```yaml block whose first line is its name.
EXAMPLES = re.findall(r"^```yaml\n(name:.*?)^```", DOC, re.DOTALL | re.MULTILINE)


def properties(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every property of the schema's top level and of every model in ``$defs`` that it reaches,
    inline objects included: where it is (``LinkFault``, ``(top level)``), its name as the file
    writes it (the alias), and its schema."""
    defs = schema.get("$defs", {})
    seen: set[str] = set()
    stack: list[tuple[str, Any]] = [("(top level)", schema)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, list):
            stack.extend((where, item) for item in node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in seen:
                    seen.add(name)
                    stack.append((name, defs[name]))
            found = node.get("properties")
            if isinstance(found, dict):
                yield from ((where, key, value) for key, value in found.items())
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    stack.extend((f"{where}.{name}", prop) for name, prop in value.items())
                elif key != "$defs":
                    stack.append((where, value))


def keys(schema: dict[str, Any]) -> Iterator[str]:
    """Every property name (as the file writes it: the alias) of the schema's top level and of every
    model in ``$defs`` that it reaches, inline objects included."""
    return (name for _, name, _ in properties(schema))


def described(prop: dict[str, Any], defs: dict[str, Any]) -> bool:
    """Whether an editor has words to show for the property: its own description, or, for a property
    that is only a reference to a model (``$ref``, or pydantic's older ``allOf: [{$ref}]``), the model's."""
    if str(prop.get("description", "")).strip():
        return True
    wrapped = prop.get("allOf")
    ref = wrapped[0].get("$ref") if isinstance(wrapped, list) and len(wrapped) == 1 else prop.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return False
    return bool(str(defs[ref.removeprefix("#/$defs/")].get("description", "")).strip())


def test_every_key_of_the_file_is_documented() -> None:
    found = set(keys(json_schema()))
    assert {"name", "target", "for", "json", "toxic", "http", "stages"} <= found, "the walk missed keys"
    assert "for_" not in found, "keys are named as a file writes them (aliases)"
    missing = sorted(key for key in found if f"`{key}`" not in DOC)
    assert not missing, f"docs/experiments.md does not name these keys as `key`: {', '.join(missing)}"


def test_every_key_of_the_schema_has_a_description() -> None:
    # An editor shows the description beside each key it completes: a key without one says nothing.
    schema = json_schema()
    found = list(properties(schema))
    walked = {name for _, name, _ in found}
    assert {"label", "latency", "probability", "stages", "scale", "json"} <= walked, "the walk missed keys"
    bare = sorted(f"{where}.{name}" for where, name, prop in found if not described(prop, schema["$defs"]))
    assert not bare, f"these keys of the experiment schema have no description: {', '.join(bare)}"


def test_the_page_has_complete_examples() -> None:
    assert len(EXAMPLES) >= 2, "the page lost its complete examples: ```yaml blocks that start with name:"


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[block.split("\n", 1)[0].removeprefix("name:").strip() for block in EXAMPLES]
)
def test_each_complete_example_loads(tmp_path: Path, example: str) -> None:
    assert "../targets/paystack" in example, "examples run against the sample stack, ../targets/paystack"
    path = tmp_path / "example.yaml"
    path.write_text(example.replace("../targets/paystack", str(PAYSTACK)))
    file = load_experiment(path, invariants=REGISTRY)
    assert file.target.name == "paystack"
    assert file.experiment.description, "an example tells its story"
