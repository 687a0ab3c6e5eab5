from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from harness._yaml import format_loc, load_model
from harness.errors import InvalidInput


class Toxic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latency: int = 0
    jitter: int = 0


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    link: str
    toxic: Toxic


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    faults: list[Fault] = []


def _load(tmp_path: Path, text: str) -> Doc:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    return load_model(path, Doc)


def test_valid_document(tmp_path: Path) -> None:
    doc = _load(tmp_path, "name: hello\nfaults:\n  - link: a\n    toxic: {latency: 5}\n")
    assert doc.faults[0].toxic.latency == 5


def test_a_misspelt_key_is_located_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        _load(tmp_path, "name: x\nfaults:\n  - link: a\n    toxic:\n      latancy: 5\n")
    assert str(err.value) == (
        f"{tmp_path / 'x.yaml'}:5:7: faults[0].toxic: unknown key 'latancy'; "
        "expected one of jitter, latency; did you mean 'latency'?"
    )


def test_a_wrong_type_and_a_missing_key_are_both_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        _load(tmp_path, "name: x\nfaults:\n  - toxic: {latency: lots}\n")
    lines = str(err.value).splitlines()
    assert any(":3:5: faults[0].link: required key is missing" in line for line in lines)
    assert any(":3:22: faults[0].toxic.latency: Input should be a valid integer" in line for line in lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "expected a mapping at the top of the file"),
        ("name: a\nname: b\n", "2:1: duplicate key 'name'"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _load(tmp_path, text)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        load_model(tmp_path / "absent.yaml", Doc)


def test_format_loc() -> None:
    assert format_loc(("faults", 1, "toxic")) == "faults[1].toxic"
    assert format_loc(()) == "(top level)"
