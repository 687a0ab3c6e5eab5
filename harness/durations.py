"""The one place durations are parsed: ``250ms``, ``30s``, ``1m30s``, ``1h20m``.

>>> parse_duration("1m30s")
90.0
>>> format_duration(0.25)
'250ms'
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|us|h|m|s)")

MAX_SECONDS = 7 * 24 * 3600.0
"""The longest duration paychaos accepts: 168h (7 days). Anything longer is a typo, not an experiment."""


def parse_duration(text: str) -> float:
    """Return the number of seconds in ``text``; raise ValueError with a hint if it is not one.

    Durations are finite and at most :data:`MAX_SECONDS` (168h, 7 days).
    """
    cleaned = text.strip().replace(" ", "")
    if not cleaned:
        raise ValueError("empty duration; write it like '250ms', '30s' or '1m30s'")
    total, pos = 0.0, 0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned):
        raise ValueError(f"invalid duration {_shown(text)}; write it like '250ms', '30s', '1m30s' or '1h20m'")
    if not math.isfinite(total) or total > MAX_SECONDS:
        raise ValueError(
            f"duration {_shown(text)} is longer than 168h (7 days), the longest paychaos accepts"
        )
    return total


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}…({len(text):,} characters)"


def format_duration(seconds: float) -> str:
    """Render seconds the way they are written in experiments."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)


def _coerce(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if abs(value) > MAX_SECONDS * 1000 or not math.isfinite(value):  # (compared first: 10**400 is no float)
        raise ValueError(f"durations need a unit, e.g. '250ms' or '30s', not {_shown(str(value))}")
    raise ValueError(f"durations need a unit; write '{value}s' or '{value}ms', not {value}")


def _plain(seconds: float) -> str:
    # Exact and parseable back: whole milliseconds below a second, else seconds written out in
    # full (never rounded, so a positive duration, however short, is never written as 0s).
    millis = round(seconds * 1000)
    if seconds < 1 and millis > 0 and abs(seconds * 1000 - millis) < 1e-9:
        return f"{millis}ms"
    text = format(Decimal(repr(seconds)), "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "s"


# The JSON Schema of a duration: what a file may write, in both directions (a model dumps
# durations back as strings). Spaces may separate the parts ("1m 30s"); the 168h limit is the
# loader's to tell.
PATTERN = r"^\s*(?:[0-9]+(?:\.[0-9]+)? *(?:ms|us|h|m|s) *)+\s*$"
"""A duration as a JSON Schema pattern (ECMA 262 and Python alike): ``250ms``, ``30s``, ``1m30s``."""
_NONZERO = r"(?=[^1-9]*[1-9])"  # some digit is not 0: the duration is longer than 0s
_WRITTEN = "a duration: a number with a unit (h, m, s, ms, us), e.g. 250ms, 30s, 1m30s, 1h20m"


def _json_schema(pattern: str, description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, "description": description})


Duration = Annotated[
    float,
    BeforeValidator(_coerce),
    PlainSerializer(_plain, when_used="json"),
    _json_schema(PATTERN, _WRITTEN),
]
"""A pydantic field type: accepts '250ms' / '30s' / '1m30s', holds seconds as a float.

Dumped to JSON it is written back as a duration string, so a model round-trips. Its JSON
Schema is the string a file writes (:data:`PATTERN`), not the float it becomes."""


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0s, e.g. 30s")
    return seconds


PositiveDuration = Annotated[
    Duration,
    AfterValidator(_positive),
    _json_schema("^" + _NONZERO + PATTERN[1:], _WRITTEN + "; longer than 0s"),
]
"""A :data:`Duration` that must be longer than zero: how long a load, a stage or a fault lasts."""
