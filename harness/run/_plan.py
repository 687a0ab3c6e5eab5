"""What a run will do, fixed before anything starts: the plan every phase reads.

>>> plan = plan_run(load_experiment("experiments/hello.yaml"), RunOptions(quick=True))  # doctest: +SKIP
>>> plan.run_dir, [c.name for c in plan.checks][:2]
(PosixPath('reports/20261122-101500-hello'), ['exactly_once_debit', 'eventual_refund'])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from paychaos._yaml import load_yaml
from paychaos.errors import InvalidInput
from paychaos.experiment import Experiment, ExperimentFile, InvariantSpec, quick
from paychaos.invariants import Check, defaults
from paychaos.rundir import RunDir
from paychaos.system import Target, check_defects


@dataclass(frozen=True)
class RunOptions:
    out: Path | None = None  # default: the experiment's report.out (reports/)
    defects: tuple[str, ...] = ()
    quick: bool = False
    quiet: bool = False
    toxiproxy: str | None = None  # a Toxiproxy URL to use instead of starting one
    db: str | None = None  # an existing PostgreSQL instead of the embedded one
    docker: bool = True  # may a local Toxiproxy image be used
    keep: bool = False  # leave the target's Compose project up after the run (and say how to take it down)


@dataclass(frozen=True)
class RunPlan:
    """The experiment as it will run (``--quick`` applied), its target, and where it writes."""

    file: ExperimentFile
    experiment: Experiment
    options: RunOptions
    defects: tuple[str, ...]
    folder: RunDir
    checks: tuple[Check, ...]
    scenarios: dict[str, int]

    @property
    def target(self) -> Target:
        return self.file.target

    @property
    def run_id(self) -> str:
        return self.folder.path.name

    @property
    def out(self) -> Path:
        return self.folder.path.parent

    def rerun_command(self) -> str:
        parts = ["paychaos", "run", str(self.file.path)]
        parts += [f"--defect {d}" for d in self.options.defects]
        if self.options.quick:
            parts.append("--quick")
        if self.options.toxiproxy:
            parts.append(f"--toxiproxy {self.options.toxiproxy}")
        return " ".join(parts)


def plan_run(file: ExperimentFile, options: RunOptions) -> RunPlan:
    """Check what can be checked before starting anything (exit 2 if wrong), then claim the run folder."""
    experiment = quick(file.experiment) if options.quick else file.experiment
    defects = check_defects(file.target, (*experiment.target.defects, *options.defects))
    _check_links_faultable(file)
    out = options.out or Path(experiment.report.out)
    folder = RunDir(out / _claim_run_id(out, experiment.name))
    checks = tuple(Check(s.name, dict(s.params)) for s in invariant_specs(experiment, file.target))
    return RunPlan(
        file, experiment, options, defects, folder, checks, scenario_weights(experiment, file.target)
    )


def _check_links_faultable(file: ExperimentFile) -> None:
    """A fault on a link from a url service would act on a proxy the service never uses: refused."""
    problems = []
    for i, fault in enumerate(file.experiment.faults):
        link = getattr(fault, "link", None)  # link faults and http faults
        if isinstance(link, str) and (why := file.target.unfaultable_link(link)) is not None:
            problems.append(f"{load_yaml(file.path).where(('faults', i, 'link'))}: faults[{i}].link: {why}")
    if problems:
        raise InvalidInput("\n".join(problems))


def scenario_weights(experiment: Experiment, target: Target) -> dict[str, int]:
    """The load's scenario mix: the experiment's, plus the target's ``always`` scenarios (failure paths,
    attacks) unless the experiment gives them weight 0; the target's own mix if the experiment has none."""
    assert target.load is not None
    if experiment.load.scenarios is None:
        return {name: spec.weight for name, spec in target.load.scenarios.items()}
    always = {name: spec.weight for name, spec in target.load.scenarios.items() if spec.always}
    return {**always, **experiment.load.scenarios}


def invariant_specs(experiment: Experiment, target: Target) -> list[InvariantSpec]:
    """Every default invariant the target supports (with the experiment's parameters where it lists
    one), less those it excludes with a reason, then the ones it adds (sql, python, slo, …)."""
    names = [n for n in defaults(set(target.evidence.tables)) if n not in experiment.exclude]
    tuned = {spec.name: spec for spec in experiment.invariants if spec.name in names}
    added = [spec for spec in experiment.invariants if spec.name not in names]
    return [tuned.get(name, InvariantSpec(name=name)) for name in names] + added


def _claim_run_id(out: Path, name: str) -> str:
    """Create the run folder ``out/<stamp>-<name>[-n]`` and return its name.

    Creating is the claim: two runs started in the same second never share a folder, since
    only one mkdir of a name succeeds (checking first and creating later would race).
    A folder that cannot be made is a mistake in report.out (or --out): exit 2, naming it.
    """
    stamp = datetime.now(UTC).astimezone().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_001):
        run_id = f"{stamp}-{name}" if n == 1 else f"{stamp}-{name}-{n}"
        try:
            (out / run_id).mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            if out.is_dir():
                continue  # another run's folder (this second, this name): take the next number
            raise InvalidInput(f"{out}: not a folder; set report.out (or --out) to a folder") from None
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InvalidInput(
                f"{out / run_id}: cannot create the run folder: {why}; "
                "set report.out (or --out) to a folder you can write to"
            ) from None
        return run_id
    raise InvalidInput(f"{out}: 10,000 runs of {name!r} this second; set report.out (or --out) elsewhere")
