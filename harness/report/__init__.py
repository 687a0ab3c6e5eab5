"""What a run leaves for people and for CI: results.json's schema, JUnit XML, the HTML report.

>>> run = RunDir(run_dir)  # paychaos.rundir  # doctest: +SKIP
>>> validate_results(run.read_results())  # doctest: +SKIP
>>> write_junit(run.read_results(), run.junit)  # doctest: +SKIP
>>> write_html(run.path)  # doctest: +SKIP
PosixPath('reports/20261122-101500-hello/report.html')
>>> rebuild(run_dir)["verdict"]  # doctest: +SKIP
'held'
"""

from __future__ import annotations

from paychaos.report._html import REPORT_NAME, write_html
from paychaos.report._junit import write_junit
from paychaos.report._rebuild import JUNIT_NAME, rebuild
from paychaos.report._schema import ResultsInvalid, results_schema, validate_results
from paychaos.report._text import run_summary

__all__ = [
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
