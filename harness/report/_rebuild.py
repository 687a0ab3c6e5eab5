"""Rebuild a run's report.html and junit.xml from what the run left in its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paychaos.report._html import REPORT_NAME, write_run_html
from paychaos.report._junit import write_junit
from paychaos.report._run import load_run
from paychaos.rundir import RunDir

JUNIT_NAME = RunDir.JUNIT


def rebuild(run_dir: Path) -> dict[str, Any]:
    """Write ``run_dir/report.html`` and ``run_dir/junit.xml`` again; return the results they show.

    Works for a finished, failed or interrupted run. If results.json is missing or unreadable (a run
    that crashed hard), the results are rebuilt from the history, the fault journal and
    experiment.yaml, with status ``interrupted`` (exit code 130), and the report says so; results.json
    itself is never written here.
    """
    run = load_run(Path(run_dir))
    report = write_run_html(run, run.dir / REPORT_NAME)
    write_junit(run.model, run.dir / JUNIT_NAME, report=report)
    return run.results
