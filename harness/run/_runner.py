"""A run, composed of its phases: target up, steady state, load and its fault schedule, heal,
settle, verify, report.

>>> result = run_experiment(
...     load_experiment("experiments/hello.yaml"), RunOptions(), console)  # doctest: +SKIP
>>> result.exit_code, result.run_dir
(<ExitCode.HELD: 0>, PosixPath('reports/20261122-101500-hello'))

Everything the run starts is stopped and every fault healed on the way out,
whether the run completed, a guard aborted the injection, the harness failed,
or the user pressed Ctrl-C. Evidence is written as it happens (history and
fault journal); results.json is written at the end whatever happened, with a
verdict for every invariant the run was to check.
"""

from __future__ import annotations

import platform
import shutil
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from paychaos import __version__
from paychaos._ownership import RunLock
from paychaos._results import exit_code, not_exercised, write_results
from paychaos.compare import baseline_record
from paychaos.errors import ExitCode, InfrastructureError, InvalidInput, PaychaosError
from paychaos.experiment import ExperimentFile
from paychaos.invariants import Evidence, never_checked, settle_window
from paychaos.report import rebuild
from paychaos.run import _phases as phase
from paychaos.run._plan import RunOptions, RunPlan, plan_run
from paychaos.run._progress import Progress
from paychaos.run._record import PhaseLog, RunRecord


@dataclass
class RunResult:
    run_dir: Path
    exit_code: ExitCode
    results: dict[str, Any] = field(default_factory=dict)


def run_experiment(file: ExperimentFile, options: RunOptions, console: Console) -> RunResult:
    plan = plan_run(file, options)  # claims the run folder
    # The run owns its folder while it runs: other runs' prepare and `paychaos heal` leave its
    # faults and processes alone until the lock drops (when the run ends, or when it dies).
    with RunLock(plan.folder.path):
        if plan.baseline is not None and plan.baseline.auto:
            plan = _run_baseline(plan, console)
        return _execute(plan, console)


def _run_baseline(plan: RunPlan, console: Console) -> RunPlan:
    """``baseline: auto``: the same experiment without its faults first (same load, same seed, same
    stack and defects), as a run of its own in a folder of its own; then the plan compares with it.

    A baseline that failed or was interrupted ends the run there (its folder is the one to look
    at); one whose invariants were violated is still a baseline, and the run goes on.
    """
    console.print("baseline: the experiment without its faults first (same load, same seed)", highlight=False)
    try:
        base = run_experiment(plan.file, replace(plan.options, baseline=None, faults=False), console)
    except BaseException:
        shutil.rmtree(plan.folder.path, ignore_errors=True)  # nothing ran in it
        raise
    status = base.results.get("status")
    if base.exit_code == ExitCode.INTERRUPTED or status in ("interrupted", "error"):
        shutil.rmtree(plan.folder.path, ignore_errors=True)
        if base.exit_code == ExitCode.INTERRUPTED:
            raise KeyboardInterrupt
        raise InfrastructureError(
            f"the baseline run failed ({base.results.get('error')}); see {base.run_dir}. "
            "The run with faults was not started"
        )
    verdict = base.results.get("verdict")
    console.print(f"baseline {verdict}: {base.run_dir}; now the run with its faults", highlight=False)
    return plan.with_baseline(base.run_dir)


def _execute(plan: RunPlan, console: Console) -> RunResult:
    progress = Progress(console, quiet=plan.options.quiet)
    phases = PhaseLog(progress)
    record = RunRecord(plan, time.time(), {"paychaos": __version__, "python": platform.python_version()})
    status, error = "completed", None
    try:
        with progress, ExitStack() as cleanups:
            with phases("prepare"):
                phase.prepare(plan, progress)
            with phases("target up", f"{plan.target.name}, defects: {', '.join(plan.defects) or 'none'}"):
                wiring = phase.target_up(plan, cleanups, progress)
                record = replace(record, backend=wiring.backend)
            with phases("steady state"):
                record = replace(
                    record, versions={**record.versions, **phase.steady_state(plan, wiring.stack)}
                )
            load = phase.schedule(plan, wiring)
            record = replace(record, load=load)
            with phases("load", plan.experiment.load.describe()):
                phase.drive_load(plan, wiring, load, cleanups, progress)
            with phases("heal"):
                phase.heal(wiring, load)
            evidence = Evidence(wiring.store, load.window(), wiring.stack.dsn)
            with phases("settle", settle_window(list(plan.checks), plan.experiment.settle.timeout)):
                settled = phase.settle(plan, evidence, load)
            with phases("verify"):
                verdicts, coverage = phase.verify(plan, evidence, settled, progress)
                record = replace(record, verdicts=tuple(verdicts), coverage=tuple(coverage))
            with phases("report"):
                pass  # results.json is written on the way out, whatever happened
        status = "aborted" if load.trip else "completed"
    except KeyboardInterrupt:
        status, error = (
            "interrupted",
            "interrupted (Ctrl-C or SIGTERM); every fault healed, everything stopped",
        )
    except InvalidInput:
        shutil.rmtree(plan.folder.path, ignore_errors=True)
        raise
    except PaychaosError as exc:
        status, error = "error", str(exc)
    except BaseException as exc:  # SystemExit too: whatever ended the run, it did not pass
        status, error = "error", f"internal error: {type(exc).__name__}: {exc}"
        plan.folder.harness_error.write_text(traceback.format_exc())
    return _finish(record, phases, status, error, console)


def _bare(results: dict[str, Any], error: str) -> dict[str, Any]:
    """The results of a run whose full results could not be written: who ran what, and the error
    (the verdicts are in the evidence manifest; ``paychaos verify`` recomputes them)."""
    keep = ("run_id", "experiment", "target", "command", "started_at", "ended_at", "load_started_at")
    return {**{k: results[k] for k in keep}, "status": "error", "verdict": "error", "exit_code": 3,
            "error": error, "phases": [], "load": {}, "faults": [], "guard": None, "invariants": [],
            "coverage": [], "backend": None,
            "versions": {"paychaos": __version__, "python": platform.python_version()}}  # fmt: skip


def _finish(
    record: RunRecord, phases: PhaseLog, status: str, error: str | None, console: Console
) -> RunResult:
    """Every invariant gets a verdict (one the run never reached could not be checked); results.json,
    then report.html and junit.xml from the folder."""
    checks = list(record.plan.checks)
    why = f"never checked: {error}" if error else "never checked: the run ended first (a harness bug)"
    record = replace(record, verdicts=(*record.verdicts, *never_checked(checks, list(record.verdicts), why)))
    verdicts = [v.as_json() for v in record.verdicts]
    coverage = [c.as_json() for c in record.coverage]
    code = exit_code(status, verdicts, coverage, expected=len(checks))
    if error is None and code == ExitCode.INFRASTRUCTURE:
        error = not_exercised(coverage) or (None if verdicts else "no invariant was checked")
    results = record.results(phases, status, error, code)
    folder = record.plan.folder
    baseline = record.plan.baseline
    if baseline is not None and baseline.path is not None:
        try:  # the figures of both runs, side by side; a comparison that fails changes no verdict
            results["baseline"] = baseline_record(folder.path, results, baseline.path, auto=baseline.auto)
        except Exception as exc:
            console.print(f"[yellow]the comparison with the baseline {baseline.path} not written: {exc}[/]",
                          highlight=False)  # fmt: skip
    try:
        write_results(folder.results, results)
    except PaychaosError as exc:  # results that do not match their model: a harness bug, never a pass
        code, results = ExitCode.INFRASTRUCTURE, _bare(results, f"internal error: results.json: {exc}")
        folder.harness_error.write_text(f"{exc}\n\n{traceback.format_exc()}")
        write_results(folder.results, results)
    try:
        rebuild(folder.path)  # report.html and junit.xml, from the journals just written
    except Exception as exc:  # a report that cannot be drawn must not change the verdict
        console.print(f"[yellow]report.html and junit.xml not written: {exc}[/]", highlight=False)
    return RunResult(folder.path, code, results)
