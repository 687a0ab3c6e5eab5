"""Load a YAML file into a typed, frozen pydantic model, with errors located at file:line:col.

Every YAML file paychaos reads (experiments, target descriptions) goes through
:func:`load_model`, so every user sees the same kind of message:

    experiments/x.yaml:12:7: faults[1].toxic: unknown key 'latancy'; expected one of
    latency, jitter; did you mean 'latency'?

Files are read with limits (:data:`MAX_BYTES`, :data:`MAX_DEPTH`, :data:`MAX_VALUES`,
aliases counted as copies), so no file, however hostile, makes loading slow or large:
it is refused, located, like any other mistake.
"""

from __future__ import annotations

import os
import re
import stat
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from paychaos.errors import InvalidInput, did_you_mean

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class Located:
    """Plain data from a YAML document plus the position of every value and key in it."""

    def __init__(
        self,
        path: Path,
        data: Any,
        values: dict[Loc, yaml.Mark],
        keys: dict[Loc, yaml.Mark],
        *,
        empty: bool = False,
    ):
        self.path = path
        self.data = data
        self.empty = empty  # the file held no document at all (nothing, or only comments)
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


# Limits on what paychaos will read. Real experiments and targets are a few kilobytes, a few
# hundred values and fewer than ten levels deep; these bounds are far above that and keep a
# hostile or mistaken file (a "billion laughs" alias bomb, a log file named by accident) from
# taking minutes or gigabytes before it is refused.
MAX_BYTES = 1024 * 1024
"""Largest YAML file read, in bytes (1 MiB)."""
MAX_DEPTH = 64
"""Deepest nesting of values, counting through aliases."""
MAX_VALUES = 20_000
"""Most values (scalars, lists, mappings) in a document, an alias counting as a copy of what it names."""


def load_yaml(path: Path) -> Located:
    """Parse ``path``; raise :class:`InvalidInput` (located) for unreadable, malformed or oversized YAML.

    >>> load_yaml(Path("experiments/hello.yaml")).data["name"]   # doctest: +SKIP
    'hello'
    """
    text = _read(path)
    values: dict[Loc, yaml.Mark] = {}
    keys: dict[Loc, yaml.Mark] = {}
    try:
        loader = _Loader(text)  # its reader refuses control characters here, before any parsing
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        raise InvalidInput(
            f"{path}:{line}:{column}: invalid YAML: character U+{exc.character:04X} is not allowed in YAML; "
            "remove it (or write it as an escape, e.g. \\x07, inside double quotes)"
        ) from None
    try:
        root = loader.get_single_node()
        if root is None:  # empty, or only comments
            values[()] = yaml.Mark(str(path), 0, 0, 0, None, 0)
            return Located(path, {}, values, keys, empty=True)
        data = _to_python(loader, root, (), values, keys)
    except _Refused as exc:
        raise InvalidInput(f"{_at(path, exc.mark)}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _at(path, mark) if mark else str(path)
        raise InvalidInput(f"{where}: invalid YAML: {_yaml_problem(exc)}") from None
    except yaml.YAMLError as exc:  # any other PyYAML error, one without a position
        raise InvalidInput(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return Located(path, data, values, keys)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, with its context ("while scanning a quoted scalar at line 3") when it has one."""
    problem = exc.problem or str(exc)
    if exc.context and exc.context_mark and exc.context_mark != exc.problem_mark:
        return f"{exc.context} at line {exc.context_mark.line + 1}; {problem}"
    return f"{exc.context}; {problem}" if exc.context else problem


def _read(path: Path) -> str:
    """The file's text, refused unread past :data:`MAX_BYTES` (so /dev/zero or a huge log cannot hang us)."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
            info = os.fstat(stream.fileno())
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a folder; give the YAML file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError:  # a NUL byte in the name
        raise InvalidInput(f"{_shown(str(path))}: not a valid file name") from None
    if len(raw) > MAX_BYTES:
        size = f"{info.st_size:,} bytes" if stat.S_ISREG(info.st_mode) else "more than 1 MiB"
        raise InvalidInput(
            f"{path}:1:1: the file is {size}; paychaos reads YAML files of at most 1 MiB "
            f"({MAX_BYTES:,} bytes), and an experiment or target is a few kilobytes: is this the right file?"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise InvalidInput(
            f"{path}:{line}:{column}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None


# PyYAML's pure-Python Mark or its C extension's: both have line and column, which is all we use.
_Mark = Any


class _Refused(Exception):
    def __init__(self, mark: _Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer, counting as it goes so an oversized document is refused early.

    Sizes are counted with every alias expanded (as a copy of the value it names), so a
    few lines of nested aliases cannot stand for billions of values; and since the
    composer recurses once per level, depth is bounded before Python's own limit is hit.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0  # levels above the node being composed
        self._reach = 0  # the deepest level reached in the subtree being composed
        self._total = 0  # values so far, aliases expanded
        self._copied = 0  # of which were counted through aliases
        self._sizes: dict[int, tuple[int, int]] = {}  # id(anchored node) → (values, levels) in it

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.NodeEvent = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            named = self.anchors.get(event.anchor)
            if named is not None:  # an undefined alias is PyYAML's to report
                self._alias(event, named)
            return super().compose_node(parent, index)
        self._depth += 1
        self._enter(event.start_mark, 1, self._depth)
        outer_reach, self._reach = self._reach, self._depth
        before = self._total - 1
        node = super().compose_node(parent, index)
        if event.anchor is not None:
            self._sizes[id(node)] = (self._total - before, self._reach - self._depth + 1)
        self._reach = max(outer_reach, self._reach)
        self._depth -= 1
        return node

    def _alias(self, event: yaml.AliasEvent, named: yaml.Node) -> None:
        size = self._sizes.get(id(named))
        if size is None:  # the anchored value is still being read: the alias sits inside it
            raise _Refused(
                event.start_mark,
                f"alias *{event.anchor} is used inside the value it names, so it would repeat forever; "
                "an alias may only name a value that is complete",
            )
        values, levels = size
        self._copied += values
        self._enter(event.start_mark, values, self._depth + levels)

    def _enter(self, mark: _Mark, values: int, deepest: int) -> None:
        """Count ``values`` more, reaching down to level ``deepest``; refuse past a limit."""
        self._total += values
        self._reach = max(self._reach, deepest)
        if deepest > MAX_DEPTH:
            raise _Refused(
                mark,
                f"nested more than {MAX_DEPTH} levels deep; paychaos reads at most {MAX_DEPTH} levels "
                "(aliases included), and an experiment or target needs fewer than ten",
            )
        if self._total > MAX_VALUES:
            aliases = (
                f" ({self._copied:,} of them copies made by aliases: do aliases repeat aliases, "
                "as in a 'billion laughs' file?)"
                if self._copied
                else ""
            )
            raise _Refused(
                mark,
                f"more than {MAX_VALUES:,} values{aliases}; paychaos reads at most {MAX_VALUES:,}, "
                "and an experiment or target has a few hundred",
            )


_PLAIN = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_MERGE = "tag:yaml.org,2002:merge"


def _to_python(
    loader: _Loader, node: yaml.Node, loc: Loc, values: dict[Loc, yaml.Mark], keys: dict[Loc, yaml.Mark]
) -> Any:
    # The loader bounded depth and size (aliases expanded), so this recursion is bounded too.
    values[loc] = node.start_mark
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN:
        raise _Refused(
            node.start_mark,
            f"the tag {_shown(str(node.tag).replace('tag:yaml.org,2002:', '!!'))} is not supported; "
            "paychaos reads plain mappings, lists and "
            "scalars: remove the tag",
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise _Refused(
                    key_node.start_mark,
                    f"{format_loc(loc)}: a {kind} used as a key; keys are names (plain text), "
                    "e.g. 'latency: 300ms', not '? [a, b] : 1'",
                )
            if key_node.tag == _MERGE:
                raise _Refused(
                    key_node.start_mark,
                    f"{format_loc(loc)}: merge keys (<<) are not supported; write the keys out in full",
                )
            key = _scalar(loader, key_node)
            if key in out:
                raise _Refused(
                    key_node.start_mark, f"duplicate key {_shown(key)}; each key may appear once in a mapping"
                )
            keys[(*loc, key)] = key_node.start_mark
            out[key] = _to_python(loader, value_node, (*loc, key), values, keys)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(loader, item, (*loc, i), values, keys) for i, item in enumerate(node.value)]
    return _scalar(loader, node)


def _scalar(loader: _Loader, node: yaml.Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except Exception as exc:  # PyYAML's constructors raise ValueError, KeyError, AttributeError, …
        tag = str(node.tag).removeprefix("tag:yaml.org,2002:")
        why = f" ({str(exc)[:80]})" if isinstance(exc, ValueError) else ""
        raise _Refused(
            node.start_mark,
            f"cannot read {_shown(node.value)} as YAML {tag}{why}; quote it to keep it as text",
        ) from None


def _at(path: Path, mark: _Mark) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short: a message quotes what was given, not a megabyte of it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}…{text[-4:]} ({len(text):,} characters)"


def load_model(path: Path, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Load ``path`` and validate it as ``model``; every problem is reported, each located."""
    located = load_yaml(path)
    return validate_located(located, model, context=context)


def validate_located(located: Located, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    required = [field.alias or name for name, field in model.model_fields.items() if field.is_required()]
    needs = f" with at least {', '.join(required)}" if required else ""
    if located.empty:
        raise InvalidInput(
            f"{located.where(())}: the file is empty (or only comments); write a mapping{needs}"
        )
    if not isinstance(located.data, dict):
        got = "a list" if isinstance(located.data, list) else _shown(located.data)
        raise InvalidInput(
            f"{located.where(())}: expected a mapping at the top of the file{needs}; got {got}"
        )
    try:
        return model.model_validate(located.data, context=context)
    except ValidationError as exc:
        keys = _discriminators(model)
        lines = (_describe(located, model, err, keys) for err in exc.errors(include_url=False))
        raise InvalidInput(problems(lines)) from None


MAX_PROBLEMS = 50
"""Most problems listed in one message; a file wrong in thousands of places is wrong in the same way."""


def problems(lines: Iterable[str]) -> str:
    """One message for many problems: each once, in order, at most :data:`MAX_PROBLEMS` of them."""
    unique = list(dict.fromkeys(lines))
    if len(unique) > MAX_PROBLEMS:
        unique = [*unique[:MAX_PROBLEMS], f"… and {len(unique) - MAX_PROBLEMS:,} more problems"]
    return "\n".join(unique)


def format_loc(loc: Sequence[str | int]) -> str:
    """``('faults', 1, 'toxic')`` → ``faults[1].toxic``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(located: Located, model: type[BaseModel], err: Any, discriminators: Iterable[str] = ()) -> str:
    model_loc: Loc = tuple(err["loc"])
    loc = _data_loc(located.data, model_loc, discriminators)
    kind = err["type"]
    if kind == "extra_forbidden":
        name = loc[-1]
        allowed = sorted(_fields_at(model, model_loc[:-1]))
        hint = f"; expected one of {', '.join(allowed)}" if allowed else ""
        hint += did_you_mean(str(name), allowed) if len(str(name)) < 100 else ""  # difflib is quadratic
        return f"{located.where(loc, key=True)}: {format_loc(loc[:-1])}: unknown key {_shown(name)}{hint}"
    if kind == "missing":
        return f"{located.where(loc[:-1])}: {format_loc(loc)}: required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        # pydantic names the model class ("instance of TargetRef"); the user wrote YAML, not Python
        fields = sorted(_fields_at(model, model_loc))
        message = f"expected a mapping (keys: {', '.join(fields)})" if fields else "expected a mapping"
    got = err.get("input")
    quiet = isinstance(got, dict | list) or kind.startswith("value_error") or kind.startswith("union_tag")
    shown = "" if quiet else f" (got {_shown(got)})"
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
    return did_you_mean(given, expected)


def _data_loc(data: Any, loc: Loc, discriminators: Iterable[str] = ()) -> Loc:
    """The part of pydantic's ``loc`` that exists in the document.

    pydantic inserts the names of union members and validators into ``loc``;
    those are not keys of the file, so they are dropped. The last part is kept
    even when absent: it is the missing (or unknown) key the error is about.

    A discriminated union's tag is the value of its discriminator key (``discriminators``:
    ``type`` for ``shape: {type: stages, stages: []}``), and pydantic puts it first in ``loc``
    under the mapping it chose a member for: there it is dropped, even when the mapping also has
    a key of that name (``('load', 'shape', 'stages', 'stages')`` is ``load.shape.stages``).
    """
    keys = tuple(discriminators)
    path: list[str | int] = []
    node = data
    tagged = False  # the tag of ``node``'s union member was dropped already: what follows is keys
    for i, part in enumerate(loc):
        if not tagged and isinstance(node, dict) and any(node.get(key) == part for key in keys):
            tagged = True
            continue
        if _has(node, part):
            node = node[part]
            tagged = False
        elif i < len(loc) - 1 or _is_union_tag(part):
            continue
        path.append(part)
    return tuple(path)


def _discriminators(tp: Any, seen: set[type[BaseModel]] | None = None) -> set[str]:
    """The discriminator keys of the tagged unions in ``tp``'s models: the keys whose value is a
    union member's tag (``type`` for a load's shape)."""
    seen = set() if seen is None else seen
    found: set[str] = set()
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return found
        seen.add(tp)
        for field in tp.model_fields.values():
            found |= _discriminator_keys(field)
            found |= _discriminators(field.annotation, seen)
            for meta in field.metadata:
                found |= _discriminator_keys(meta)
        return found
    if typing.get_origin(tp) is typing.Annotated:
        inner, *metadata = typing.get_args(tp)
        for meta in metadata:
            found |= _discriminator_keys(meta)
        return found | _discriminators(inner, seen)
    for arg in typing.get_args(tp):
        found |= _discriminators(arg, seen)
    return found


def _discriminator_keys(info: Any) -> set[str]:
    # Field(discriminator="type") or Discriminator("type"); a callable one names its tags itself
    key = getattr(info, "discriminator", None)
    key = getattr(key, "discriminator", key)
    return {key} if isinstance(key, str) else set()


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
