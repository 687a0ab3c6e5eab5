"""paychaos.report's public API is what __all__ says; it grows only on purpose."""

from __future__ import annotations

import paychaos.report


def test_report_exports() -> None:
    assert sorted(paychaos.report.__all__) == [
        "JUNIT_NAME",
        "REPORT_NAME",
        "ResultsInvalid",
        "rebuild",
        "results_schema",
        "run_summary",
        "validate_results",
        "write_html",
        "write_junit",
    ]
    assert (paychaos.report.REPORT_NAME, paychaos.report.JUNIT_NAME) == ("report.html", "junit.xml")
