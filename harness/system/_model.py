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
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from harness.durations import Duration

POSTGRES = "postgres"  # the link target name for the target's PostgreSQL server
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.\-]*)\}")

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_\-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ServiceSpec(_Model):
    command: Annotated[list[str], Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]
    health: Annotated[str, Field(pattern=r"^/")] = "/healthz"
    start_timeout: Duration = 30.0
    env: dict[str, str] = {}
    description: str = ""


class LinkSpec(_Model):
    source: str = Field(alias="from")
    to: str
    database: str | None = None
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
    "orders", "notifications", "deliveries", "fulfilments", "payouts", "payout_requests",
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


class ScenarioSpec(_Model):
    weight: Annotated[int, Field(ge=0)] = 1
    always: bool = Field(
        default=False,
        description="mixed into every experiment's load at this weight, also when the experiment picks "
        "its own scenarios (failure paths, attacks): an experiment leaves it out only by giving it weight 0",
    )
    description: str = ""


class LoadSpec(_Model):
    service: str = Field(description="the service the load is sent to")
    module: str = Field(
        description="import path of the scenario module (SCENARIOS, payment_of, optionally outcome_of)"
    )
    scenarios: Annotated[dict[Name, ScenarioSpec], Field(min_length=1)]


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


class Target(_Model):
    name: Name
    description: str = ""
    services: Annotated[dict[Name, ServiceSpec], Field(min_length=1)]
    links: dict[Name, LinkSpec] = {}
    postgres: PostgresSpec | None = None
    env: dict[str, str] = Field(
        default={}, description="for every service and the load; {secret}: a fresh random token per run"
    )
    evidence: EvidenceSection = EvidenceSection()
    load: LoadSpec | None = None
    config: dict[Name, ConfigEndpointSpec] = {}
    coverage: dict[Name, CoverageCounter] = {}
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
