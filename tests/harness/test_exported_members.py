"""The public API is what __all__ says; it grows only on purpose."""

from __future__ import annotations

import harness
import harness.target


def test_harness_exports() -> None:
    assert sorted(harness.__all__) == [
        "ExitCode",
        "InfrastructureError",
        "InvalidInput",
        "PaychaosError",
        "__version__",
    ]


def test_target_exports() -> None:
    assert sorted(harness.target.__all__) == [
        "Address",
        "ConfigEndpointSpec",
        "DefectSpec",
        "EmbeddedPostgres",
        "EvidenceSpec",
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
