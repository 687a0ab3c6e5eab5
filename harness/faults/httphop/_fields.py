"""Reading one field of a rule's JSON, and the error that names the field when it is wrong.

Every check in :mod:`._rules` and :mod:`._actions` goes through these helpers, so that a
bad rule is always refused with the same shape of message: the dotted field, what was
expected, and what was given (value and JSON type), e.g.
``select.probability: must be a number from 0 to 1, got 1.5 (number)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from paychaos.errors import did_you_mean


class RuleError(ValueError):
    """A rule (or one of its parts) is invalid; ``field`` is the dotted name of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def shown(value: object) -> str:
    """``1.5 (number)``: a value as the person wrote it in JSON, with its JSON type."""
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
             dict: "object", type(None): "null"}  # fmt: skip
    kind = kinds.get(type(value), type(value).__name__)
    text = repr(value) if isinstance(value, str) else _json_text(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def _json_text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def check_keys(where: str, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse any key not in ``allowed``: a typo must not silently become a rule that does nothing."""
    known = list(allowed)
    for key in data:
        if key not in known:
            raise RuleError(
                join(where, str(key)),
                f"unknown key; expected one of {', '.join(known)}{did_you_mean(key, known)}",
            )


def an_object(where: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuleError(where, f"must be a JSON object, got {shown(value)}")
    return value


def a_string(where: str, value: object, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise RuleError(where, f"must be a string, got {shown(value)}")
    if not empty and not value:
        raise RuleError(where, "must not be empty")
    return value


def an_integer(where: str, value: object, *, low: int, high: int | None = None) -> int:
    bound = f"from {low} to {high}" if high is not None else f"{low} or more"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        raise RuleError(where, f"must be a whole number {bound}, got {shown(value)}")
    return value


def seconds(where: str, value: object) -> float:
    """A duration in seconds: a finite number ≥ 0 (JSON has no unit, so floats of seconds)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise RuleError(where, f"must be a number of seconds, 0 or more (e.g. 2.5), got {shown(value)}")
    return float(value)


def one_of(where: str, value: object, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        expected = " or ".join(repr(o) for o in options)
        raise RuleError(where, f"must be {expected}, got {shown(value)}{did_you_mean(value, options)}")
    return value
