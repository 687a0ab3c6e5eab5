from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from harness.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30),
        ("1m30s", 90),
        ("1h20m", 4800),
        ("1.5s", 1.5),
        ("2h", 7200),
        ("500us", 0.0005),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "s", "1x", "1m 30", "-5s", "30s1"])
def test_parse_refuses_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="250ms"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (30, "30s"), (90, "1m30s"), (4800, "1h20m"), (1.5, "1.5s")]
)
def test_format_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


class _Timed(BaseModel):
    timeout: Duration


def test_a_duration_field_needs_a_unit() -> None:
    assert _Timed.model_validate({"timeout": "2s"}).timeout == 2
    with pytest.raises(ValidationError, match="write '30s' or '30ms'"):
        _Timed.model_validate({"timeout": 30})
