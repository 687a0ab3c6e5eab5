"""Load a YAML file into a typed, frozen pydantic model, with errors located at file:line:col.

Every YAML file paychaos reads (experiments, target descriptions) goes through
:func:`load_model`, so every user sees the same kind of message:

    experiments/x.yaml:12:7: faults[1].toxic: unknown key 'latancy'; expected one of
    latency, jitter; did you mean 'latency'?
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class Located:
    """Plain data from a YAML document plus the position of every value and key in it."""

    def __init__(self, path: Path, data: Any, values: dict[Loc, yaml.Mark], keys: dict[Loc, yaml.Mark]):
        self.path = path
        self.data = data
        self._values = values
        self._keys = keys

    def where(self, loc: Loc, *, key: bool = False) -> str:
        """``file:line:col`` of the value at ``loc`` (or of its key), or of its nearest ancestor."""
        table = self._keys if key else self._values
        probe = tuple(loc)
        while probe and probe not in table:
            probe = probe[:-1]
            table = self._values
        mark = table.get(probe)
        if mark is None:
            return str(self.path)
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"


def load_yaml(path: Path) -> Located:
    """Parse ``path``; raise :class:`InvalidInput` (located) for unreadable or malformed YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a folder; give the YAML file") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    values: dict[Loc, yaml.Mark] = {}
    keys: dict[Loc, yaml.Mark] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = {} if root is None else _to_python(path, root, (), values, keys)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise InvalidInput(f"{where}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise InvalidInput(f"{path}: invalid YAML: {exc}") from None
    return Located(path, data, values, keys)


def _to_python(
    path: Path, node: yaml.Node, loc: Loc, values: dict[Loc, yaml.Mark], keys: dict[Loc, yaml.Mark]
) -> Any:
    values[loc] = node.start_mark
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader("").construct_object(key_node, deep=True)
            if key in out:
                mark = key_node.start_mark
                raise InvalidInput(
                    f"{path}:{mark.line + 1}:{mark.column + 1}: duplicate key {key!r}; "
                    "each key may appear once in a mapping"
                )
            keys[(*loc, key)] = key_node.start_mark
            out[key] = _to_python(path, value_node, (*loc, key), values, keys)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(path, item, (*loc, i), values, keys) for i, item in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_model(path: Path, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Load ``path`` and validate it as ``model``; every problem is reported, each located."""
    located = load_yaml(path)
    return validate_located(located, model, context=context)


def validate_located(located: Located, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    if not isinstance(located.data, dict):
        raise InvalidInput(f"{located.path}:1:1: expected a mapping at the top of the file")
    try:
        return model.model_validate(located.data, context=context)
    except ValidationError as exc:
        lines = [_describe(located, model, err) for err in exc.errors(include_url=False)]
        raise InvalidInput("\n".join(dict.fromkeys(lines))) from None


def format_loc(loc: Sequence[str | int]) -> str:
    """``('faults', 1, 'toxic')`` → ``faults[1].toxic``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(located: Located, model: type[BaseModel], err: Any) -> str:
    model_loc: Loc = tuple(err["loc"])
    loc = _data_loc(located.data, model_loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        name = loc[-1]
        allowed = sorted(_fields_at(model, model_loc[:-1]))
        hint = f"; expected one of {', '.join(allowed)}" if allowed else ""
        close = difflib.get_close_matches(str(name), allowed, n=1)
        if close:
            hint += f"; did you mean {close[0]!r}?"
        return f"{located.where(loc, key=True)}: {format_loc(loc[:-1])}: unknown key {name!r}{hint}"
    if kind == "missing":
        return f"{located.where(loc[:-1])}: {format_loc(loc)}: required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    got = err.get("input")
    quiet = isinstance(got, dict | list) or kind.startswith("value_error") or kind.startswith("union_tag")
    shown = "" if quiet else f" (got {got!r})"
    return f"{located.where(loc)}: {format_loc(loc)}: {message}{shown}{_suggestion(err)}"


def _suggestion(err: Any) -> str:
    """A did-you-mean for a value that should have been one of a few names."""
    ctx = err.get("ctx") or {}
    if err["type"] == "literal_error":
        expected, given = re.findall(r"'([^']*)'", str(ctx.get("expected", ""))), err.get("input")
    elif err["type"] == "union_tag_invalid":
        expected, given = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", ""))), ctx.get("tag")
    else:
        return ""
    close = difflib.get_close_matches(str(given), expected, n=1) if isinstance(given, str) else []
    return f"; did you mean {close[0]!r}?" if close else ""


def _data_loc(data: Any, loc: Loc) -> Loc:
    """The part of pydantic's ``loc`` that exists in the document.

    pydantic inserts the names of union members and validators into ``loc``;
    those are not keys of the file, so they are dropped. The last part is kept
    even when absent: it is the missing (or unknown) key the error is about.
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if _has(node, part):
            node = node[part]
        elif i < len(loc) - 1 or _is_union_tag(part):
            continue
        path.append(part)
    return tuple(path)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the union member's name to loc ("function-after[...]", "str", "LinkFault", …)
    return isinstance(part, str) and (
        "[" in part or part in {"str", "int", "float", "bool"} or part[:1].isupper()
    )


def _fields_at(model: type[BaseModel], loc: Loc) -> set[str]:
    """Names a mapping at ``loc`` may hold, found by walking the model's annotations."""
    for candidate in _walk(model, loc):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return {f.alias or name for name, f in candidate.model_fields.items()}
    return set()


def _walk(tp: Any, loc: Loc) -> Iterator[Any]:
    if not loc:
        yield from _arms(tp)
        return
    head, rest = loc[0], loc[1:]
    arms = _arms(tp)
    chosen = [a for a in arms if isinstance(a, type) and a.__name__ == head]
    if chosen:  # a discriminated union's tag names the member that was validated
        yield from _walk(chosen[0], rest)
        return
    for arm in arms:
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            for name, field in arm.model_fields.items():
                if head in (name, field.alias):
                    yield from _walk(field.annotation, rest)
        origin = typing.get_origin(arm)
        args = typing.get_args(arm)
        if origin in (list, tuple) and args and isinstance(head, int):
            yield from _walk(args[0], rest)
        elif origin is dict and len(args) == 2:
            yield from _walk(args[1], rest)


def _arms(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _arms(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(tp) for a in _arms(arg)]
    return [tp]
