"""``target.yaml``: what the harness knows about a system under test, as typed, frozen models.

The harness knows a target only through this file: how to start each service
and check its health, which links (``from → to``) exist so each can be routed
through a fault proxy, where the evidence for invariants lives, what load to
drive, which config endpoints a ``config`` fault may call, and the target's
defect switches.

Service commands and environment values are templates. ``{python}`` is the harness's interpreter,
``{port}`` the service's own port, ``{link.NAME.url}``,
``{link.NAME.address}`` or ``{link.NAME.dsn}`` the address a link resolves to
— the peer itself, or a proxy in front of it during an experiment — and
``{secret}`` a random token made afresh for every run (the same for every
service and the load), for shared keys such as a webhook signing secret; the
top-level ``env:`` takes ``{secret}`` only.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)

from paychaos.durations import Duration
from paychaos.errors import did_you_mean

POSTGRES = "postgres"  # the link target name for the target's PostgreSQL server
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.\-]*)\}")

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_\-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ServiceKind = Literal["command", "compose", "url"]


def service_address(url: str) -> tuple[str, int]:
    """The host and port of a running service's URL, which must be ``http://HOST:PORT`` and no more.

    >>> service_address("http://127.0.0.1:9300")
    ('127.0.0.1', 9300)
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is no number, or out of range
        port = None
    extra = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password
    if parts.scheme != "http" or not parts.hostname or not port or extra:
        raise ValueError(
            f"{url!r} is no service URL; write http://HOST:PORT and nothing more, e.g. "
            "http://127.0.0.1:9300 (the health path goes in 'health')"
        )
    return parts.hostname, port


class ServiceSpec(_Model):
    """One service: a command paychaos starts, a service of the target's Compose project, or a service
    already running at a URL (exactly one of ``command``, ``compose`` and ``url``)."""

    command: Annotated[list[str], Field(min_length=1)] | None = Field(
        default=None, description="a process paychaos starts: the program and its arguments"
    )
    compose: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="a service of the target's Compose project (compose.file): its name there"
    )
    url: str | None = Field(
        default=None,
        description="a service already running, http://HOST:PORT: paychaos starts nothing, checks its "
        "health, and faults only what it can reach",
    )
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        default=None, description="command and compose services: the port `paychaos stack up` gives it"
    )
    health: Annotated[str, Field(pattern=r"^/")] = "/healthz"
    start_timeout: Duration = 30.0
    env: dict[str, str] = {}
    description: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> ServiceSpec:
        given = [kind for kind in ("command", "compose", "url") if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                "a service is one of: command (a process paychaos starts), compose (a service of the "
                "target's Compose project) or url (a service already running, http://HOST:PORT)"
                + (f"; got {' and '.join(given)}" if given else "")
            )
        if self.url is not None:
            service_address(self.url)
            if self.port is not None:
                raise ValueError("a url service's port is the one in its url; remove 'port'")
            if self.env:
                raise ValueError(
                    "a url service runs already, so paychaos gives it no environment; remove 'env'"
                )
        elif self.port is None:
            raise ValueError(
                f"a {given[0]} service needs 'port': the port it listens on (`paychaos stack up` gives it "
                "this one; a run a free one, as {port})"
            )
        return self

    @property
    def kind(self) -> ServiceKind:
        return "command" if self.command is not None else "compose" if self.compose is not None else "url"


class ComposeSpec(_Model):
    """The target's Docker Compose project, whose services ``compose:`` services name."""

    file: Annotated[str, Field(min_length=1)] = Field(description="the Compose file, relative to target.yaml")
    project: Name | None = Field(
        default=None,
        description="the project's name (default: the target's); a run's is <project>-<unique suffix>",
    )
    command: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = Field(
        default=None,
        description="the Compose command, e.g. [docker, compose] (default: `docker compose` where it "
        "works, else docker-compose; PAYCHAOS_COMPOSE overrides it)",
    )


def _toxiproxy_api(url: str) -> str:
    """An http(s) URL with a host (and a port that is a number, if any): the API of a Toxiproxy."""
    parts = urlsplit(url)
    try:
        fine = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is no number
        fine = False
    if not fine:
        raise ValueError(
            f"{url!r} is no Toxiproxy API URL; write http://HOST:PORT, e.g. http://127.0.0.1:8474"
        )
    return url


def _proxy_name(name: str) -> str:
    if not name.strip():
        raise ValueError("the proxy's name is empty; write the name the Toxiproxy lists it under")
    return name


class ToxiproxyLinkSpec(_Model):
    """A proxy on a Toxiproxy the user runs, which the link's traffic already goes through."""

    url: Annotated[str, AfterValidator(_toxiproxy_api)] = Field(
        description="the Toxiproxy's API, e.g. http://127.0.0.1:8474"
    )
    proxy: Annotated[str, AfterValidator(_proxy_name)] = Field(
        description="the name of the proxy there (paychaos never creates, changes or deletes it)"
    )


class LinkSpec(_Model):
    source: str = Field(alias="from")
    to: str
    database: str | None = None
    toxiproxy: ToxiproxyLinkSpec | None = Field(
        default=None,
        description="the link goes through this proxy of a Toxiproxy you run: faults add toxics there, "
        "and no proxy of paychaos's own is put in front of it",
    )
    description: str = ""


class PostgresSpec(_Model):
    databases: Annotated[list[Name], Field(min_length=1)]


class EvidenceSource(_Model):
    kind: Literal["sql", "http"]
    database: str | None = None  # kind sql
    service: str | None = None  # kind http
    views: list[str] = []
    description: str = ""


EvidenceTableName = Literal[
    "debits", "refunds", "accounts", "credit_lines", "postings", "payments",
    "orders", "notifications", "deliveries", "fulfilments", "payouts", "payout_requests", "payout_attempts",
]  # fmt: skip


class EvidenceTable(_Model):
    """How to fill one of paychaos's evidence tables (see harness/_evidence_tables.py) from a source."""

    source: str
    query: str | None = Field(default=None, description="sql sources: a SELECT naming the table's columns")
    path: str | None = Field(default=None, description="http sources: a GET path answering JSON lines")
    description: str = ""


class EvidenceSection(_Model):
    sources: dict[Name, EvidenceSource] = {}
    tables: dict[EvidenceTableName, EvidenceTable] = {}


# -- load: the scenarios, in Python (load.module) or as HTTP steps in this file -----------------------

ValueName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
BUILTIN_VALUES = ("order_id", "idempotency_key")
"""Template values every YAML scenario has: a fresh order id per iteration, and its idempotency key."""
_JSON_PATH_PART = re.compile(r"\.([^.\[\]]+)|\[([0-9]+)\]")


def json_path(path: str) -> tuple[str | int, ...]:
    """The keys and indexes a simple JSON path reads: ``$.items[0].id`` → ``("items", 0, "id")``.

    The leading ``$`` may be left out (``payment.id``). Raises ValueError, with the form to write,
    for anything else (wildcards, filters, quotes).
    """
    text = path[1:] if path.startswith("$") else f".{path}"
    parts: list[str | int] = []
    at = 0
    for match in _JSON_PATH_PART.finditer(text):
        if match.start() != at:
            break
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        at = match.end()
    if at != len(text) or not path:
        raise ValueError(
            f"invalid JSON path {path!r}; write keys and list indexes from the top of the answer, "
            "e.g. $.id, $.payment.state or $.items[0].id"
        )
    return tuple(parts)


def template_names(text: str) -> list[str]:
    """The placeholders a request template uses, in order: ``"/orders/{order_id}"`` → ``["order_id"]``.

    ``{{`` and ``}}`` are literal braces. Raises ValueError for a lone brace or a placeholder that is
    no plain name (``{a.b}``, ``{n:05d}``, ``{}``).
    """
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise ValueError(
            f"{text!r} holds a lone {{ or }}; a placeholder is {{name}}, and a literal brace is "
            "written {{ or }}"
        ) from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or spec or conversion:
            whole = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"{whole} is no placeholder; write a value's name alone, e.g. {{order_id}}")
        names.append(name)
    return names


def _checked_path(path: str) -> str:
    json_path(path)
    return path


JsonPath = Annotated[
    str,
    AfterValidator(_checked_path),
    Field(description="a simple JSON path into the answer: $.id, $.payment.state, $.items[0].id"),
]
Status = Annotated[int, Field(ge=100, le=599)]


class IntRange(_Model):
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max}); swap them")
        return self


class ValueSpec(_Model):
    """A template value drawn afresh for every iteration from the user's seeded generator.

    One of: ``{min, max}`` a whole number; ``{pattern, n: {min, max}}`` a text with a random number
    (``cust-{n:05d}``); ``{one_of: [...]}`` one of a few; ``{unique: prefix}`` an id no other operation
    of the run uses.
    """

    min: int | None = Field(default=None, description="with max: a whole number from min to max")
    max: int | None = None
    pattern: str | None = Field(default=None, description="with n: a text around a number, e.g. cust-{n:05d}")
    n: IntRange | None = None
    one_of: Annotated[list[str | int | float | bool], Field(min_length=1)] | None = Field(
        default=None, description="one of these, picked at random"
    )
    unique: Name | None = Field(
        default=None, description="a prefix: an id no other operation of the run uses"
    )

    @model_validator(mode="after")
    def _one_form(self) -> ValueSpec:
        forms = {
            "min, max": (self.min, self.max),
            "pattern, n": (self.pattern, self.n),
            "one_of": (self.one_of,),
            "unique": (self.unique,),
        }
        given = [form for form, parts in forms.items() if any(p is not None for p in parts)]
        complete = [form for form in given if all(p is not None for p in forms[form])]
        if len(given) != 1 or complete != given:
            keys = [
                key
                for key in ("min", "max", "pattern", "n", "one_of", "unique")
                if getattr(self, key) is not None
            ]
            raise ValueError(
                "a value takes one of: {min, max} (a whole number), {pattern, n: {min, max}} "
                "(a text around a number), {one_of: [...]} or {unique: prefix}"
                + (f"; got {', '.join(keys)}" if keys else "")
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max}); swap them")
        if self.pattern is not None and self.n is not None:
            _check_pattern(self.pattern, self.n.min)
        return self


def _check_pattern(pattern: str, n: int) -> None:
    """A value's pattern holds ``{n}`` (maybe formatted, ``{n:05d}``) and nothing else to fill."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
        if fields == {"n"}:
            pattern.format(n=n)  # a bad format ({n:05q}) fails here, not in the middle of a run
    except (ValueError, KeyError, IndexError):
        fields = set()
    if fields != {"n"}:
        raise ValueError(
            f"pattern {pattern!r} must hold {{n}}, maybe formatted ({{n:05d}}), and no other placeholder"
        )


class RequestSpec(_Model):
    """One HTTP request; ``path``, header values and the strings in ``json`` are templates."""

    kind: Name | None = Field(
        default=None, description="the operation's kind in the history (default: the scenario's name)"
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: Annotated[str, Field(pattern=r"^/", description="a template, e.g. /payments/{payment_id}")]
    body: JsonValue = Field(
        default=None, alias="json", description="the JSON body; its strings are templates"
    )
    headers: dict[str, str] = Field(default={}, description="header values are templates")


def _retry_when(value: str | int) -> str | int:
    if value in ("unknown", "failed") or (type(value) is int and 100 <= value <= 599):
        return value
    hint = did_you_mean(value, ["unknown", "failed"])
    raise ValueError(f"{value!r} is none of unknown, failed or a status from 100 to 599{hint}")


RetryWhen = Annotated[
    str | int,
    AfterValidator(_retry_when),
    WithJsonSchema(
        {"anyOf": [{"enum": ["unknown", "failed"]}, {"type": "integer", "minimum": 100, "maximum": 599}]}
    ),
]


class RetrySpec(_Model):
    """Send the same request again (the same body, the same idempotency key) while its answer says to."""

    times: Annotated[int, Field(ge=1, le=100, description="at most this many resends")]
    while_: Annotated[list[RetryWhen], Field(min_length=1)] = Field(
        default=["unknown"],
        alias="while",
        description="unknown (no answer came), failed (an answer the step does not expect) or a status",
    )
    pause: Duration = Field(default=0.0, description="wait this long before each resend (a person, thinking)")


class StepSpec(_Model):
    request: RequestSpec
    key: str | None = Field(
        default=None,
        description="this step's idempotency key, a template (default: order:{order_id}); it is what "
        "{idempotency_key} means in the step, and the history records it",
    )
    extract: dict[ValueName, JsonPath] = Field(
        default={}, description="values read from the answer, for later steps: name → JSON path"
    )
    expect: list[Status] | None = Field(
        default=None,
        description="statuses that let the scenario go on (default: any 2xx, or none with expect_refusal)",
    )
    expect_refusal: list[Status] = Field(
        default=[], description="refusals provoked on purpose: recorded as expected, not as errors"
    )
    retry: RetrySpec | None = None
    continue_: bool = Field(
        default=False, alias="continue", description="go on to the next step even when this one failed"
    )

    def templates(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Every template in the step, with where it is, relative to the step."""
        if self.key is not None:
            yield ("key",), self.key
        yield ("request", "path"), self.request.path
        for name, value in self.request.headers.items():
            yield ("request", "headers", name), value
        yield from _json_templates(self.request.body, ("request", "json"))


def _json_templates(
    value: JsonValue, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_templates(item, (*loc, i))
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _json_templates(item, (*loc, name))


class ScenarioSpec(_Model):
    weight: Annotated[int, Field(ge=0)] = 1
    always: bool = Field(
        default=False,
        description="mixed into every experiment's load at this weight, also when the experiment picks "
        "its own scenarios (failure paths, attacks): an experiment leaves it out only by giving it weight 0",
    )
    description: str = ""
    steps: Annotated[list[StepSpec], Field(min_length=1)] | None = Field(
        default=None,
        description="the scenario's HTTP requests, in order, one iteration each time it runs "
        "(without steps, the scenario is the function of that name in load.module)",
    )


class OutcomeSpec(_Model):
    """What an answer told the client as a final word, read from one field of it."""

    path: JsonPath | None = Field(
        default=None, description="where the answer says it (default: payment.state)"
    )
    succeeded: list[str | int | bool] = Field(
        default=[], description="values that tell the payment succeeded"
    )
    failed: list[str | int | bool] = Field(default=[], description="values that tell the payment failed")


class PaymentSpec(_Model):
    """Where an answer carries its payment, for the history: ``payment_of`` and ``outcome_of`` in YAML."""

    id: JsonPath
    state: JsonPath | None = None
    outcome: OutcomeSpec | None = None

    @model_validator(mode="after")
    def _outcome_read_somewhere(self) -> PaymentSpec:
        if self.outcome is not None and self.outcome.path is None and self.state is None:
            raise ValueError("outcome needs a path, or payment needs a state to read the outcome from")
        return self


class LoadSpec(_Model):
    service: str = Field(description="the service the load is sent to")
    module: str | None = Field(
        default=None,
        description="import path of a Python scenario module (SCENARIOS, payment_of, optionally outcome_of), "
        "for the scenarios without steps",
    )
    scenarios: Annotated[dict[Name, ScenarioSpec], Field(min_length=1)]
    payment: PaymentSpec | None = Field(
        default=None, description="where answers carry the payment id, state and outcome (for steps)"
    )
    values: dict[ValueName, ValueSpec] = Field(
        default={}, description="template values drawn afresh each iteration: {amount}, {account}, …"
    )


class ConfigEndpointSpec(_Model):
    service: str
    path: Annotated[str, Field(pattern=r"^/")]
    method: Literal["PUT", "POST", "PATCH"] = "PUT"
    description: str = ""


class CoverageCounter(_Model):
    """A count of something the stack did during a run (a void, a retried refund), read after it."""

    source: str = Field(description="an sql evidence source")
    query: str = Field(description="a SELECT answering one row with one number")
    description: str = ""


class DefectCatch(_Model):
    """Another experiment that must catch a defect, and the invariants it catches it with."""

    experiment: str
    invariants: Annotated[list[str], Field(min_length=1)]


class DefectSpec(_Model):
    description: str
    incident: str
    experiment: str = Field(
        description="the experiment that reproduces the incident (relative to target.yaml)"
    )
    invariants: Annotated[list[str], Field(min_length=1)] = Field(
        description="the invariants that experiment must find violated with the defect on"
    )
    also: list[DefectCatch] = Field(default=[], description="other experiments that must catch it too")

    def catches(self) -> list[DefectCatch]:
        """Every experiment that must catch the defect, with its invariants: its own first."""
        return [DefectCatch(experiment=self.experiment, invariants=self.invariants), *self.also]


class CurrencySpec(_Model):
    """The currency the target's amounts are in: evidence amounts are whole minor units (cents, fen)."""

    code: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD, EUR, CNY")]
    minor_unit: Annotated[int, Field(ge=0, le=4)] = Field(
        default=2, description="decimal places of the minor unit: 2 for cents, 0 for JPY, 3 for KWD"
    )

    def format(self, minor: int) -> str:
        """An amount in minor units as a person writes it: ``9107`` → ``"91.07 CNY"``.

        >>> CurrencySpec(code="CNY").format(-123456789)
        '-1,234,567.89 CNY'
        >>> CurrencySpec(code="JPY", minor_unit=0).format(5000)
        '5,000 JPY'
        """
        sign = "-" if minor < 0 else ""
        whole, part = divmod(abs(int(minor)), 10**self.minor_unit)
        decimals = f".{part:0{self.minor_unit}d}" if self.minor_unit else ""
        return f"{sign}{whole:,}{decimals} {self.code}"


def format_amount(minor: int, currency: CurrencySpec | None) -> str:
    """An amount for people: in the target's currency if it declares one, else as minor units.

    >>> format_amount(9107, None)
    '9,107 (minor units)'
    """
    return currency.format(minor) if currency is not None else f"{int(minor):,} (minor units)"


class Target(_Model):
    name: Name
    description: str = ""
    services: Annotated[dict[Name, ServiceSpec], Field(min_length=1)]
    compose: ComposeSpec | None = Field(
        default=None, description="the Docker Compose project its compose: services belong to"
    )
    links: dict[Name, LinkSpec] = {}
    postgres: PostgresSpec | None = None
    env: dict[str, str] = Field(
        default={}, description="for every service and the load; {secret}: a fresh random token per run"
    )
    evidence: EvidenceSection = EvidenceSection()
    load: LoadSpec | None = None
    config: dict[Name, ConfigEndpointSpec] = {}
    coverage: dict[Name, CoverageCounter] = {}
    currency: CurrencySpec | None = Field(
        default=None,
        description="what the evidence amounts are in, for reports (amounts stay whole minor units)",
    )
    defects_env: str | None = None
    defects: dict[Name, DefectSpec] = {}

    # Set by the loader: the file this came from; relative paths resolve against its folder.
    _source: Path = PrivateAttr(default=Path("target.yaml"))

    @property
    def source(self) -> Path:
        return self._source

    @property
    def root(self) -> Path:
        return self._source.parent

    def services_of(self, kind: ServiceKind) -> list[str]:
        """The names of the services of one kind (command, compose or url), in the file's order."""
        return [name for name, service in self.services.items() if service.kind == kind]

    def unfaultable_link(self, link: str) -> str | None:
        """Why faults cannot act on ``link`` (its source is a url service, which paychaos cannot tell
        to connect through a proxy), or None if they can."""
        spec = self.links.get(link)
        source = self.services.get(spec.source) if spec is not None else None
        if spec is None or source is None or source.url is None:
            return None
        if spec.toxiproxy is not None:
            return None  # it goes through a Toxiproxy the user runs: the toxics go there
        return (
            f"link {link!r} starts at {spec.source!r}, a url service paychaos only attaches to: it cannot "
            f"tell {spec.source} to connect through a fault proxy, so no fault can act on the link; route "
            f"it through a Toxiproxy you run (links.{link}.toxiproxy: {{url, proxy}}), or fault a link "
            f"of a service paychaos starts"
        )
