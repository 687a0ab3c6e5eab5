from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from paychaos.durations import (
    MAX_SECONDS,
    PATTERN,
    Duration,
    PositiveDuration,
    format_duration,
    parse_duration,
)


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


@pytest.mark.parametrize(
    "text", ["1" * 400 + "s", "99999999999999999999h", "169h", "168h1ms", "1" + "0" * 400 + ".5h"]
)
def test_absurd_durations_are_refused_naming_the_limit(text: str) -> None:
    with pytest.raises(ValueError, match=r"is longer than 168h \(7 days\), the longest paychaos accepts"):
        parse_duration(text)


def test_the_longest_duration_is_a_week() -> None:
    assert parse_duration("168h") == MAX_SECONDS == 7 * 24 * 3600


@pytest.mark.parametrize("text", ["inf", "infs", "nan", "NaNs", "1e3s", "٣٠s", "-1s", "+1s"])
def test_no_other_number_syntax(text: str) -> None:
    with pytest.raises(ValueError, match="write it like '250ms'"):
        parse_duration(text)


def test_a_long_input_is_quoted_short() -> None:
    with pytest.raises(ValueError, match="longer than 168h") as err:
        parse_duration("9" * 100_000 + "s")
    assert len(str(err.value)) < 150
    assert "(100,001 characters)" in str(err.value)


class _Lasting(BaseModel):
    duration: PositiveDuration
    at: Duration = 0.0


def test_a_positive_duration_refuses_zero_and_a_duration_does_not() -> None:
    assert _Lasting.model_validate({"duration": "1ms", "at": "0s"}).at == 0
    for zero in ("0s", "0ms", "0h0m0s", "0.0s"):
        with pytest.raises(ValidationError, match="must be longer than 0s"):
            _Lasting.model_validate({"duration": zero})


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**400])
def test_numbers_without_a_unit_are_refused_without_echoing_them_whole(value: float) -> None:
    with pytest.raises(
        ValidationError, match=re.escape("durations need a unit, e.g. '250ms' or '30s'")
    ) as err:
        _Timed.model_validate({"timeout": value})
    assert len(str(err.value).splitlines()[1]) < 200


@pytest.mark.parametrize("seconds", [1e-7, 2.5e-13, 0.00025, 7.5, 123.456789123, 604800.0])
def test_a_positive_duration_is_written_back_exactly_never_as_0s(seconds: float) -> None:
    dumped = _Lasting.model_construct(duration=seconds).model_dump(mode="json")
    assert _Lasting.model_validate(dumped).duration == seconds


# -- JSON Schema: a duration is the string a file writes -------------------------------------------


@pytest.mark.parametrize(
    "text", ["250ms", "30s", "1m30s", "1h20m", "1.5s", "500us", " 1m 30s ", "1.5 s", "0s", "168h"]
)
def test_the_json_schema_pattern_takes_what_parses(text: str) -> None:
    parse_duration(text)
    assert re.search(PATTERN, text)


@pytest.mark.parametrize(
    "text", ["", "30", "s", "1x", "1m 30", "-5s", "30s1", "10 parsecs", "1e3s", "٣٠s", "inf", "+1s", "1.s"]
)
def test_the_json_schema_pattern_refuses_what_does_not_parse(text: str) -> None:
    with pytest.raises(ValueError, match=r"write it like|empty duration"):
        parse_duration(text)
    assert not re.search(PATTERN, text)


def test_a_duration_s_json_schema_is_a_string_in_both_directions() -> None:
    for mode in ("validation", "serialization"):
        schema = TypeAdapter(Duration).json_schema(mode=mode)
        assert schema["type"] == "string"
        assert schema["pattern"] == PATTERN
    positive = TypeAdapter(PositiveDuration).json_schema()["pattern"]
    assert not any(re.search(positive, t) for t in ("0s", "0.0ms", "00m0s"))
    assert all(re.search(positive, t) for t in ("0.5s", "1ms", "10s"))
