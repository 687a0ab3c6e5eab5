"""The run lifecycle: target up, steady state, load and its fault schedule, heal, settle, verify, report.

>>> result = run_experiment(
...     load_experiment("experiments/hello.yaml"), RunOptions(), console)  # doctest: +SKIP
>>> result.exit_code, result.run_dir
(<ExitCode.HELD: 0>, PosixPath('reports/20261122-101500-hello'))

Everything the run starts is stopped and every fault healed on the way out,
whether the run completed, a guard aborted the injection, the harness failed,
or the user pressed Ctrl-C. Evidence is written as it happens (history and
fault journal); results.json is written at the end whatever happened.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import shutil
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from harness import __version__
from harness._guards import GuardWatch, Trip
from harness._ownership import RunLock
from harness._progress import Progress
from harness._results import exit_code, not_exercised, verdict_word, write_results
from harness._schedule import FaultSchedule
from harness.errors import ExitCode, InfrastructureError, InvalidInput, PaychaosError
from harness.experiment import ExperimentFile, quick
from harness.experiment._model import Experiment, InvariantSpec
from harness.faults import Backend, FaultInjector, FaultJournal, LinkProxies, heal_leftovers, start_backend
from harness.faults.kinds import FaultContext
from harness.invariants import (
    REGISTRY,
    Evidence,
    EvidenceStore,
    EvidenceUnavailable,
    InvariantDef,
    RunWindow,
    Verdict,
    defaults,
)
from harness.invariants._base import read_only
from harness.invariants._child import stopped_on_error
from harness.invariants._coverage import Count, count
from harness.load import HistoryTail, LiveStats, LocustProcess
from harness.report import rebuild
from harness.target import EmbeddedPostgres, Server, Stack, Target, external


@dataclass(frozen=True)
class RunOptions:
    out: Path | None = None  # default: the experiment's report.out (reports/)
    defects: tuple[str, ...] = ()
    quick: bool = False
    quiet: bool = False
    toxiproxy: str | None = None  # a Toxiproxy URL to use instead of starting one
    db: str | None = None  # an existing PostgreSQL instead of the embedded one
    docker: bool = True  # may a local Toxiproxy image be used


@dataclass
class RunResult:
    run_dir: Path
    exit_code: ExitCode
    results: dict[str, Any] = field(default_factory=dict)


def run_experiment(file: ExperimentFile, options: RunOptions, console: Console) -> RunResult:
    return _Run(file, options, console).execute()


class _Run:
    def __init__(self, file: ExperimentFile, options: RunOptions, console: Console) -> None:
        self.file = file
        self.options = options
        self.console = console
        self.experiment: Experiment = quick(file.experiment) if options.quick else file.experiment
        self.defects = tuple(dict.fromkeys([*self.experiment.target.defects, *options.defects]))
        for name in self.defects:
            if name not in file.target.defects:
                known = ", ".join(sorted(file.target.defects))
                raise InvalidInput(
                    f"--defect {name}: target {file.target.name!r} has no such defect; known: {known}"
                )
        self.out = options.out or Path(self.experiment.report.out)
        self.run_id = _run_id(self.out, self.experiment.name)
        self.run_dir = self.out / self.run_id
        self.phases: list[dict[str, Any]] = []
        self.trip: Trip | None = None
        self.load_summary: dict[str, Any] = {}
        self.verdicts: list[Verdict] = []
        self.coverage: list[Count] = []
        self.backend: Backend | None = None
        self.versions: dict[str, str] = {"paychaos": __version__, "python": platform.python_version()}
        self.t0: float | None = None
        self.schedule: FaultSchedule | None = None
        self.progress = Progress(console, quiet=options.quiet)

    # -- the whole run -------------------------------------------------------------------
    def execute(self) -> RunResult:
        # self.run_dir exists: _run_id claimed it by creating it (see there)
        # The run owns its folder while it runs: other runs' prepare and `paychaos heal` leave its
        # faults and processes alone until the lock drops (when the run ends, or when it dies).
        with RunLock(self.run_dir):
            return self._execute()

    def _execute(self) -> RunResult:
        started = time.time()
        status, error = "completed", None
        try:
            with self.progress:
                self._run()
            status = "aborted" if self.trip else "completed"
        except KeyboardInterrupt:
            status, error = (
                "interrupted",
                "interrupted (Ctrl-C or SIGTERM); every fault healed, everything stopped",
            )
        except InvalidInput:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        except PaychaosError as exc:
            status, error = "error", str(exc)
        except BaseException as exc:  # SystemExit too: whatever ended the run, it did not pass
            status, error = "error", f"internal error: {type(exc).__name__}: {exc}"
            (self.run_dir / "harness-error.txt").write_text(traceback.format_exc())
        # Every invariant the run was to check gets a verdict: one it never reached could not be checked.
        expected = self._invariants()
        why = f"never checked: {error}" if error else "never checked: the run ended first (a harness bug)"
        self.verdicts += [
            Verdict(s.name, "could_not_check", reason=why, params=dict(s.params))
            for s in expected[len(self.verdicts) :]
        ]
        verdicts = [v.as_json() for v in self.verdicts]
        coverage = [c.as_json() for c in self.coverage]
        code = exit_code(status, verdicts, coverage, expected=len(expected))
        if error is None and code == ExitCode.INFRASTRUCTURE:
            error = not_exercised(coverage) or (None if verdicts else "no invariant was checked")
        results = self._results(status, error, code, started)
        write_results(self.run_dir / "results.json", results)
        try:
            rebuild(self.run_dir)  # report.html and junit.xml, from the journals just written
        except Exception as exc:  # a report that cannot be drawn must not change the verdict
            self.console.print(f"[yellow]report.html and junit.xml not written: {exc}[/]", highlight=False)
        return RunResult(self.run_dir, code, results)

    def _run(self) -> None:
        exp, target = self.experiment, self.file.target
        with ExitStack() as stack_of_cleanups:
            enter, later = stack_of_cleanups.enter_context, stack_of_cleanups.callback
            with self._phase("prepare"):
                self._prepare()
            with self._phase("target up", f"{target.name}, defects: {', '.join(self.defects) or 'none'}"):
                logs = self.run_dir / "logs"
                server = enter(self._postgres(logs))
                self.backend = enter(
                    start_backend(self.options.toxiproxy, log_dir=logs, use_docker=self.options.docker)
                )
                self.progress.event(f"Toxiproxy backend: {self.backend.kind} ({self.backend.detail})")
                client = enter(self.backend.client())
                prefix = f"paychaos-{self.run_id}-" if self.options.db else ""
                stack = Stack(
                    target,
                    server,
                    log_dir=logs,
                    defects=self.defects,
                    ports="auto",
                    args=exp.target.args,
                    db_prefix=prefix.replace("-", "_").lower(),
                )
                proxies = LinkProxies(
                    client, stack, target.links, prefix=f"{self.run_id}." if self.options.toxiproxy else ""
                )
                later(proxies.close)
                if self.options.db and target.postgres:
                    # On someone else's server, leave nothing behind (the evidence is in the report).
                    later(server.drop_databases, [stack.database(d) for d in target.postgres.databases])
                stack.start()
                later(stack.stop)
                evidence_db = f"{stack.db_prefix}paychaos_evidence"
                server.create_databases([evidence_db])
                if self.options.db:
                    later(server.drop_databases, [evidence_db])
                store = EvidenceStore(
                    target, evidence_dsn=server.dsn(evidence_db), source_dsn=stack.dsn,
                    service_url=stack.url, run_dir=self.run_dir,
                )  # fmt: skip
                if self.options.db:
                    later(store.drop_reader)  # before the databases it may read are dropped
                injector = enter(FaultInjector(FaultJournal(self.run_dir / "faults.jsonl")))
            with self._phase("steady state"):
                self._steady_state(stack)
            assert target.load is not None
            locust = LocustProcess(
                self.run_dir,
                load=exp.load,
                scenarios=self._weights(),
                seed=exp.seed,
                module=target.load.module,
                host=stack.url(target.load.service),
                env=stack.shared_environment(),
            )
            in_this_run = FaultContext(target, stack, client, proxies, self.backend.kind, self.run_dir)
            schedule = FaultSchedule.of(exp.faults, lambda spec: spec.build(in_this_run), injector)
            self.schedule = schedule
            with self._phase("load", f"{exp.load.users} users, {exp.load.total_duration:g}s"):
                locust.start()
                later(locust.stop)
                self._drive(locust, schedule)
            with self._phase("heal"):
                schedule.stop(time.time() - (self.t0 or time.time()))
                for error in injector.heal_all():
                    raise InfrastructureError(error)
                healed_at = time.time()
            window = RunWindow(self.t0 or healed_at, healed_at, healed_at)
            self._check(Evidence(store, window, stack.dsn))

    # -- phases --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _phase(self, name: str, detail: str = "") -> Iterator[None]:
        record: dict[str, Any] = {"name": name, "started": time.time(), "ended": None, "status": "running"}
        self.phases.append(record)
        self.progress.phase(name, detail)
        try:
            yield
            record["status"] = "done"
        except BaseException:
            record["status"] = "failed"
            raise
        finally:
            record["ended"] = time.time()

    def _prepare(self) -> None:
        shutil.copyfile(self.file.path, self.run_dir / "experiment.yaml")
        previous = [p for p in sorted(self.out.glob("*/")) if p != self.run_dir]
        for healed in heal_leftovers(previous):  # only runs that are dead: a live run's faults are its own
            if healed.status != "left alone":
                self.progress.event(f"left by an earlier run: {healed.fault}: {healed.outcome}")

    @contextlib.contextmanager
    def _postgres(self, logs: Path) -> Iterator[Server]:
        if self.options.db:
            yield external(self.options.db)
            return
        logs.mkdir(parents=True, exist_ok=True)
        with EmbeddedPostgres(log_path=(logs / "postgres.log").resolve()) as server:
            yield server

    def _steady_state(self, stack: Stack) -> None:
        """Before anything is injected: every service healthy, every database readable."""
        target = self.file.target
        for name, spec in target.services.items():
            if not _answers(f"{stack.url(name)}{spec.health}"):
                raise InfrastructureError(
                    f"steady state not reached: {name} is not healthy; see {stack.log(name)}"
                )
        for database in target.postgres.databases if target.postgres else []:
            try:
                rows = read_only(stack.dsn(database), "SELECT version() AS v", where=f"database {database!r}")
            except EvidenceUnavailable as exc:
                raise InfrastructureError(f"steady state not reached: cannot read {exc}") from exc
            self.versions["postgresql"] = str(rows[0]["v"]).split(" on ")[0]
        self.versions["locust"] = importlib.metadata.version("locust")

    def _weights(self) -> dict[str, int]:
        return scenario_weights(self.experiment, self.file.target)

    def _drive(self, locust: LocustProcess, schedule: FaultSchedule) -> None:
        """Run the fault schedule and the guards while the load runs."""
        tail = HistoryTail(locust.history)
        deadline = time.monotonic() + 60
        while tail.started is None:
            tail.read()
            locust.check()
            if time.monotonic() > deadline or not locust.running:
                raise InfrastructureError(f"Locust did not start sending load; see {locust.log}")
            time.sleep(0.05)
        self.t0 = tail.started
        stats = LiveStats()
        guards = GuardWatch(list(self.experiment.guards))
        total = self.experiment.load.total_duration
        while locust.running:
            now = time.time()
            t = now - self.t0
            stats.add(tail.read())
            for happened in schedule.tick(t):
                self.progress.event(f"{t:6.1f}s  {happened}")
            trip = guards.check(stats, now, t)
            if trip is not None:
                self.trip = trip
                self.progress.event(f"{t:6.1f}s  {trip.describe()}; injection stops, every fault heals")
                schedule.stop(t)
            self.progress.update(t, total, stats.window(now), stats.total, schedule.active)
            time.sleep(0.1)
        locust.check()
        stats.add(tail.read())
        self.load_summary = {
            "operations": stats.total,
            "errors": stats.errors,
            "seconds": round(time.time() - self.t0, 3),
        }

    def _check(self, evidence: Evidence) -> None:
        """Settle (poll the eventual invariants until they hold or run out of time), then verify all."""
        settle = self.experiment.settle
        specs = [(spec, REGISTRY[spec.name]) for spec in self._invariants()]
        healed = evidence.window.healed_at
        deadline = {
            i: healed
            + min(
                getattr(d.params.model_validate(s.params), "within", None) or settle.timeout, settle.timeout
            )
            for i, (s, d) in enumerate(specs)
            if d.eventual
        }
        latest: dict[int, Verdict] = {}
        detail = f"up to {max(deadline.values()) - healed:g}s" if deadline else "nothing eventual"
        with self._phase("settle", detail):
            while deadline:
                evidence.store.refresh()
                now = time.time()
                for i in deadline:
                    if i in latest and (latest[i].status == "holds" or now > deadline[i]):
                        continue
                    spec, definition = specs[i]
                    latest[i] = _verdict(definition, spec, evidence)
                    if latest[i].status == "holds":
                        latest[i].converged_after = round(time.time() - healed, 3)
                if all(v.status == "holds" for v in latest.values()) or now > max(deadline.values()):
                    break
                time.sleep(settle.poll)
        with self._phase("verify"):
            evidence.store.refresh()
            # Two checks at a time: each is one query, and the evidence database has two cores to use.
            # Ctrl-C or SIGTERM: drop the checks not started, kill the python ones running (their
            # children), so the run stops now, not when every check is done.
            with ThreadPoolExecutor(max_workers=2) as pool, stopped_on_error():
                try:
                    pending = {
                        i: pool.submit(_verdict, d, s, evidence)
                        for i, (s, d) in enumerate(specs)
                        if i not in latest
                    }
                    self.verdicts = [
                        latest[i] if i in latest else pending[i].result() for i in range(len(specs))
                    ]
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
            for verdict in self.verdicts:
                self.progress.event(_verdict_line(verdict))
            self.coverage = count(evidence, dict(self.file.target.coverage), dict(self.experiment.coverage))
            self.progress.event("coverage: " + ", ".join(
                f"{c.name} {'?' if c.value is None else c.value}" for c in self.coverage))  # fmt: skip
            for c in self.coverage:
                if c.required is not None:
                    self.progress.event(f"  {c.describe():<44} {'ok' if c.met else 'NOT EXERCISED'}")
            evidence.store.save(
                evidence.window, [s for s, _ in specs], self.verdicts, self.coverage, self.progress.event
            )  # keep the evidence in the run folder, for `paychaos verify`
        with self._phase("report"):
            pass  # results.json is written on the way out, whatever happened

    def _invariants(self) -> list[InvariantSpec]:
        return invariant_specs(self.experiment, self.file.target)

    def _results(self, status: str, error: str | None, code: ExitCode, started: float) -> dict[str, Any]:
        exp = self.experiment
        faults = []
        if self.schedule is not None:
            for entry in self.schedule.entries:
                faults.append(
                    {
                        "index": entry.index,
                        "label": entry.label(),
                        "id": entry.fault_id,
                        "spec": entry.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                        "applied_at": entry.applied_at,
                        "healed_at": entry.healed_at,
                    }
                )
        return {
            "run_id": self.run_id,
            "status": status,
            "verdict": verdict_word(code, [c.as_json() for c in self.coverage]),
            "exit_code": int(code),
            "error": error,
            "experiment": {
                "name": exp.name,
                "description": exp.description,
                "file": str(self.file.path),
                "seed": exp.seed,
                "quick": self.options.quick,
            },
            "target": {"name": self.file.target.name, "defects": list(self.defects)},
            "command": _rerun_command(self.file.path, self.options),
            "started_at": started,
            "ended_at": time.time(),
            "load_started_at": self.t0,
            "phases": self.phases,
            "load": self.load_summary,
            "faults": faults,
            "guard": self.trip.as_json() if self.trip else None,
            "invariants": [v.as_json() for v in self.verdicts],
            "coverage": [c.as_json() for c in self.coverage],
            "backend": self.backend.describe() if self.backend else None,
            "versions": self.versions,
        }


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


def _verdict(definition: InvariantDef, spec: InvariantSpec, evidence: Evidence) -> Verdict:
    params = definition.params.model_validate(spec.params)
    try:
        verdict: Verdict = definition.run(evidence, spec.params)
    except EvidenceUnavailable as exc:
        verdict = Verdict(spec.name, "could_not_check", reason=str(exc))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a checker bug, even an exit() in it, must not read as "holds"
        said = f"called exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        verdict = Verdict(spec.name, "could_not_check", reason=f"internal error: {said}")
    verdict.params = params.model_dump(mode="json")
    return verdict


def _verdict_line(v: Verdict) -> str:
    mark = {"holds": "holds", "violated": f"VIOLATED ({v.count})", "could_not_check": "COULD NOT CHECK"}[
        v.status
    ]
    extra = f" — {v.reason}" if v.reason else ""
    return f"{v.invariant:<22} {mark}{extra}"


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return 200 <= int(reply.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def _run_id(out: Path, name: str) -> str:
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


def _rerun_command(path: Path, options: RunOptions) -> str:
    parts = ["paychaos", "run", str(path)]
    parts += [f"--defect {d}" for d in options.defects]
    if options.quick:
        parts.append("--quick")
    if options.toxiproxy:
        parts.append(f"--toxiproxy {options.toxiproxy}")
    return " ".join(parts)
