"""The system under test: the typed ``target.yaml`` model and its loader, and the supervisor that
runs a target's services (``Stack``). PostgreSQL for it lives in ``paychaos.postgres``."""

from __future__ import annotations

from paychaos.system._load import load_target
from paychaos.system._model import (
    POSTGRES,
    ConfigEndpointSpec,
    CoverageCounter,
    CurrencySpec,
    DefectSpec,
    EvidenceSection,
    EvidenceSource,
    EvidenceTable,
    LinkSpec,
    LoadSpec,
    PaymentSpec,
    PostgresSpec,
    RetrySpec,
    ServiceSpec,
    StepSpec,
    Target,
    ValueSpec,
    format_amount,
    json_path,
    template_names,
)
from paychaos.system._stack import Address, Stack, check_defects

__all__ = [
    "POSTGRES",
    "Address",
    "ConfigEndpointSpec",
    "CoverageCounter",
    "CurrencySpec",
    "DefectSpec",
    "EvidenceSection",
    "EvidenceSource",
    "EvidenceTable",
    "LinkSpec",
    "LoadSpec",
    "PaymentSpec",
    "PostgresSpec",
    "RetrySpec",
    "ServiceSpec",
    "Stack",
    "StepSpec",
    "Target",
    "ValueSpec",
    "check_defects",
    "format_amount",
    "json_path",
    "load_target",
    "template_names",
]
