"""What a run will do, fixed before anything starts: the plan every phase reads.

>>> plan = plan_run(load_experiment("experiments/hello.yaml"), RunOptions(quick=True))  # doctest: +SKIP
>>> plan.run_dir, [c.name for c in plan.checks][:2]
(PosixPath('reports/20261122-101500-hello'), ['exactly_once_debit', 'eventual_refund'])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from paychaos._yaml import load_yaml
from paychaos.errors import InvalidInput
from paychaos.experiment import Experiment, ExperimentFile, InvariantSpec, quick
from paychaos.invariants import REGISTRY, Check, defaults
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
    baseline: Path | Literal["auto"] | None = None  # --baseline: a run folder to compare with, or auto
    faults: bool = True  # False: the experiment without its faults (--no-faults; baseline: auto runs that)


BASELINE_SUFFIX = "-baseline"
"""Ends the folder name of a run without faults: <stamp>-<experiment>-baseline."""


@dataclass(frozen=True)
class Baseline:
    """The run this one is compared with (``paychaos compare``, the report, the slo's vs_baseline)."""

    auto: bool  # made first by this run: the experiment without its faults, same load, same seed
    path: Path | None = None  # its folder; None until an automatic baseline has run


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
    baseline: Baseline | None = None

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
        if not self.options.faults:
            parts.append("--no-faults")
        if self.options.baseline is not None:
            parts.append(f"--baseline {self.options.baseline}")
        return " ".join(parts)

    def with_baseline(self, path: Path) -> RunPlan:
        """The plan once its baseline's folder is known: each vs_baseline gate is given it, relative to
        this run's folder (so that the two folders may move together)."""
        where = os.path.relpath(path.resolve(), self.folder.path.resolve())
        checks = tuple(Check(c.name, {**c.params, "baseline": where}) if _gated(c.name, c.params) else c
                       for c in self.checks)  # fmt: skip
        auto = self.baseline.auto if self.baseline else False
        return replace(self, checks=checks, baseline=Baseline(auto, path))


def plan_run(file: ExperimentFile, options: RunOptions) -> RunPlan:
    """Check what can be checked before starting anything (exit 2 if wrong), then claim the run folder."""
    experiment = quick(file.experiment) if options.quick else file.experiment
    if not options.faults:
        experiment = without_faults(experiment)
    defects = check_defects(file.target, (*experiment.target.defects, *options.defects))
    _check_links_faultable(file)
    baseline = _baseline(file, experiment, options)
    out = options.out or Path(experiment.report.out)
    folder = RunDir(out / _claim_run_id(out, experiment.name + ("" if options.faults else BASELINE_SUFFIX)))
    checks = tuple(Check(s.name, dict(s.params)) for s in invariant_specs(experiment, file.target))
    scenarios = scenario_weights(experiment, file.target)
    plan = RunPlan(file, experiment, options, defects, folder, checks, scenarios, baseline)
    return plan.with_baseline(baseline.path) if baseline and baseline.path else plan


_SLO_LIMITS = ("max_error_rate", "p50", "p95", "p99")


def without_faults(experiment: Experiment) -> Experiment:
    """The experiment with its faults left out: a baseline of itself, so compared with none (its
    vs_baseline gates go too, and an slo that had no other limit with them)."""
    invariants = []
    for spec in experiment.invariants:
        if spec.name == "slo":
            params = {k: v for k, v in spec.params.items() if k != "vs_baseline"}
            if not any(params.get(limit) is not None for limit in _SLO_LIMITS):
                continue
            spec = InvariantSpec(name=spec.name, params=params)
        invariants.append(spec)
    return experiment.model_copy(update={"faults": [], "invariants": invariants, "baseline": None})


def _gated(name: str, params: Mapping[str, Any]) -> bool:
    return name == "slo" and params.get("vs_baseline") is not None


def _baseline(file: ExperimentFile, experiment: Experiment, options: RunOptions) -> Baseline | None:
    """The run's baseline (--baseline, else the experiment's baseline), checked: a folder must hold a
    finished run. A vs_baseline gate without a baseline is refused (exit 2), naming where it is."""
    from paychaos.compare import read_run

    # An slo's own baseline parameter, which only the run sets, is refused when the file loads.
    if not options.faults:
        if options.baseline is not None:
            raise InvalidInput("--no-faults makes a baseline run, compared with none: leave out --baseline")
        return None
    given = options.baseline if options.baseline is not None else experiment.baseline
    if given is None:
        gated = [i for i, spec in enumerate(experiment.invariants) if _gated(spec.name, spec.params)]
        if gated:
            where = load_yaml(file.path).where(("invariants", gated[0], "slo", "vs_baseline"))
            raise InvalidInput(
                f"{where}: invariants[{gated[0]}].slo.vs_baseline: gates on a baseline, but this run has "
                "none; give --baseline RUN_DIR (e.g. the last release's run of this experiment), or write "
                "baseline: auto in the experiment (a run without the faults first)"
            )
        return None
    if given == "auto":
        return Baseline(auto=True)
    if options.baseline is not None:
        path, said = Path(given), "--baseline"
    else:
        path, said = file.path.parent / given, f"{load_yaml(file.path).where(('baseline',))}: baseline"
    try:
        read_run(path)
    except InvalidInput as exc:
        raise InvalidInput(f"{said}: {exc}") from None
    return Baseline(auto=False, path=path)


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


def not_checked(experiment: Experiment, target: Target) -> dict[str, str]:
    """The default invariants a run of ``experiment`` leaves unchecked, each with why: left out by
    the experiment (its reason), or needing evidence the target does not provide. A verdict of
    "held" says nothing of these, so the run records them and the report shows them."""
    tables = set(target.evidence.tables)
    skipped: dict[str, str] = {}
    for definition in REGISTRY.values():
        if not definition.default:
            continue
        if definition.name in experiment.exclude:
            skipped[definition.name] = f"left out by the experiment: {experiment.exclude[definition.name]}"
        elif missing := [t for t in definition.needs if t not in tables]:
            skipped[definition.name] = (f"the target's evidence has no {', '.join(missing)} "
                                        f"table{'s' if len(missing) > 1 else ''}")  # fmt: skip
    return skipped


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
