"""Rebuild a run's report.html and junit.xml from what the run left in its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paychaos.errors import InvalidInput
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

    A folder that holds no run (neither experiment.yaml nor results.json) is refused with
    :class:`InvalidInput` (exit 2), naming the runs inside it if it is a folder of runs.
    """
    check_run_folder(Path(run_dir))
    run = load_run(Path(run_dir))
    report = write_run_html(run, run.dir / REPORT_NAME)
    write_junit(run.model, run.dir / JUNIT_NAME, report=report)
    return run.results


def check_run_folder(path: Path) -> None:
    """Raise InvalidInput, saying what a run folder looks like, unless ``path`` holds a run."""
    if not path.is_dir():
        raise InvalidInput(f"no such run folder: {path}")
    folder = RunDir(path)
    if folder.experiment.is_file() or folder.results.is_file():
        return
    runs = sorted(
        p.name for p in path.glob("*/") if RunDir(p).experiment.is_file() or RunDir(p).results.is_file()
    )
    inside = f"; it holds {len(runs)} run(s), e.g. {path / runs[-1]} (the latest)" if runs else ""
    raise InvalidInput(
        f"{path} is no run folder: a run folder is what `paychaos run` made, e.g. "
        f"reports/20261202-101500-hello/, holding {RunDir.EXPERIMENT} (the experiment as run) and, once "
        f"the run ended, {RunDir.RESULTS}{inside}"
    )
