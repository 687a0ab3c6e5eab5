"""Loading an experiment: its schema, its target, and every name it uses checked against that target.

``paychaos validate`` and ``paychaos run`` both call :func:`load_experiment`,
so a file that validates is a file that runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from paychaos._evidence_tables import COUNTERS
from paychaos._yaml import Located, format_loc, load_yaml, problems, validate_located
from paychaos.errors import InvalidInput, did_you_mean
from paychaos.experiment._model import Experiment, RampShape, SpikeShape, StagesShape
from paychaos.system import Target, load_target


@dataclass(frozen=True)
class ExperimentFile:
    """An experiment, the file it came from and the target it runs against."""

    path: Path
    experiment: Experiment
    target: Target


def load_experiment(path: str | Path, *, invariants: Mapping[str, Any] | None = None) -> ExperimentFile:
    """Read, validate and cross-check ``path``.

    ``invariants`` maps the invariant names a run can check to their definitions
    (anything with a ``params`` pydantic model); names and parameters are checked.
    """
    path = Path(path)
    located = load_yaml(path)
    experiment = validate_located(located, Experiment)
    target = load_target(_target_file(path, experiment.target.path, located))
    found = list(_check(experiment, target, located, invariants))
    if found:
        raise InvalidInput(problems(found))
    return ExperimentFile(path, experiment, target)


def _target_file(path: Path, given: str, located: Located) -> Path:
    """The target.yaml that ``target.path`` names, or a message located at ``target.path``."""
    where = f"{located.where(('target', 'path'))}: target.path"
    try:
        target_path = Path(os.path.realpath(path.parent / given))
        if target_path.is_dir():
            if not (target_path / "target.yaml").is_file():
                raise InvalidInput(
                    f"{where}: {target_path} is a folder with no target.yaml in it; "
                    "give the target.yaml or its folder, relative to this file"
                )
        elif not target_path.exists():
            raise InvalidInput(
                f"{where}: no target at {target_path}; "
                "give the target.yaml or its folder, relative to this file"
            )
    except OSError as exc:  # a name too long, a folder we may not look into, …
        raise InvalidInput(f"{where}: cannot use {given[:60]!r}: {exc.strerror}") from None
    return target_path


def _unknown(located: Located, loc: tuple[str | int, ...], what: str, name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    hint = did_you_mean(name, names)
    listed = ", ".join(names) if names else "none"
    dotted = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    return f"{located.where(loc)}: {dotted}: unknown {what} {name!r}; known: {listed}{hint}"


def _check(e: Experiment, t: Target, located: Located, invariants: Mapping[str, Any] | None) -> Iterator[str]:
    for i, defect in enumerate(e.target.defects):
        if defect not in t.defects:
            yield _unknown(located, ("target", "defects", i), "defect", defect, t.defects)
    for service in e.target.args:
        if service not in t.services:
            yield _unknown(located, ("target", "args", service), "service", service, t.services)
        elif (kind := t.services[service].kind) != "command":
            where = located.where(("target", "args", service))
            yield (f"{where}: target.args.{service}: {service} is a {kind} service; only services paychaos "
                   "starts with a command take extra arguments")  # fmt: skip
    for i, spec in enumerate(e.invariants):
        if spec.name == "slo" and "baseline" in spec.params:
            yield (f"{located.where(('invariants', i))}: invariants[{i}].slo.baseline: the run sets it; "
                   "give the baseline as --baseline RUN_DIR or the experiment's baseline: (a run folder, "
                   "or auto)")  # fmt: skip
    scenarios = t.load.scenarios if t.load else {}
    for name in e.load.scenarios or {}:
        if name not in scenarios:
            yield _unknown(located, ("load", "scenarios", name), "scenario", name, scenarios)
    if e.load.scenarios is not None and not any(e.load.scenarios.values()):
        yield f"{located.where(('load', 'scenarios'))}: load.scenarios: every weight is 0; give one a weight"
    if t.load is None:
        yield f"{located.where(('target',))}: target: {t.name} declares no load scenarios to run"
    total = e.load.total_duration
    shape = e.load.shape
    if isinstance(shape, SpikeShape) and shape.at >= total:
        where = located.where(("load", "shape", "at"))
        yield f"{where}: load.shape.at: the spike starts after the load ends ({total:g}s)"
    if isinstance(shape, RampShape) and shape.over > total:
        where = located.where(("load", "shape", "over"))
        yield f"{where}: load.shape.over: the ramp outlasts the load ({total:g}s)"
    for i, fault in enumerate(e.faults):
        if fault.at >= total:
            at = located.where(("faults", i, "at"))
            yield f"{at}: faults[{i}].at: {fault.at:g}s is not before the load ends ({total:g}s)"
        for unknown in fault.check(t):  # what a name means, its kind knows (paychaos.faults.kinds)
            yield _unknown(located, ("faults", i, unknown.key), unknown.what, unknown.name, unknown.known)
    if (
        isinstance(shape, StagesShape)
        and e.load.duration != 30.0
        and "duration" in located.data.get("load", {})
    ):
        yield (f"{located.where(('load', 'duration'))}: load.duration: a stages shape lasts as long as its "
               "stages; remove load.duration")  # fmt: skip
    counters = {*COUNTERS, *t.coverage}
    for name in e.coverage:
        if name not in counters:
            yield _unknown(located, ("coverage", name), "coverage counter", name, counters)
    if invariants is not None:
        tables = set(t.evidence.tables)
        defaults = {n for n, d in invariants.items() if d.default and set(d.needs) <= tables}
        named = {spec.name for spec in e.invariants}
        for name in e.exclude:
            if name in named:
                yield (f"{located.where(('exclude', name))}: exclude.{name}: {name} is both excluded "
                       "and listed under invariants; keep one")  # fmt: skip
            elif name not in defaults:
                yield _unknown(located, ("exclude", name), "default invariant", name, defaults)
        for i, spec in enumerate(e.invariants):
            if spec.name not in invariants:
                yield _unknown(located, ("invariants", i), "invariant", spec.name, invariants)
                continue
            try:
                invariants[spec.name].params.model_validate(spec.params)
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    loc = ("invariants", i, spec.name, *err["loc"])
                    inside = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
                    name = format_loc(loc[:2]) + f".{spec.name}{inside}"
                    # worded as the experiment's own keys are (paychaos._yaml)
                    said = {"extra_forbidden": "unknown parameter", "missing": "required key is missing"}
                    message = said.get(err["type"], err["msg"]).removeprefix("Value error, ")
                    allowed = ", ".join(invariants[spec.name].params.model_fields) or "none"
                    hint = f"; {spec.name} takes: {allowed}" if err["type"] == "extra_forbidden" else ""
                    yield f"{located.where(loc)}: {name}: {message}{hint}"
