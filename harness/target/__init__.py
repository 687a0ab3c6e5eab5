"""Targets: the typed ``target.yaml`` model, PostgreSQL for targets, and the process supervisor."""

from __future__ import annotations

from harness.target._load import load_target
from harness.target._model import (
    ConfigEndpointSpec,
    CoverageCounter,
    DefectSpec,
    EvidenceSection,
    EvidenceSource,
    EvidenceTable,
    LinkSpec,
    LoadSpec,
    PostgresSpec,
    ServiceSpec,
    Target,
)
from harness.target._postgres import EmbeddedPostgres, Server, external
from harness.target._stack import Address, Stack

__all__ = [
    "Address",
    "ConfigEndpointSpec",
    "CoverageCounter",
    "DefectSpec",
    "EmbeddedPostgres",
    "EvidenceSection",
    "EvidenceSource",
    "EvidenceTable",
    "LinkSpec",
    "LoadSpec",
    "PostgresSpec",
    "Server",
    "ServiceSpec",
    "Stack",
    "Target",
    "external",
    "load_target",
]
