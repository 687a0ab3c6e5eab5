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

from paychaos.durations import MAX_SECONDS, Duration, PositiveDuration, format_duration, parse_duration
from paychaos.durations import PATTERN as DURATION_PATTERN
from paychaos.faults.kinds import ConfigFaultSpec as ConfigFaultSpec  # re-exported, as paychaos.experiment's
from paychaos.faults.kinds import ContainerFaultSpec as ContainerFaultSpec
from paychaos.faults.kinds import FaultSpec, on_change, spec_union
from paychaos.faults.kinds import LinkFault as LinkFault
from paychaos.faults.kinds import ProcessFaultSpec as ProcessFaultSpec

MAX_NAME = 80
"""Longest experiment name: it becomes part of the run folder's name."""
MAX_USERS = 100_000
"""Most simulated users at any moment (a spike's peak included), and most in flight in an open loop."""
MAX_RATE = 100_000
"""Most scenario iterations started per second in an open-loop load (a spike's peak included)."""
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
ArrivalRate = Annotated[float, Field(gt=0, le=MAX_RATE)]


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
# Two ways to load a stack. Closed loop (``users``): each user starts its next scenario iteration
# when the last one ends, so when the stack slows the offered load falls with it. Open loop
# (``arrival_rate``): iterations start at a set rate whatever the latency, as customers arrive
# at a shop, so a slow stack faces a queue. A shape's numbers are users in the first, arrivals
# per second in the second.


class ConstantShape(_Model):
    type: Literal["constant"] = Field(
        default="constant", description="constant: the level (users or arrival_rate) for the whole duration"
    )


class RampShape(_Model):
    """From ``start`` to the load's level over ``over``, then hold: users, or arrivals/s in an open loop."""

    type: Literal["ramp"] = Field(
        description="ramp: the level climbs from start over the time over gives, then holds"
    )
    start: Annotated[float, Field(ge=0, le=MAX_RATE)] = Field(
        default=0.0, description="users (closed loop, a whole number) or arrivals/s (open loop) at the start"
    )
    over: Duration


class SpikeShape(_Model):
    """The load's level, and ``multiple`` times that for ``for`` from ``at``: a sale's first second."""

    type: Literal["spike"] = Field(
        description="spike: the level, multiplied by multiple from at for as long as for gives"
    )
    at: Duration
    multiple: Annotated[float, Field(gt=1)] = Field(
        description="how many times the level the spike is, a number above 1; the peak is at most "
        f"{MAX_USERS:,} users or arrivals per second"
    )
    for_: PositiveDuration = Field(alias="for")


class Stage(_Model):
    """One stage: ``users`` in a closed loop, ``arrival_rate`` in an open loop (every stage the same)."""

    duration: PositiveDuration
    users: Users | None = Field(default=None, description="closed loop: users in this stage")
    arrival_rate: ArrivalRate | None = Field(default=None, description="open loop: arrivals per second")
    spawn_rate: Rate | None = Field(
        default=None,
        description="closed loop: users started per second to reach this stage's users "
        "(default: the load's spawn_rate)",
    )

    @model_validator(mode="after")
    def _one_level(self) -> Stage:
        if self.users is None and self.arrival_rate is None:
            raise ValueError("a stage needs users (closed loop) or arrival_rate (open loop)")
        if self.users is not None and self.arrival_rate is not None:
            raise ValueError("a stage gives users (closed loop) or arrival_rate (open loop), not both")
        if self.arrival_rate is not None and self.spawn_rate is not None:
            raise ValueError("spawn_rate is for users; an open-loop stage starts arrivals, remove spawn_rate")
        return self


class StagesShape(_Model):
    """Explicit stages, one after the other; the load lasts as long as they do."""

    type: Literal["stages"] = Field(
        description="stages: one stage after another; the load lasts as long as they do"
    )
    stages: Annotated[list[Stage], Field(min_length=1)] = Field(
        description="the stages, in order, at least one; every stage gives users (closed loop) or every "
        "stage gives arrival_rate (open loop)"
    )


def _shape_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


_Shapes = Annotated[ConstantShape | RampShape | SpikeShape | StagesShape, Field(discriminator="type")]
# A file may write the shape's name alone; only a constant shape needs nothing more.
Shape = Annotated[
    _Shapes, BeforeValidator(_shape_shorthand, json_schema_input_type=Literal["constant"] | _Shapes)
]


_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_CLOSED_ONLY = {
    "users": "give users (a closed loop: a user starts its next iteration when the last one ends) or "
    "arrival_rate (an open loop: iterations start at that rate whatever the latency), not both",
    "spawn_rate": "spawn_rate is for users; an open-loop load starts its max_users at once, "
    "remove spawn_rate",
    "wait": "wait is the pause between a user's iterations; an open-loop load starts iterations at "
    "arrival_rate, remove wait",
}


class Load(_Model):
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] = Field(
        default=10, description="closed loop: simulated users, each running one iteration after another"
    )
    arrival_rate: ArrivalRate | None = Field(
        default=None,
        description="open loop, instead of users: scenario iterations started per second whatever the "
        "latency (split evenly across processes)",
    )
    max_users: Annotated[int, Field(ge=1, le=MAX_USERS)] | None = Field(
        default=None,
        description="open loop: most iterations in flight at once; an arrival that finds every one busy "
        f"is dropped and counted (default: 10 × the peak arrival rate, at most {MAX_USERS:,})",
    )
    spawn_rate: Rate = Field(
        default=10.0,
        description="closed loop: users started per second to reach the level (a spike's extra users "
        "start within one second)",
    )
    duration: PositiveDuration = 30.0
    shape: Shape = Field(
        default=ConstantShape(),
        description="how the level (users, or arrivals per second) changes over time: constant (the "
        "default), ramp, spike or stages; a mapping with type, or the name constant alone",
    )
    scenarios: dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="scenario weights; default: the target's"
    )
    wait: Duration | tuple[Duration, Duration] = Field(
        default=0.0, description="pause between a user's iterations: one duration, or [least, most]"
    )
    timeout: PositiveDuration = Field(
        default=10.0, description="a client operation taking longer counts as timed out"
    )
    processes: Annotated[int, Field(ge=1, le=256)] = Field(
        default=1, description="Locust processes on this machine (not with workers)"
    )
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
        if self.open_loop:
            self._check_open()
        else:
            self._check_closed()
        return self

    def _check_closed(self) -> None:
        if self.arrival_rate is not None:  # only a stages shape gets here with one: its stages give users
            raise ValueError("a stages shape gives each stage its level: for an open loop, give every stage "
                             "an arrival_rate instead of users, and remove load.arrival_rate")  # fmt: skip
        if self.max_users is not None:
            raise ValueError("max_users bounds an open-loop load (with arrival_rate); in a closed loop, "
                             "users is the bound: remove max_users")  # fmt: skip
        shape = self.shape
        if isinstance(shape, RampShape) and not float(shape.start).is_integer():
            raise ValueError(f"shape.start is a number of users here, a whole number (got {shape.start:g})")
        if isinstance(shape, SpikeShape) and self.users * shape.multiple > MAX_USERS:
            raise ValueError(
                f"the spike's peak is {self.users * shape.multiple:,.0f} users; "
                f"at most {MAX_USERS:,} (lower users or shape.multiple)"
            )

    def _check_open(self) -> None:
        for key, message in _CLOSED_ONLY.items():
            if key in self.model_fields_set:
                raise ValueError(message)
        shape = self.shape
        if isinstance(shape, StagesShape):
            if self.arrival_rate is not None:
                raise ValueError("a stages shape gives each stage its arrival_rate; remove load.arrival_rate")
            closed = [i for i, stage in enumerate(shape.stages) if stage.arrival_rate is None]
            if closed:
                raise ValueError(
                    f"shape.stages[{closed[0]}] gives users but other stages give arrival_rate; every stage "
                    "gives arrival_rate (open loop) or every stage gives users (closed loop)"
                )
        if self.peak_rate > MAX_RATE:
            raise ValueError(f"the peak arrival rate is {self.peak_rate:,.0f}/s; at most {MAX_RATE:,}/s "
                             "(lower arrival_rate or shape.multiple)")  # fmt: skip
        senders = self.senders
        if self.max_in_flight < senders:
            raise ValueError(f"max_users is {self.max_in_flight} but {senders} load processes share it; "
                             f"give each process a user at least (max_users: {senders})")  # fmt: skip

    @property
    def open_loop(self) -> bool:
        """An open loop: iterations start at ``arrival_rate`` (or each stage's), whatever the latency."""
        if isinstance(self.shape, StagesShape):
            return any(stage.arrival_rate is not None for stage in self.shape.stages)
        return self.arrival_rate is not None

    @property
    def peak_rate(self) -> float:
        """The highest arrival rate the shape reaches (arrivals/s); 0 for a closed loop."""
        shape = self.shape
        if isinstance(shape, StagesShape):
            return max(stage.arrival_rate or 0.0 for stage in shape.stages)
        rate = self.arrival_rate or 0.0
        if isinstance(shape, SpikeShape):
            return rate * shape.multiple
        if isinstance(shape, RampShape) and rate:
            return max(rate, shape.start)
        return rate

    @property
    def max_in_flight(self) -> int:
        """An open loop's users: ``max_users``, or 10 × the peak rate (at least one per process)."""
        if self.max_users is not None:
            return self.max_users
        return min(MAX_USERS, max(math.ceil(10 * self.peak_rate), self.senders))

    @property
    def senders(self) -> int:
        """The Locust processes that send load: each starts ``1/senders`` of the arrivals."""
        return max(self.processes, self.workers, 1)

    def describe(self) -> str:
        """The load in a few words: ``20 users, 40s`` or ``40 arrivals/s (≤ 400 in flight), 20s``."""
        seconds = format_duration(self.total_duration)
        if not self.open_loop:
            return f"{self.users} users, {seconds}"
        rate = f"{self.arrival_rate:g}" if self.arrival_rate else f"up to {self.peak_rate:g}"
        rate += " arrivals/s"
        return f"{rate} (at most {self.max_in_flight:,} in flight), {seconds}"

    @property
    def total_duration(self) -> float:
        if isinstance(self.shape, StagesShape):
            return sum(stage.duration for stage in self.shape.stages)
        return self.duration


# -- faults ----------------------------------------------------------------------------------
# Each kind of fault is a module of paychaos.faults.kinds, its YAML model included. ``faults:``
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

    metric: GuardMetric = Field(
        description="what to watch, over the last second of operations: error_rate (a share of "
        "operations), p50, p95, p99 (latency percentiles) or rps (operations per second)"
    )
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
        """Seconds for latency metrics, a fraction for error_rate, per second for rps. Raises
        ValueError, saying how to write it, when the threshold does not suit the metric or could
        never be crossed (an error rate of 50 is 5,000%)."""
        raw = self.above if self.above is not None else self.below
        assert raw is not None
        percent = isinstance(raw, str) and raw.strip().endswith("%")
        if self.metric in ("p50", "p95", "p99"):
            if not isinstance(raw, str) or percent:
                raise ValueError(f"{self.metric} thresholds are durations, e.g. above: 2s")
            return parse_duration(raw)
        if self.metric == "rps":
            if isinstance(raw, str):
                raise ValueError(f"rps thresholds are operations per second, e.g. below: 50; got {raw!r}")
            return float(raw)
        how = "error_rate thresholds are a percentage or a fraction, e.g. above: 5%"
        if isinstance(raw, str) and not percent:
            raise ValueError(f"{how}; got {raw!r}")
        try:
            value = float(raw.strip().rstrip("%")) / 100 if isinstance(raw, str) else float(raw)
        except ValueError:
            raise ValueError(f"{how}; got {raw!r}") from None
        if not 0 <= value <= 1:
            shown = raw if isinstance(raw, str) else f"{raw:g}"
            hint = "" if isinstance(raw, str) or value < 1 else f"; with %, it reads: above: {raw:g}%"
            raise ValueError(f"error_rate is a share of operations, 0 to 1 (or 0% to 100%): {shown} could "
                             f"never be crossed{hint}")  # fmt: skip
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
    name: str = Field(description="the invariant's name: a built-in one, or slo, sql or python")
    params: dict[str, Any] = Field(default={}, description="the invariant's parameters, by name")


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
    out: PathText = Field(
        default="reports",
        description="the folder runs write <run-id>/ into, relative to the folder paychaos runs in (not to "
        "this file)",
    )


class Quick(_Model):
    """How ``--quick`` shrinks the experiment for CI: load and fault times by ``scale``."""

    scale: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.25, description="the factor for the load's and the faults' times: above 0, at most 1"
    )
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] | None = Field(
        default=None, description="the users under --quick (a closed-loop load)"
    )
    arrival_rate: ArrivalRate | None = Field(
        default=None,
        description="the arrival rate under --quick (an open-loop load); the shape's rates and max_users "
        "scale with it",
    )
    settle: Duration | None = Field(
        default=None, description="the settle timeout under --quick (caps every within)"
    )


class Experiment(_Model):
    name: Name = Field(
        description=f"the experiment's name: lower-case letters, digits, '-' and '_', a letter first, at "
        f"most {MAX_NAME} characters; it is part of the run folder's name"
    )
    description: str = Field(
        default="", description="the story for people: the incident and what must hold; the report shows it"
    )
    seed: int = Field(
        default=1,
        description="every random choice of the load (scenarios, amounts, accounts) and of http: faults "
        "comes from it; the same seed makes the same choices",
    )
    target: Annotated[TargetRef, BeforeValidator(_target_mapping)] = Field(
        description="the target and how to start it"
    )
    load: Load = Field(default=Load(), description="the traffic (default: 10 users for 30s)")
    faults: list[Fault] = Field(
        default=[],
        description="what to break, and when; the key that names a fault's place (link, service, "
        "container, container_label or config) says which kind of fault it is",
    )
    guards: list[Guard] = Field(
        default=[],
        description="when to stop injecting: once a guard trips, every fault in place is healed and no "
        "later one is applied",
    )
    settle: Settle = Field(
        default=Settle(), description="how long eventual invariants may take to hold after the heal"
    )
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
    report: Report = Field(default=Report(), description="where runs are written")
    quick: Quick = Field(default=Quick(), description="what --quick does: a shorter run, for CI")
    baseline: Literal["auto"] | PathText | None = Field(
        default=None,
        description="a run to compare with (paychaos compare, the report, the slo invariant's vs_baseline): "
        "auto runs this experiment once without its faults first (same load, same seed, a run folder of its "
        "own); or a run folder, relative to this file. --baseline overrides it",
    )

    @model_validator(mode="after")
    def _quick_fits_the_load(self) -> Experiment:
        if self.load.open_loop and self.quick.users is not None:
            raise ValueError("quick.users is for a closed-loop load; this one has an arrival_rate: "
                             "write quick.arrival_rate instead")  # fmt: skip
        if not self.load.open_loop and self.quick.arrival_rate is not None:
            raise ValueError("quick.arrival_rate is for an open-loop load (load.arrival_rate); this one has "
                             "users: write quick.users instead")  # fmt: skip
        return self


def _fault_kinds_changed() -> None:
    """A kind of fault was registered or taken out: ``faults:`` takes exactly the registered kinds."""
    faults: Any = GenericAlias(list, spec_union())  # list[…], of the kinds registered now
    Experiment.model_fields["faults"].annotation = faults
    Experiment.model_rebuild(force=True)


on_change(_fault_kinds_changed)
