"""The public API is what __all__ says; it grows only on purpose."""

from __future__ import annotations

import paychaos
import paychaos.faults
import paychaos.system


def test_harness_exports() -> None:
    assert sorted(paychaos.__all__) == [
        "ExitCode",
        "InfrastructureError",
        "InvalidInput",
        "PaychaosError",
        "__version__",
    ]


def test_system_exports() -> None:
    assert sorted(paychaos.system.__all__) == [
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
        "POSTGRES",
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


def test_faults_exports() -> None:
    assert sorted(paychaos.faults.__all__) == [
        "Backend",
        "ConfigFault",
        "ContainerFault",
        "Fault",
        "FaultInjector",
        "FaultJournal",
        "FaultWindow",
        "Healed",
        "Hop",
        "HopClient",
        "HopLinks",
        "HttpFault",
        "HttpFaultSpec",
        "JOURNAL_NAME",
        "LinkDown",
        "LinkProxies",
        "ProcessFault",
        "ProcessHandle",
        "TOXIC_TYPES",
        "ToxicFault",
        "ToxiproxyClient",
        "ToxiproxyError",
        "docker_engine",
        "fault_windows",
        "heal_leftovers",
        "read_journal",
        "start_backend",
        "start_hop",
        "unhealed",
    ]
