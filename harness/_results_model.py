"""What a run writes, as models: results.json and its parts, a history line, a fault journal line.

results.json's JSON Schema (``harness/report/results.schema.json``) is generated from
:class:`Results` (``python -m paychaos.report._schema --write``), never written by hand,
and :func:`paychaos._results.write_results` validates what it writes against these models.

>>> Results.model_validate(json.loads(Path("results.json").read_text())).verdict  # doctest: +SKIP
'held'

Models are strict: what is checked is the data as JSON will hold it (a Decimal is no
integer, a string is no number). Optional fields that a file leaves out rather than
writing null are typed :data:`MaybeAbsent`: ``None`` here, absent in the file.
The models accept exactly what the generated schema does, so either may check a file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

SCHEMA_VERSION = 1
SCHEMA_ID = "https://paychaos.dev/schemas/results-1.json"

T = TypeVar("T")


class _NeverNull:
    """JSON Schema only: the key may be left out, but when present it is never null."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        branches = [b for b in json_schema.get("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            rest = {k: v for k, v in json_schema.items() if k != "anyOf"}
            json_schema = {**branches[0], **rest}
        return json_schema


def _not_null(value: object) -> object:
    if value is None:  # a default is not validated: only a null written out gets here
        raise ValueError("leave the key out rather than write null")
    return value


MaybeAbsent = Annotated[T | None, BeforeValidator(_not_null), _NeverNull()]
"""A field a file may leave out; ``None`` when it does, but never null when written."""

NonNegative = Annotated[int, Field(ge=0)]
Status = Literal["completed", "aborted", "interrupted", "error"]
VerdictWord = Literal["held", "violated", "not exercised", "error", "interrupted"]
InvariantStatus = Literal["holds", "violated", "could_not_check"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)


class _OpenRecord(BaseModel):
    # Objects that may carry more keys than the ones named here.
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, use_attribute_docstrings=True)


# -- results.json --------------------------------------------------------------------------------


class ExperimentRecord(_Record):
    """The experiment that ran (after --quick scaling). A copy of its file is experiment.yaml beside
    this file."""

    name: str
    """The experiment's name."""
    description: str
    """The experiment's story: the incident it replays and what must hold (may be empty)."""
    file: str
    """The experiment file as given on the command line."""
    seed: int
    """The random seed of the load (scenario choice, amounts, keys)."""
    quick: bool
    """Whether --quick scaled the load and fault times down."""


class CurrencyRecord(_Record):
    """The currency a target's amounts are in (its target.yaml's currency)."""

    code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    """ISO 4217 code, e.g. USD, EUR, CNY."""
    minor_unit: Annotated[int, Field(ge=0, le=4)]
    """Decimal places of the minor unit: 2 for cents, 0 for JPY, 3 for KWD."""


class TargetRecord(_Record):
    """The system under test."""

    name: str
    """The target's name (from its target.yaml)."""
    defects: list[str]
    """Defect switches that were on: the experiment's target.defects, then each --defect."""
    currency: CurrencyRecord | None = None
    """What the evidence's amounts (whole minor units) are in, for people: 9107 is 91.07 CNY. null when
    the target declares no currency; absent in the results of a paychaos that did not record it."""


class PhaseRecord(_Record):
    """One phase of the run."""

    name: str
    """prepare, target up, steady state, load, heal, settle, verify or report."""
    started: float
    """Epoch seconds."""
    ended: float | None
    """Epoch seconds; null only while the phase runs (never in a finished file)."""
    status: Literal["running", "done", "failed"]
    """done, or failed if it raised (or was interrupted)."""


class LoadRecord(_Record):
    """A summary of the client operations (empty if the load never ran to its end). The operations
    themselves are in history/*.jsonl."""

    operations: MaybeAbsent[NonNegative] = None
    """Client operations recorded."""
    errors: MaybeAbsent[NonNegative] = None
    """Operations that failed or whose outcome is unknown (timeout, connection), expected refusals
    excluded."""
    seconds: MaybeAbsent[Annotated[float, Field(ge=0)]] = None
    """From the load start until the load ended."""
    arrival_rate: MaybeAbsent[Annotated[float, Field(gt=0)]] = None
    """Open-loop loads only: the target rate, scenario iterations started per second (load.arrival_rate;
    with a stages shape, its highest stage's)."""
    offered: MaybeAbsent[NonNegative] = None
    """Open-loop loads only: iterations the arrival schedule started or tried to (started + dropped)."""
    started: MaybeAbsent[NonNegative] = None
    """Open-loop loads only: arrivals a free user took and started."""
    dropped: MaybeAbsent[NonNegative] = None
    """Open-loop loads only: arrivals that found every user (max_users) busy, and never started."""


class FaultRecord(_Record):
    """One scheduled fault."""

    index: NonNegative
    """Its position in the experiment's faults list."""
    label: str
    """Its label, or a description made from its spec ("gateway_bank: toxic=latency, …")."""
    id: str | None
    """Its id in the fault journal (f1, f2, …); null if it was never applied."""
    spec: dict[str, Any]
    """The fault as the experiment states it (after --quick), durations as written: at, duration, label,
    and the place (link, service, container, container_label or config) with its attributes (toxic,
    stream, toxicity, latency, …; action; set)."""
    applied_at: float | None
    """Seconds since the load started, when its apply returned (it was in place from then on; a slow
    apply or heal before it makes this later than spec.at); null if never applied."""
    healed_at: float | None
    """Seconds since the load started, when its heal returned; null if never healed by the schedule
    (the run's final heal still undid it)."""


class TripRecord(_Record):
    """A guard that tripped."""

    guard: NonNegative
    """Its position in the experiment's guards list."""
    metric: Literal["error_rate", "p50", "p95", "p99", "rps"]
    """What it watched."""
    threshold: float
    """Seconds for latencies, a fraction for error_rate, per second for rps."""
    value: float
    """The metric's value when it tripped."""
    at: float
    """When it tripped, seconds since the load started."""
    since: float
    """Since when the metric was beyond the threshold, seconds since the load started."""
    message: str
    """The same in one sentence."""


class SloPhase(_OpenRecord):
    """The slo invariant's figures for one part of the load."""

    phase: Literal["steady", "fault", "recovery"]
    """Which part of the load."""
    operations: NonNegative
    """Client operations started in the phase."""
    error_rate: float | None
    """Failed or unknown, expected refusals excluded, as a fraction of all."""
    p50: float | None
    """Latency in seconds."""
    p95: float | None
    """Latency in seconds."""
    p99: float | None
    """Latency in seconds."""


class VerdictDetails(_OpenRecord):
    """Extra data; the slo invariant puts its per-phase table in details.phases."""

    phases: MaybeAbsent[list[SloPhase]] = None
    """slo: per phase (steady: before the first fault; fault: until the last heal; recovery: after it)."""


class VerdictRecord(_Record):
    """One invariant's verdict (``paychaos.invariants.Verdict.as_json``)."""

    invariant: str
    """Its name (custom ones: "sql: <description>", "python: <module:function>")."""
    status: InvariantStatus
    """could_not_check: the evidence was out of reach (see reason); it never reads as holds."""
    count: NonNegative
    """Violations found."""
    examples: Annotated[list[Any], Field(max_length=20)]
    """Up to 20 violations with their evidence, usually objects (e.g. a double debit: order_id,
    net_debits, the ledger postings with key, amount and time, and the client_operations that caused
    them)."""
    reason: str
    """A one-line summary of the violations, or why it could not be checked; empty when it holds."""
    checked: NonNegative | None
    """How many items were examined, if the invariant says."""
    converged_after: float | None
    """Eventual invariants: seconds after the heal until it held; null otherwise."""
    params: dict[str, Any]
    """Its parameters, defaults filled in."""
    details: VerdictDetails
    """Extra data; the slo invariant puts its per-phase table in details.phases."""
    exported: MaybeAbsent[NonNegative] = None
    """Violated invariants: how many of its violators the run wrote to violations.csv and
    violations.jsonl (fewer than count: see violations.error). Absent when none were written."""


class ViolationsRecord(_Record):
    """Every violator of every violated invariant, one row each, in two files beside results.json
    (invariants[].examples keep the first 20 only)."""

    csv: str
    """violations.csv, relative to the run folder. Columns: invariant, problem (what went wrong),
    order_id, payment_id, instruction (a payout's), account, item (the record at fault when it is none
    of those), amount (the money that would move to put it right, in the target's currency),
    amount_minor (the same in minor units), amounts (the violation's other amounts), remedy (what would
    put it right)."""
    jsonl: str
    """violations.jsonl, relative to the run folder: the same, one JSON object a line, amounts as an
    object, and the violator's own evidence (minor units) under evidence."""
    rows: NonNegative
    """Violators written (the sum of invariants[].exported)."""
    error: str | None
    """Which violators the files lack, and why (violations-error.txt); null when they have every one."""


class SettlePoll(_Record):
    """One round of the settle phase, over one fresh snapshot of the evidence."""

    at: float
    """When the snapshot was taken, seconds after the heal (settle.healed_at)."""
    violations: dict[str, NonNegative | None]
    """Each eventual invariant checked in this round, by name: its violations in the snapshot (0: it
    held); null if it could not be checked. One that held in an earlier round, or whose deadline had
    passed, is not checked again."""


class SettleRecord(_Record):
    """The settle phase: after the heal, the eventual invariants checked round after round (every
    settle.poll) until each held or its deadline passed."""

    healed_at: float
    """When every fault was healed (epoch seconds): time zero of polls[].at, deadlines and
    invariants[].converged_after."""
    deadlines: dict[str, Annotated[float, Field(ge=0)]]
    """Each eventual invariant, by name: seconds after the heal by which it must hold (its within, at
    most settle.timeout)."""
    polls: list[SettlePoll]
    """Each round, in order (as far as the run got)."""


class CoverageRecord(_Record):
    """One coverage counter (``paychaos.invariants.Count.as_json``)."""

    name: str
    """Its name, as an experiment's coverage section names it."""
    description: str
    """What it counts."""
    value: NonNegative | None
    """The count; null if it could not be counted (see error)."""
    required: NonNegative | None
    """The least count the experiment requires; null if it requires none."""
    met: bool | None
    """Whether the requirement was met; null if there is none."""
    error: str | None
    """Why it could not be counted."""


class BackendRecord(_Record):
    """The Toxiproxy backend of the run (``paychaos.faults.Backend.describe``)."""

    kind: Literal["external", "binary", "docker", "embedded"]
    """Which Toxiproxy ran: one given (--toxiproxy, TOXIPROXY_URL), toxiproxy-server on PATH, a local
    image, or paychaos's own server."""
    url: str
    """Its HTTP API."""
    version: str
    """The version its API reported."""
    detail: str
    """Which one, in words (path, image, pid)."""
    passed_over: list[str]
    """The backends preferred over it, each with why it was not used."""


class DirectionTraffic(_Record):
    """One direction of a link's proxy: what it read from the sending side, what it wrote on."""

    received: NonNegative
    """Bytes the proxy read from the sending side (the client for upstream, the server for downstream)."""
    sent: NonNegative
    """Bytes it wrote to the receiving side, after its toxics (fewer when a toxic dropped or still held
    some)."""


class LinkTraffic(_Record):
    """What one link's proxy carried, as its Toxiproxy's /metrics counted it."""

    proxy: str
    """The proxy's name on its Toxiproxy."""
    api: str
    """The Toxiproxy API whose /metrics was read."""
    available: bool
    """Whether that Toxiproxy serves proxy counters (the embedded server does; Toxiproxy only with
    -proxy-metrics); if not, the counts are null and note says why."""
    note: str | None
    """Why the counts are missing or partial, in words; null when they are whole."""
    connections: NonNegative | None
    """Connections the proxy accepted; null if not available or not counted (Toxiproxy counts none)."""
    upstream: DirectionTraffic | None
    """From the link's client to its server; null if not available."""
    downstream: DirectionTraffic | None
    """From the server back to the client; null if not available."""


class TrafficRecord(_Record):
    """What went through each link's proxy during the run, read from /metrics at the end of the heal."""

    at: float
    """When /metrics was read (epoch seconds)."""
    links: dict[str, LinkTraffic]
    """Each link of the target with a proxy, by name."""


class Versions(_OpenRecord):
    """Versions of what ran: always paychaos and python; postgresql and locust once the steady state
    was checked."""

    __pydantic_extra__: dict[str, str] = Field(init=False)

    paychaos: str
    """The harness."""
    python: str
    """The interpreter that ran the harness."""
    postgresql: MaybeAbsent[str] = None
    """The target database's version() up to ' on '."""
    locust: MaybeAbsent[str] = None
    """The load generator."""


class ComparedFigures(_Record):
    """One run's figures in one phase (``paychaos.compare``): exact, from its history."""

    operations: NonNegative
    """Client operations started in the phase."""
    seconds: float | None
    """How long the phase lasted, within the load; null if it had no length."""
    throughput: float | None
    """Operations started per second."""
    error_rate: float | None
    """Failed or unknown, expected refusals excluded, as a fraction of all."""
    p50: float | None
    """Latency in seconds (from when it was due, in an open loop)."""
    p95: float | None
    """Latency in seconds."""
    p99: float | None
    """Latency in seconds."""


class ComparedPhase(_Record):
    """One phase of this run and of its baseline, side by side."""

    phase: Literal["steady", "fault", "recovery", "all"]
    """steady: before the first fault; fault: until the last heal; recovery: after it; all: the whole load."""
    run: ComparedFigures | None
    """This run's figures; null if none of its operations started in the phase."""
    baseline: ComparedFigures | None
    """The baseline's figures; null if none of its operations started in the phase."""


class BaselineVerdict(_Record):
    """One invariant's verdict in the baseline run."""

    invariant: str
    """Its name."""
    status: InvariantStatus
    """holds, violated or could_not_check."""
    count: NonNegative
    """Violations found."""


class BaselineRecord(_Record):
    """The run this one was compared with (--baseline RUN_DIR, or the experiment's baseline), and both
    runs' figures per phase (what `paychaos compare BASELINE RUN` prints)."""

    run_dir: str
    """The baseline's run folder, as the run was given it (or made it)."""
    link: str
    """The same folder, relative to this run's folder."""
    run_id: str
    """The baseline's run id."""
    auto: bool
    """Whether this run made it first (baseline: auto): the experiment without its faults, same load, same
    seed."""
    experiment: str
    """The baseline's experiment name."""
    verdict: VerdictWord
    """The baseline's verdict."""
    faults: NonNegative
    """Faults the baseline applied."""
    split: Literal["own faults", "this run's faults", "no faults"]
    """Where the baseline's phases begin and end: at its own faults; at this run's (it applied none: same
    seconds after its load started, so its fault phase is the same stretch of load without the fault); or
    nowhere (neither applied a fault: all is steady)."""
    phases: list[ComparedPhase]
    """Each phase either run has operations in (steady, fault, recovery), then all."""
    invariants: list[BaselineVerdict]
    """The baseline's verdicts."""


class Results(_Record):
    """What one run of `paychaos run` found, written to <run dir>/results.json at the end of every run,
    whatever happened (completed, aborted by a guard, failed, interrupted). Times named *_at or
    started/ended are epoch seconds (UTC) unless said otherwise; faults' applied_at/healed_at and the
    guard's at/since are seconds since the load started (load_started_at)."""

    model_config = ConfigDict(
        title="paychaos results.json, schema version 1", json_schema_extra={"$id": SCHEMA_ID}
    )

    schema_version: Literal[1]
    """The version of this format. It changes only when a field changes meaning or goes away."""
    run_id: Annotated[str, Field(min_length=1)]
    """The run's folder name under the experiment's report.out: <local time YYYYMMDD-HHMMSS>-<experiment
    name>[-baseline][-<n>] (-baseline: a run without the experiment's faults, --no-faults)."""
    status: Status
    """How the run ended. completed: every phase ran; aborted: a guard tripped, injection stopped and
    every fault healed, then the invariants were still checked; interrupted: Ctrl-C or SIGTERM; error:
    the harness or its infrastructure failed (see error)."""
    verdict: VerdictWord
    """The one-word answer, from exit_code: held (0), violated (1), not exercised (3: a coverage
    requirement was not met), error (3), interrupted (130)."""
    exit_code: Literal[0, 1, 3, 130]
    """The exit code of `paychaos run`: 0 every invariant held and every coverage requirement was met; 1
    an invariant was violated; 3 the harness or its infrastructure failed, an invariant could not be
    checked, no invariant was checked, or a coverage requirement was not met (the run did not exercise
    what the experiment requires); 130 interrupted. (2, invalid input, never has a results.json: the
    run folder is removed.)"""
    error: str | None
    """Why the run ended early (status error or interrupted), or why a finished run is no pass although
    nothing was violated (what it did not exercise; no invariant checked); null otherwise. An
    unexpected exception's traceback is in harness-error.txt beside this file."""
    experiment: ExperimentRecord
    """The experiment that ran (after --quick scaling). A copy of its file is experiment.yaml beside
    this file."""
    target: TargetRecord
    """The system under test."""
    command: str
    """The command that reruns this experiment the same way (experiment file, --defect, --quick,
    --toxiproxy)."""
    started_at: float
    """When the run started (epoch seconds)."""
    ended_at: float
    """When results.json was written (epoch seconds)."""
    load_started_at: float | None
    """When the load started (the earliest start marker in history/*.jsonl, epoch seconds): time zero
    of faults[].applied_at, faults[].healed_at and guard.at. null if the run ended before any load was
    sent."""
    phases: list[PhaseRecord]
    """The run's phases in order, as far as the run got: prepare, target up, steady state, load, heal,
    settle, verify, report."""
    load: LoadRecord
    """A summary of the client operations (empty if the load never ran to its end). The operations
    themselves are in history/*.jsonl."""
    faults: list[FaultRecord]
    """The experiment's fault schedule and what became of each fault. Every applied fault also has
    lines in faults.jsonl (the fault journal)."""
    guard: TripRecord | None
    """The guard that tripped and stopped the injection (status aborted), or null."""
    invariants: list[VerdictRecord]
    """One verdict per invariant of the experiment, in the experiment's order; empty if the run ended
    before verifying."""
    not_checked: dict[str, str] = Field(default_factory=dict)
    """The default invariants this run did not check, each with why: left out by the experiment (its
    ``exclude`` reason), or needing evidence tables the target does not provide. What held says
    nothing of these. Absent in the results of a paychaos that did not record it."""
    violations: ViolationsRecord | None = None
    """Where every violator is listed, with what would put it right; null if the run ended before
    verifying; absent in the results of a paychaos that did not record it."""
    settle: SettleRecord | None = None
    """How the eventual invariants converged after the heal: each settle round's violations. null if the
    run ended before its settle phase began; absent in the results of a paychaos that did not record
    it."""
    coverage: list[CoverageRecord]
    """What the run made the stack do, counted after the checks (paychaos's counters from the evidence
    tables, then the target's own), each with the experiment's requirement if it has one; empty if the
    run ended before verifying."""
    backend: BackendRecord | None
    """The Toxiproxy backend that injected network faults, or null if the run ended before one started."""
    traffic: TrafficRecord | None = None
    """What went through each link's proxy (bytes per direction, connections); null if the run ended
    before the heal; absent in the results of a paychaos that did not record it."""
    versions: Versions
    """Versions of what ran: always paychaos and python; postgresql and locust once the steady state was
    checked."""
    baseline: BaselineRecord | None = None
    """The run this one was compared with, and both runs' figures per phase; null if it had no baseline
    (or the comparison could not be made); absent in the results of a paychaos that did not record it."""


# -- history/*.jsonl -----------------------------------------------------------------------------


class Operation(_Record):
    """One client operation: one line of a history file (``paychaos.load``)."""

    id: str
    """Unique in the run: op-<process>-<user>-<n>."""
    kind: str
    """The scenario's name for what it did (pay, refund, payout, …)."""
    order_id: str | None
    """The order it concerned, if any."""
    key: str | None
    """The idempotency key it sent, if any."""
    amount: int | None
    """The amount it concerned, in minor units, if any."""
    intended: MaybeAbsent[float] = None
    """Open-loop loads, the first operation of each scenario iteration only: when the iteration was due
    (epoch seconds, at most start). Latency is measured from it: end - intended."""
    start: float
    """When it was sent (epoch seconds)."""
    end: float
    """When its answer came, or it was given up (epoch seconds)."""
    outcome: Literal["ok", "failed", "timeout", "connection"]
    """ok; failed (an answer refused it: see status); timeout or connection: unknown, it may or may not
    have happened."""
    status: int | None
    """The HTTP status of the answer; null when none came."""
    payment_id: str | None
    """The payment the answer (or the request) named."""
    payment_state: str | None
    """The payment's state as the answer said."""
    error: str | None
    """What went wrong, in words."""
    expected: bool
    """A refusal the scenario provoked on purpose (service levels do not count it as an error)."""
    told: MaybeAbsent[str] = None
    """What the answer told the client as a final word on its payment (succeeded, failed)."""
    forged: MaybeAbsent[bool] = None
    """A request made inauthentic on purpose (the stack must not act on it)."""
    refusal_expected: MaybeAbsent[bool] = None
    """The scenario expected a refusal (see expected for whether it got one)."""


class LoadStarted(_Record):
    """A history line that is no operation: this Locust process began sending load."""

    event: Literal["start"]
    """The marker's kind."""
    at: float
    """When (epoch seconds); the earliest of all processes is the run's load_started_at."""
    pid: int
    """The Locust process."""
    process: NonNegative
    """Its index among the run's Locust processes."""


class ArrivalsCounted(_Record):
    """A history line that is no operation: one second of an open-loop load's arrivals in one process."""

    event: Literal["arrivals"]
    """The marker's kind."""
    at: float
    """The second's start (epoch seconds)."""
    process: NonNegative
    """The Locust process, by index."""
    offered: NonNegative
    """Arrivals due in this second (this process's share of the rate): started + dropped."""
    started: NonNegative
    """Arrivals a free user took and started."""
    dropped: NonNegative
    """Arrivals that found every one of the process's users busy; they never started."""


# -- faults.jsonl --------------------------------------------------------------------------------


class _FaultEvent(_Record):
    at: str
    """When, ISO 8601 (UTC, milliseconds)."""
    t: float
    """Seconds since the journal was opened (the run's own clock)."""
    id: str
    """The fault's id in this journal: f1, f2, …"""
    by: MaybeAbsent[str] = None
    """Who wrote it, when not the run itself (paychaos heal, the next run's prepare)."""


class FaultApplied(_FaultEvent):
    """A fault was applied; ``undo`` is all a later heal needs, even from another process."""

    event: Literal["applied"]
    """The event."""
    kind: str
    """The kind of fault (toxic, process, container, config, …)."""
    target: str
    """What it acts on: a link, a service, a container, a config endpoint."""
    action: str
    """What it does to it."""
    params: dict[str, Any]
    """Its attributes, in the units the backend takes."""
    undo: dict[str, Any]
    """What healing it needs."""
    overlaps: MaybeAbsent[list[str]] = None
    """The active faults holding the same state when it was applied."""


class FaultApplyFailed(_FaultEvent):
    """Applying a fault failed; nothing is left to heal."""

    event: Literal["apply_failed"]
    """The event."""
    kind: str
    """The kind of fault."""
    target: str
    """What it was to act on."""
    action: str
    """What it was to do."""
    error: str
    """Why it failed."""


class FaultHealed(_FaultEvent):
    """A fault was healed (or its state kept for the faults named in kept_by)."""

    event: Literal["healed"]
    """The event."""
    outcome: str
    """What healing did, in words."""
    kept_by: MaybeAbsent[list[str]] = None
    """Active faults that still hold the state this one shared: it stays in place for them."""


class FaultHealFailed(_FaultEvent):
    """Healing failed; ``paychaos heal`` tries again."""

    event: Literal["heal_failed"]
    """The event."""
    error: str
    """Why it failed."""


class FaultHealAbandoned(_FaultEvent):
    """Healing can never be done (what it would undo is gone); the fault counts as settled."""

    event: Literal["heal_abandoned"]
    """The event."""
    reason: str
    """Why it was given up."""


FaultEvent = Annotated[
    FaultApplied | FaultApplyFailed | FaultHealed | FaultHealFailed | FaultHealAbandoned,
    Field(discriminator="event"),
]
"""One line of a fault journal (``paychaos.faults``), told apart by its ``event``."""
