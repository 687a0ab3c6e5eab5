from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from paychaos._yaml import format_loc, load_model
from paychaos.errors import InvalidInput


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


# -- hostile files: refused quickly, located, with the limit named -------------------------------

BOMB = "".join(
    [f"l0: &l0 [{', '.join(['lol'] * 9)}]\n"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)]
)  # a "billion laughs": 9**9 values from nine lines


def _refused(tmp_path: Path, text: str | bytes) -> str:
    """The message for a file that must be refused; refusing it must not take long (no hang, no blow-up)."""
    path = tmp_path / "x.yaml"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    started = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        load_model(path, Doc)
    assert time.monotonic() - started < 5, "a hostile file must be refused at once, not after a long parse"
    return str(err.value).removeprefix(str(path))


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit(tmp_path: Path) -> None:
    message = _refused(tmp_path, BOMB)
    assert re.match(r"^:\d+:\d+: more than 20,000 values \([\d,]+ of them copies made by aliases", message)
    assert "paychaos reads at most 20,000" in message


def test_aliases_within_the_limits_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: &n hello\nfaults:\n  - &f {link: a, toxic: {latency: 5}}\n  - *f\n")
    assert load_model(path, Doc).faults[1].toxic.latency == 5


@pytest.mark.parametrize("text", ["name: x\nloop: &a [1, *a]\n", "name: x\nloop: &a {next: *a}\n"])
def test_an_alias_inside_what_it_names_is_refused(tmp_path: Path, text: str) -> None:
    assert _refused(tmp_path, text).startswith(":2:")
    assert "alias *a is used inside the value it names" in _refused(tmp_path, text)


@pytest.mark.parametrize("depth", [65, 100_000])
def test_deep_nesting_is_refused_at_the_level_past_the_limit(tmp_path: Path, depth: int) -> None:
    message = _refused(tmp_path, "name: " + "[" * depth + "]" * depth + "\n")
    assert message.startswith(":1:70: nested more than 64 levels deep; paychaos reads at most 64 levels")


def test_depth_counts_through_aliases(tmp_path: Path) -> None:
    chain = "".join(f"c{i}: &c{i} [*c{i - 1}]\n" for i in range(1, 70))
    assert "nested more than 64 levels deep" in _refused(tmp_path, "c0: &c0 [x]\n" + chain)


def test_too_many_values_without_aliases(tmp_path: Path) -> None:
    message = _refused(tmp_path, "name: x\nnotes: [" + ",".join(["0"] * 20_001) + "]\n")
    assert "more than 20,000 values; paychaos reads at most 20,000" in message
    assert "aliases" not in message.split(";")[0]


def test_a_file_over_a_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    fault = "  - {link: a, toxic: {latency: 5}}\n"
    message = _refused(tmp_path, "name: x\nfaults:\n" + fault * (50 * 1024 * 1024 // len(fault)))
    assert re.match(
        r"^:1:1: the file is 52,428,\d{3} bytes; paychaos reads YAML files of at most 1 MiB", message
    )


def test_an_endless_file_is_refused_unread() -> None:
    with pytest.raises(InvalidInput, match=r"^/dev/zero:1:1: the file is more than 1 MiB"):
        load_model(Path("/dev/zero"), Doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n? [a, b]\n: 1\n", ":2:3: (top level): a list used as a key; keys are names"),
        ("name: x\n? {a: 1}\n: 1\n", ":2:3: (top level): a mapping used as a key"),
        ("name: x\nfaults:\n  - {link: a, [b]: 1}\n", ":3:15: faults[0]: a list used as a key"),
        ("name: x\nl: &l [1]\n*l : 2\n", ":2:4: (top level): a list used as a key"),  # where the list is
        ("name: x\nd: &d {a: 1}\ne: {<<: *d}\n", ":3:5: e: merge keys (<<) are not supported"),
        (
            "name: !!python/object/apply:os.system [ls]\n",
            ":1:7: the tag '!!python/object/apply:os.system' is not supported",
        ),
        ("name: !!set {a}\n", ":1:7: the tag '!!set' is not supported"),
        (
            "name: !!timestamp soon\n",
            ":1:7: cannot read 'soon' as YAML timestamp; quote it to keep it as text",
        ),
        (
            "name: 2024-02-30\n",
            ":1:7: cannot read '2024-02-30' as YAML timestamp (day is out of range for month)",
        ),
        ("name: !!bool maybe\n", ":1:7: cannot read 'maybe' as YAML bool"),
        ("name: " + "7" * 5000 + "\n", ":1:7: cannot read '7777"),
        ("name: a\x07b\n", ":1:8: invalid YAML: character U+0007 is not allowed in YAML"),
        (b"name: ok\nfaults: \xff\n", ":2:9: not UTF-8 text (byte 17); save the file as UTF-8"),
        ("", ":1:1: the file is empty (or only comments); write a mapping with at least name"),
        ("# nothing yet\n", ":1:1: the file is empty (or only comments)"),
        ("# a comment\n42\n", ":2:1: expected a mapping at the top of the file with at least name; got 42"),
        (
            'name: "never ends\n',
            ":2:1: invalid YAML: while scanning a quoted scalar at line 1; found unexpected end",
        ),
        (
            "name: &a x\nfaults: &a []\n",
            ":2:9: invalid YAML: found duplicate anchor 'a'; first occurrence at line 1",
        ),
    ],
)
def test_hostile_and_broken_files_are_located(tmp_path: Path, text: str | bytes, message: str) -> None:
    assert _refused(tmp_path, text).startswith(message)


def test_a_long_value_is_quoted_short(tmp_path: Path) -> None:
    message = _refused(tmp_path, "name: x\n? " + "k" * 50_000 + "\n: 1\n")
    assert len(message) < 300
    assert "unknown key 'kkkk" in message
    assert "(50,002 characters)" in message


def test_a_file_wrong_everywhere_lists_the_first_fifty_problems(tmp_path: Path) -> None:
    faults = "".join(f"  - {{link: a, toxic: {{latency: x{i}}}}}\n" for i in range(300))
    lines = _refused(tmp_path, "name: x\nfaults:\n" + faults).splitlines()
    assert len(lines) == 51
    assert lines[-1] == "… and 250 more problems"


def test_a_mapping_given_as_text_names_the_keys_not_the_class(tmp_path: Path) -> None:
    message = _refused(tmp_path, "name: x\nfaults:\n  - {link: a, toxic: fast}\n")
    assert message == ":3:22: faults[0].toxic: expected a mapping (keys: jitter, latency) (got 'fast')"
