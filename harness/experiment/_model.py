"""An experiment as typed, frozen models: what to run, how hard, what to break, what must hold.

The smallest experiment::

    name: hello
    target: {path: ../targets/paystack}
    load: {users: 10, duration: 30s}
    faults:
      - {at: 10s, duration: 10s, link: gateway_bank, toxic: latency, latency: 300ms}
    invariants: [exactly_once_debit]

Durations are written ``250ms``, ``30s``, ``1m30s`` everywhere; toxic attributes
that are times (latency, jitter, delay, timeout) are durations too, converted
to Toxiproxy's milliseconds or microseconds when applied.
"""

from __future__ import annotations

import math
import re
from types import GenericAlias
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from harness.durations import MAX_SECONDS, Duration, PositiveDuration, format_duration, parse_duration
from harness.durations import PATTERN as DURATION_PATTERN
from harness.faults.kinds import ConfigFaultSpec as ConfigFaultSpec  # re-exported, as harness.experiment's
from harness.faults.kinds import ContainerFaultSpec as ContainerFaultSpec
from harness.faults.kinds import FaultSpec, on_change, spec_union
from harness.faults.kinds import LinkFault as LinkFault
from harness.faults.kinds import ProcessFaultSpec as ProcessFaultSpec

MAX_NAME = 80
"""Longest experiment name: it becomes part of the run folder's name."""
MAX_USERS = 100_000
"""Most simulated users at any moment (a spike's peak included)."""
MAX_PATH = 4096
"""Longest path accepted in a file (Linux's PATH_MAX)."""
_NAME = re.compile(r"[a-z][a-z0-9_\-]*")


def _name(value: str) -> str:
    if len(value) > MAX_NAME or not _NAME.fullmatch(value):
        shown = repr(value) if len(value) <= 40 else f"{value[:20]!r}…({len(value):,} characters)"
        raise ValueError(
            f"a name is 1 to {MAX_NAME} characters: lowercase letters, digits, '-' and '_', starting with "
            f"a letter (it names the run folder); got {shown}"
        )
    return value


Name = Annotated[
    str,
    AfterValidator(_name),
    Field(json_schema_extra={"pattern": f"^{_NAME.pattern}$", "maxLength": MAX_NAME}),
]


def _path(value: str) -> str:
    if not value.strip():
        raise ValueError("empty path; give a file or folder, relative to this file")
    if "\0" in value:
        raise ValueError("a path cannot hold a NUL character")
    if len(value) > MAX_PATH:
        raise ValueError(f"a path of {len(value):,} characters; paths are at most {MAX_PATH} characters")
    return value


# JSON Schema: not blank, no NUL
_PATH_PATTERN = r"^(?=[\s\S]*\S)[^\u0000]*$"
PathText = Annotated[
    str, AfterValidator(_path), Field(json_schema_extra={"pattern": _PATH_PATTERN, "maxLength": MAX_PATH})
]
Users = Annotated[int, Field(ge=0, le=MAX_USERS)]
Rate = Annotated[float, Field(gt=0, le=MAX_USERS)]


class _Model(BaseModel):
    # allow_inf_nan=False: '.inf' and '.nan' are YAML floats, and no number in an experiment may be one
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


# -- target ----------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\0" in value:
        raise ValueError("a command-line argument cannot hold a NUL character")
    return value


class TargetRef(_Model):
    path: PathText = Field(description="the target.yaml (or its folder), relative to this file")
    defects: list[str] = Field(default=[], description="defect switches to turn on")
    args: dict[str, list[Annotated[str, AfterValidator(_no_nul)]]] = Field(
        default={}, description="extra command-line arguments per service"
    )


def _target_mapping(value: Any) -> Any:
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "…"
        raise ValueError(f"the target is a mapping; write target: {{path: {shown}}}")
    return value


# -- load ------------------------------------------------------------------------------------


class ConstantShape(_Model):
    type: Literal["constant"] = "constant"


class RampShape(_Model):
    """From ``start`` users to ``load.users`` over ``over``, then hold."""

    type: Literal["ramp"]
    start: Users = 0
    over: Duration


class SpikeShape(_Model):
    """``load.users``, and ``multiple`` times that for ``for`` from ``at``: a sale's first second."""

    type: Literal["spike"]
    at: Duration
    multiple: Annotated[float, Field(gt=1)]
    for_: PositiveDuration = Field(alias="for")


class Stage(_Model):
    duration: PositiveDuration
    users: Users
    spawn_rate: Rate | None = None


class StagesShape(_Model):
    """Explicit stages, one after the other; the load lasts as long as they do."""

    type: Literal["stages"]
    stages: Annotated[list[Stage], Field(min_length=1)]


def _shape_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


_Shapes = Annotated[ConstantShape | RampShape | SpikeShape | StagesShape, Field(discriminator="type")]
# A file may write the shape's name alone; only a constant shape needs nothing more.
Shape = Annotated[
    _Shapes, BeforeValidator(_shape_shorthand, json_schema_input_type=Literal["constant"] | _Shapes)
]


_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"


class Load(_Model):
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] = 10
    spawn_rate: Rate = 10.0
    duration: PositiveDuration = 30.0
    shape: Shape = ConstantShape()
    scenarios: dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="scenario weights; default: the target's"
    )
    wait: Duration | tuple[Duration, Duration] = Field(default=0.0, description="pause between operations")
    timeout: PositiveDuration = Field(
        default=10.0, description="a client operation taking longer counts as timed out"
    )
    processes: Annotated[int, Field(ge=1, le=256)] = 1
    workers: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=0, description="Locust workers on other machines to wait for (docs/distributed.md)"
    )
    master_bind: str = Field(
        default="127.0.0.1:5557",
        description="where the Locust master listens for workers",
        json_schema_extra={"pattern": f"^.+:{_PORT}$"},
    )

    @field_validator("master_bind")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"write the address as HOST:PORT, e.g. 127.0.0.1:5557 (got {value[:60]!r})")
        return value

    @model_validator(mode="after")
    def _bounded(self) -> Load:
        if self.processes > 1 and self.workers:
            # Locust refuses --processes with --master: the forked workers are the master's own
            raise ValueError("give processes (workers on this machine) or workers (on others), not both")
        if self.total_duration > MAX_SECONDS:
            raise ValueError(
                f"the load lasts {format_duration(self.total_duration)}; at most 168h (7 days) in one run"
            )
        if isinstance(self.shape, SpikeShape) and self.users * self.shape.multiple > MAX_USERS:
            raise ValueError(
                f"the spike's peak is {self.users * self.shape.multiple:,.0f} users; "
                f"at most {MAX_USERS:,} (lower users or shape.multiple)"
            )
        return self

    @property
    def total_duration(self) -> float:
        if isinstance(self.shape, StagesShape):
            return sum(stage.duration for stage in self.shape.stages)
        return self.duration


# -- faults ----------------------------------------------------------------------------------
# Each kind of fault is a module of harness.faults.kinds, its YAML model included. ``faults:``
# takes every registered kind, told apart by the key that names its place (link, service, …).

if TYPE_CHECKING:
    Fault: TypeAlias = FaultSpec
else:
    Fault = spec_union()  # the kinds registered when this module was imported; see _fault_kinds_changed


# -- guards, settle, invariants, report --------------------------------------------------------

GuardMetric = Literal["error_rate", "p50", "p95", "p99", "rps"]
# What a threshold may be written as: a number, a percentage ("5%") or a duration ("2s"); which of
# them suits the metric is the loader's to tell.
_PERCENT = r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*%+$"
Threshold = Annotated[
    float | str | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": _PERCENT, "description": "a percentage, e.g. 5%"},
                {"type": "string", "pattern": DURATION_PATTERN, "description": "a duration, e.g. 2s"},
                {"type": "null"},
            ],
            "description": "error_rate: a fraction or a percentage (5%); p50, p95, p99: a duration (2s); "
            "rps: operations per second",
        }
    ),
]


class Guard(_Model):
    """Stop injecting when ``metric`` stays above (or below) a threshold for ``for``."""

    metric: GuardMetric
    above: Threshold = None
    below: Threshold = None
    for_: Duration = Field(default=5.0, alias="for")
    kind: str | None = Field(default=None, description="only operations of this kind")

    @model_validator(mode="after")
    def _threshold(self) -> Guard:
        if (self.above is None) == (self.below is None):
            raise ValueError("a guard needs exactly one of 'above' or 'below'")
        threshold = self.threshold  # raises if the threshold does not suit the metric
        if not math.isfinite(threshold):
            raise ValueError("a guard's threshold is a finite number, e.g. above: 5%")
        return self

    @property
    def threshold(self) -> float:
        """Seconds for latency metrics, a fraction for error_rate, per second for rps."""
        raw = self.above if self.above is not None else self.below
        assert raw is not None
        if self.metric in ("p50", "p95", "p99"):
            if isinstance(raw, int | float):
                raise ValueError(f"{self.metric} thresholds are durations, e.g. above: 2s")
            return parse_duration(raw)
        if isinstance(raw, str):
            return float(raw.rstrip("%")) / 100 if raw.endswith("%") else float(raw)
        return float(raw)

    @field_validator("above", "below")
    @classmethod
    def _parsable(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and not value.endswith("%"):
            parse_duration(value)  # raises with a hint if it is neither a duration nor a percentage
        return value


class Settle(_Model):
    timeout: Duration = Field(default=60.0, description="longest wait for eventual invariants after the heal")
    poll: PositiveDuration = Field(default=1.0, description="how often eventual invariants are checked")


def _invariant_item(value: Any) -> Any:
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict) and len(value) == 1 and "name" not in value:
        ((name, params),) = value.items()
        return {"name": name, "params": params or {}}
    return value


class InvariantSpec(_Model):
    name: str
    params: dict[str, Any] = {}


# What a file writes: the name alone, {name: {params}}, or the full {name, params}.
_InvariantWritten = (
    Annotated[str, Field(description="an invariant's name, its parameters at their defaults")]
    | Annotated[
        dict[str, dict[str, Any] | None],
        Field(
            min_length=1,
            max_length=1,
            description="{name: {parameter: value}}",
            json_schema_extra={"propertyNames": {"not": {"const": "name"}}},
        ),
    ]
    | InvariantSpec
)
Invariant = Annotated[
    InvariantSpec, BeforeValidator(_invariant_item, json_schema_input_type=_InvariantWritten)
]


_REQUIREMENT = re.compile(r"^\s*(>=|>)?\s*([0-9]{1,12})\s*$")
MAX_COUNT = 10**9
"""The largest count a coverage requirement may ask for."""


def parse_requirement(value: Any) -> int:
    """The least count a coverage requirement asks for: ``3`` and ``">= 3"`` ask for 3, ``"> 3"`` for 4.

    >>> parse_requirement(">= 1"), parse_requirement("> 0"), parse_requirement(2)
    (1, 1, 2)
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        least = value
    else:
        match = _REQUIREMENT.match(value) if isinstance(value, str) else None
        if not match:
            shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:30]}…"
            raise ValueError(f"a coverage requirement reads '>= N' or '> N' (or just N), got {shown}")
        least = int(match.group(2)) + (1 if match.group(1) == ">" else 0)
    if least > MAX_COUNT:
        raise ValueError(f"a coverage requirement asks for at most {MAX_COUNT:,}, not more")
    return least


_RequirementWritten = (
    Annotated[int, Field(ge=0, le=MAX_COUNT)]
    | Annotated[str, Field(pattern=_REQUIREMENT.pattern, description="'>= N' or '> N'")]
)
Requirement = Annotated[int, BeforeValidator(parse_requirement, json_schema_input_type=_RequirementWritten)]


def _reason(text: str) -> str:
    if len(text.split()) < 2:  # "n/a" or "skip" is no reason
        raise ValueError("write why the invariant cannot apply here, e.g. 'no payouts in this load'")
    return text


Reason = Annotated[
    str, AfterValidator(_reason), Field(json_schema_extra={"pattern": r"\S\s+\S"})  # two words at least
]


class Report(_Model):
    out: PathText = Field(default="reports", description="where runs write reports/<run-id>/")


class Quick(_Model):
    """How ``--quick`` shrinks the experiment for CI: load and fault times by ``scale``."""

    scale: Annotated[float, Field(gt=0, le=1)] = 0.25
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] | None = None
    settle: Duration | None = Field(
        default=None, description="the settle timeout under --quick (caps every within)"
    )


class Experiment(_Model):
    name: Name
    description: str = ""
    seed: int = 1
    target: Annotated[TargetRef, BeforeValidator(_target_mapping)]
    load: Load = Load()
    faults: list[Fault] = []
    guards: list[Guard] = []
    settle: Settle = Settle()
    invariants: list[Invariant] = Field(
        default=[],
        description="invariants to add (sql, python, slo) or to tune; every default invariant the "
        "target's evidence supports is checked anyway",
    )
    exclude: dict[str, Reason] = Field(
        default={},
        description="default invariants not to check here, each with the reason written out",
    )
    coverage: dict[str, Requirement] = Field(
        default={},
        description="counts the run must reach, e.g. voids: '>= 1'; short of one: 'did not exercise' "
        "(exit code 3), never a pass",
    )
    report: Report = Report()
    quick: Quick = Quick()


def _fault_kinds_changed() -> None:
    """A kind of fault was registered or taken out: ``faults:`` takes exactly the registered kinds."""
    faults: Any = GenericAlias(list, spec_union())  # list[…], of the kinds registered now
    Experiment.model_fields["faults"].annotation = faults
    Experiment.model_rebuild(force=True)


on_change(_fault_kinds_changed)
