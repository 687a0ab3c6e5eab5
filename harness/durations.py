"""The one place durations are parsed: ``250ms``, ``30s``, ``1m30s``, ``1h20m``.

>>> parse_duration("1m30s")
90.0
>>> format_duration(0.25)
'250ms'
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)")


def parse_duration(text: str) -> float:
    """Return the number of seconds in ``text``; raise ValueError with a hint if it is not one."""
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
        raise ValueError(f"invalid duration {text!r}; write it like '250ms', '30s', '1m30s' or '1h20m'")
    return total


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
    raise ValueError(f"durations need a unit; write '{value}s' or '{value}ms', not {value}")


def _plain(seconds: float) -> str:
    # Exact and parseable back: whole milliseconds below a second, else seconds.
    if seconds < 1 and abs(seconds * 1000 - round(seconds * 1000)) < 1e-9:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


Duration = Annotated[float, BeforeValidator(_coerce), PlainSerializer(_plain, when_used="json")]
"""A pydantic field type: accepts '250ms' / '30s' / '1m30s', holds seconds as a float.

Dumped to JSON it is written back as a duration string, so a model round-trips."""
