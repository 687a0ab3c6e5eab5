"""Toxic definitions: the types this server knows, their attributes, and JSON parsing.

A :class:`Toxic` is pure configuration. What a toxic does to bytes lives in
``_stages.py``; this module only decides what a valid toxic looks like, with the
defaults and error messages of Toxiproxy 2.x (a toxic's name defaults to
``<type>_<stream>``, its stream to ``downstream``, its toxicity to 1.0, and every
attribute it does not mention to 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from paychaos.faults.toxiproxy_server._errors import (
    bad_request_body,
    invalid_stream,
    invalid_toxic_type,
)

Stream = Literal["upstream", "downstream"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream")

#: Toxic type → its integer attributes, in the order they are shown.
ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),  # ms, ms: whole ms, uniform on [latency - jitter, latency + jitter)
    "bandwidth": ("rate",),  # KB/s (1 KB = 1000 bytes, as Toxiproxy counts)
    "slow_close": ("delay",),  # ms
    "timeout": ("timeout",),  # ms; 0 = never close
    "reset_peer": ("timeout",),  # ms
    "slicer": ("average_size", "size_variation", "delay"),  # bytes, bytes, µs
    "limit_data": ("bytes",),  # bytes
    "noop": (),  # passes everything through: Toxiproxy registers it, for tests
}


@dataclass(frozen=True)
class Toxic:
    """One toxic as the API shows it. Immutable: an update builds a new one."""

    name: str
    type: str
    stream: Stream
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=dict)

    def attr(self, key: str) -> int:
        return self.attributes.get(key, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def parse_toxic(body: Any) -> Toxic:
    """Build a new toxic from a decoded ``POST /proxies/{proxy}/toxics`` body.

    Checks run in Toxiproxy's order, so the same bad body gets the same error:
    shape, stream, type, then attributes. Name clashes are the caller's to check.
    """
    if not isinstance(body, dict):
        raise bad_request_body(f"expected a JSON object, got {_json_kind(body)}")
    name = _optional_str(body, "name", "")
    type_ = _optional_str(body, "type", "")
    stream_text = _optional_str(body, "stream", "downstream")
    toxicity = _toxicity(body, 1.0)
    stream = _stream(stream_text)
    if not name:
        name = f"{type_}_{stream}"
    if type_ not in ATTRIBUTES:
        raise invalid_toxic_type()
    attributes = _attributes(type_, {}, body.get("attributes"))
    return Toxic(name=name, type=type_, stream=stream, toxicity=toxicity, attributes=attributes)


def merge_update(current: Toxic, body: Any) -> Toxic:
    """Apply a ``POST /proxies/{proxy}/toxics/{toxic}`` body to ``current``.

    Only ``attributes`` (merged over the current ones) and ``toxicity`` can
    change; like Toxiproxy, a ``name``, ``type`` or ``stream`` in the body is ignored.
    """
    if not isinstance(body, dict):
        raise bad_request_body(f"expected a JSON object, got {_json_kind(body)}")
    toxicity = _toxicity(body, current.toxicity)
    attributes = _attributes(current.type, current.attributes, body.get("attributes"))
    return Toxic(
        name=current.name,
        type=current.type,
        stream=current.stream,
        toxicity=toxicity,
        attributes=attributes,
    )


def _stream(text: str) -> Stream:
    lowered = text.lower()
    for stream in STREAMS:
        if stream == lowered:
            return stream
    raise invalid_stream()


def _attributes(type_: str, base: Mapping[str, int], given: Any) -> dict[str, int]:
    known = ATTRIBUTES[type_]
    out = {key: base.get(key, 0) for key in known}
    if given is None:
        return out
    if not isinstance(given, dict):
        raise bad_request_body(f"attributes must be a JSON object, got {_json_kind(given)}")
    # Unknown keys are ignored, as Toxiproxy's JSON decoding ignores them.
    for key in known:
        if key in given:
            out[key] = _integer(f"attributes.{key}", given[key])
    return out


def _integer(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request_body(f"{where} must be an integer, got {_json_kind(value)}")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise bad_request_body(f"{where} must be an integer, got {value!r}")
        return int(value)
    return value


def _toxicity(body: dict[str, Any], default: float) -> float:
    value = body.get("toxicity", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request_body(f"toxicity must be a number, got {_json_kind(value)}")
    return float(value)


def _optional_str(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request_body(f"{key} must be a string, got {_json_kind(value)}")
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
