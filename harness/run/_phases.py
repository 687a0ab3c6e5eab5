"""The phases of a run, each a function of what it needs, returning what it found.

prepare → target up → steady state → load (with the fault schedule and the
guards) → heal → settle → verify; ``_runner.run_experiment`` composes them.
Whatever a phase starts, it registers on ``cleanups`` (an ExitStack), so it is
stopped however the run ends.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack

from paychaos._results import NOT_EXERCISED
from paychaos.errors import InfrastructureError
from paychaos.faults import (
    FaultInjector,
    FaultJournal,
    HopClient,
    HopLinks,
    LinkProxies,
    heal_leftovers,
    start_backend,
    start_hop,
)
from paychaos.faults._backends import link_traffic
from paychaos.faults.kinds import FaultContext
from paychaos.invariants import (
    Count,
    Evidence,
    EvidenceStore,
    EvidenceUnavailable,
    Verdict,
    count,
    export_violations,
    read_only,
    verdict_line,
)
from paychaos.invariants import settle as settle_checks
from paychaos.invariants import verify as verify_all
from paychaos.load import HistoryTail, LiveStats, LocustProcess
from paychaos.postgres import EmbeddedPostgres, Server, external
from paychaos.run._guards import GuardWatch
from paychaos.run._plan import RunPlan, not_checked
from paychaos.run._progress import Progress, dropped_words
from paychaos.run._record import LoadRun, SettleLog, Wiring
from paychaos.run._schedule import FaultSchedule
from paychaos.system import Stack


def prepare(plan: RunPlan, progress: Progress) -> None:
    """Keep the experiment as run; clean up after earlier runs that died (only dead ones)."""
    shutil.copyfile(plan.file.path, plan.folder.experiment)
    previous = [p for p in sorted(plan.out.glob("*/")) if p != plan.folder.path]
    for healed in heal_leftovers(previous):
        if healed.status != "left alone":
            progress.event(f"left by an earlier run: {healed.fault}: {healed.outcome}")


def target_up(plan: RunPlan, cleanups: ExitStack, progress: Progress) -> Wiring:
    """PostgreSQL, the Toxiproxy backend, every link's proxy, the target's services, the evidence store."""
    target, options, logs = plan.target, plan.options, plan.folder.logs
    enter, later = cleanups.enter_context, cleanups.callback
    server = enter(_postgres(plan))
    backend = enter(start_backend(options.toxiproxy, log_dir=logs, use_docker=options.docker))
    progress.event(f"Toxiproxy backend: {backend.kind} ({backend.detail})")
    client = enter(backend.client())
    prefix = f"paychaos-{plan.run_id}-" if options.db else ""
    stack = Stack(target, server, log_dir=logs, defects=plan.defects, ports="auto",
                  args=plan.experiment.target.args, db_prefix=prefix.replace("-", "_").lower(),
                  keep=options.keep)  # fmt: skip
    proxies = LinkProxies(client, stack, target.links, prefix=f"{plan.run_id}." if options.toxiproxy else "",
                          say=progress.event)  # fmt: skip
    later(proxies.close)
    hops = _http_hop(plan, stack, cleanups, progress)
    if options.db and target.postgres:
        # On someone else's server, leave nothing behind (the evidence is in the run folder).
        later(server.drop_databases, [stack.database(d) for d in target.postgres.databases])
    if stack.compose_project is not None:
        progress.event(f"Compose project {stack.compose_project} (logs/compose.log says what Compose did)")
    stack.start()
    later(_stop, stack, progress)
    evidence_db = f"{stack.db_prefix}paychaos_evidence"
    server.create_databases([evidence_db])
    if options.db:
        later(server.drop_databases, [evidence_db])
    store = EvidenceStore(target, evidence_dsn=server.dsn(evidence_db), source_dsn=stack.dsn,
                          service_url=stack.url, run_dir=plan.folder.path)  # fmt: skip
    if options.db:
        later(store.drop_reader)  # before the databases it may read are dropped
    injector = enter(FaultInjector(FaultJournal(plan.folder.faults)))
    faults = FaultContext(target, stack, client, proxies, backend.kind, plan.folder.path,
                          hops=hops, seed=plan.experiment.seed)  # fmt: skip
    return Wiring(server, backend, stack, store, injector, faults)


def _stop(stack: Stack, progress: Progress) -> None:
    """Stop the stack; say how to take down a Compose project it left up (``--keep``)."""
    stack.stop()
    if stack.kept:
        progress.event(
            f"kept the Compose project {stack.compose_project} up; take it down with: {stack.kept}"
        )


def _http_hop(plan: RunPlan, stack: Stack, cleanups: ExitStack, progress: Progress) -> HopLinks | None:
    """The HTTP hop in front of every link the experiment's http: faults name; None if none do."""
    links = sorted({link for f in plan.experiment.faults if (link := f.hop_link()) is not None})
    if not links:
        return None
    hop = start_hop(log_dir=plan.folder.logs, journal=plan.folder.http_faults)
    cleanups.callback(hop.close)
    progress.event(f"HTTP hop in front of {', '.join(links)} ({hop.url})")
    hops = HopLinks(HopClient(hop.url), stack, links)
    cleanups.callback(hops.close)
    return hops


def _faults_acted(plan: RunPlan) -> list[Count]:
    """For faults that may act on nothing (an HTTP rule that matched no request, a toxic on a link
    nothing used while it was on): one count per fault applied, at least one required, so a fault
    that never acted makes the run "not exercised"."""
    counts = []
    for kind in dict.fromkeys(type(f) for f in plan.experiment.faults):
        acted = kind.acted(plan.folder.path)
        for fault_id, n in (acted or {}).items():
            counts.append(Count(f"fault {fault_id} acted", f"fault {fault_id}: {kind.acts}", n, 1))
    return counts


@contextlib.contextmanager
def _postgres(plan: RunPlan) -> Iterator[Server]:
    if plan.options.db:
        yield external(plan.options.db)
        return
    plan.folder.logs.mkdir(parents=True, exist_ok=True)
    with EmbeddedPostgres(log_path=(plan.folder.logs / "postgres.log").resolve()) as server:
        yield server


def steady_state(plan: RunPlan, stack: Stack) -> dict[str, str]:
    """Before anything is injected: every service healthy, every database readable. Returns versions."""
    versions = {"locust": importlib.metadata.version("locust")}
    for name in plan.target.services:
        if not stack.healthy(name, timeout=5):
            raise InfrastructureError(
                f"steady state not reached: {name} is not healthy; see {stack.log(name)}"
            )
    for database in plan.target.postgres.databases if plan.target.postgres else []:
        try:
            rows = read_only(stack.dsn(database), "SELECT version() AS v", where=f"database {database!r}")
        except EvidenceUnavailable as exc:
            raise InfrastructureError(f"steady state not reached: cannot read {exc}") from exc
        versions["postgresql"] = str(rows[0]["v"]).split(" on ")[0]
    return versions


def schedule(plan: RunPlan, wiring: Wiring) -> LoadRun:
    """The fault schedule, each fault built by its kind for this run."""
    return LoadRun(
        FaultSchedule.of(plan.experiment.faults, lambda spec: spec.build(wiring.faults), wiring.injector)
    )


def drive_load(plan: RunPlan, wiring: Wiring, load: LoadRun, cleanups: ExitStack, progress: Progress) -> None:
    """Start Locust; run the fault schedule and the guards beside it until the load ends."""
    target, exp = plan.target, plan.experiment
    assert target.load is not None
    locust = LocustProcess(plan.folder.path, load=exp.load, scenarios=plan.scenarios, seed=exp.seed,
                           module=target.load.module, target_load=target.load,
                           host=wiring.stack.url(target.load.service),
                           env=wiring.stack.shared_environment())  # fmt: skip
    locust.start()
    cleanups.callback(locust.stop)
    tail = HistoryTail(locust.history)
    deadline = time.monotonic() + 60
    while tail.started is None:
        tail.read()
        locust.check()
        if time.monotonic() > deadline or not locust.running:
            raise InfrastructureError(f"Locust did not start sending load; see {locust.log}")
        time.sleep(0.05)
    t0 = load.started_at = tail.started
    load.schedule.clock = lambda: time.time() - t0
    stats, guards, total = LiveStats(), GuardWatch(list(exp.guards)), exp.load.total_duration
    while locust.running:
        now = time.time()
        t = now - t0
        stats.add(tail.read())
        for happened in load.schedule.tick(t):
            progress.event(f"{t:6.1f}s  {happened}")
        trip = guards.check(stats, now, t)
        if trip is not None:
            load.trip = trip
            progress.event(f"{t:6.1f}s  {trip.describe()}; injection stops, every fault heals")
            load.schedule.stop(t)
        progress.update(t, total, stats.window(now), stats.total, load.schedule.active, tail.arrivals)
        time.sleep(0.1)
    locust.check()
    stats.add(tail.read())
    load.summary = {"operations": stats.total, "errors": stats.errors, "seconds": round(time.time() - t0, 3)}
    if tail.arrivals.dropped:
        progress.event(f"dropped: {dropped_words(tail.arrivals)}")


def heal(wiring: Wiring, load: LoadRun) -> None:
    """Every fault healed (a heal that fails is the harness's failure, exit 3)."""
    load.schedule.stop(time.time() - (load.started_at or time.time()))
    for error in wiring.injector.heal_all():
        raise InfrastructureError(error)
    load.healed_at = time.time()
    load.traffic = link_traffic({link: (wiring.faults.proxies.client_for(link).url, name)
                                 for link, name in wiring.faults.proxies.names.items()})  # fmt: skip


def settle(plan: RunPlan, evidence: Evidence, load: LoadRun) -> dict[int, Verdict]:
    """The eventual invariants polled after the heal until each holds or its deadline passes (their
    verdicts by index into the checks); each round's violations kept on ``load.settle`` as they come."""
    checks, spec = list(plan.checks), plan.experiment.settle
    healed = evidence.window.healed_at
    deadlines = {c.name: d - healed for c in checks if (d := c.deadline(healed, spec.timeout)) is not None}
    log = load.settle = SettleLog(healed, {name: round(d, 3) for name, d in deadlines.items()})
    return settle_checks(checks, evidence, timeout=spec.timeout, poll=spec.poll,
                         on_round=lambda at, verdicts: log.round(at, list(verdicts.values())))  # fmt: skip


def verify(
    plan: RunPlan, evidence: Evidence, settled: dict[int, Verdict], progress: Progress
) -> tuple[list[Verdict], list[Count]]:
    """Every invariant's verdict and the coverage counts; the evidence kept in the run folder."""
    checks = list(plan.checks)
    verdicts = verify_all(checks, evidence, settled)
    for verdict in verdicts:
        progress.event(verdict_line(verdict))
    for name, why in not_checked(plan.experiment, plan.target).items():
        progress.event(f"{name:<22} not checked — {why}")
    coverage = count(evidence, dict(plan.target.coverage), dict(plan.experiment.coverage))
    coverage += _faults_acted(plan)
    progress.event(
        "coverage: " + ", ".join(f"{c.name} {'?' if c.value is None else c.value}" for c in coverage)
    )
    for c in coverage:
        if c.required is not None:
            progress.event(f"  {c.describe():<44} {'ok' if c.met else NOT_EXERCISED.upper()}")
    export_violations(checks, verdicts, evidence, plan.folder, progress.event)  # every violator, to files
    assert isinstance(evidence.store, EvidenceStore)
    evidence.store.save(evidence.window, checks, verdicts, coverage, progress.event)
    return verdicts, coverage
