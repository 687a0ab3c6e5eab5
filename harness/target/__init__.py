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
from harness.target._postgres import EmbeddedPostgres, Server, external, scram_verifier
from harness.target._stack import Address, Stack, check_defects

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
    "check_defects",
    "external",
    "load_target",
    "scram_verifier",
]
