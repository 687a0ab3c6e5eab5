"""The ``paychaos`` command. The only module that prints for the user or exits.

Every command catches :class:`~paychaos.errors.PaychaosError` in one place
(:func:`main`) and maps it to the documented exit code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console
from rich.table import Table

import paychaos_targets
from paychaos import __version__
from paychaos._results import outcome_word, status_mark, verdict_word
from paychaos._signals import interruptible
from paychaos.errors import ExitCode, InfrastructureError, InvalidInput, PaychaosError
from paychaos.postgres import EmbeddedPostgres, Server, external
from paychaos.rundir import RunDir
from paychaos.system import Stack, load_target

# The sample stack shipped with paychaos; the default target of `stack up`.
SAMPLE_TARGET = Path(paychaos_targets.__file__).resolve().parent / "paystack" / "target.yaml"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paychaos")
def cli() -> None:
    """Chaos experiments for payment stacks."""


@cli.command("run")
@click.argument("experiment", type=click.Path(path_type=Path))
@click.option(
    "--defect", "defects", multiple=True, metavar="NAME", help="switch a defect of the target on (repeatable)"
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="where runs write (default: the experiment's report.out)"
)
@click.option(
    "--quick", is_flag=True, help="scale the load and fault durations down (experiment's quick.scale)"
)
@click.option("--quiet", is_flag=True, help="plain progress lines instead of a live panel")
@click.option(
    "--toxiproxy", metavar="URL", help="use this Toxiproxy (also TOXIPROXY_URL) instead of starting one"
)
@click.option(
    "--db", metavar="URL", help="use an existing PostgreSQL (postgresql://…) instead of an embedded one"
)
@click.option("--no-docker", is_flag=True, help="never run a Toxiproxy image, even if one is present")
@click.option(
    "--keep",
    is_flag=True,
    help="leave the target's Compose project up after the run (says how to take it down)",
)
@click.option("--junit", type=click.Path(path_type=Path), help="also write the JUnit XML here")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="also write results.json here")
@click.option(
    "--baseline",
    metavar="RUN_DIR|auto",
    help="compare with this run folder (e.g. the last release's run), or auto: run the experiment without "
    "its faults first (overrides the experiment's baseline)",
)
@click.option(
    "--no-faults", is_flag=True, help="leave the experiment's faults out (what --baseline auto runs first)"
)
def run(
    experiment: Path,
    defects: tuple[str, ...],
    out: Path | None,
    quick: bool,
    quiet: bool,
    toxiproxy: str | None,
    db: str | None,
    no_docker: bool,
    keep: bool,
    junit: Path | None,
    json_out: Path | None,
    baseline: str | None,
    no_faults: bool,
) -> None:
    """Run EXPERIMENT against its target and say whether every invariant held.

    Exit code: 0 every invariant held, 1 one was violated, 2 the experiment or
    the command line is invalid, 3 the harness or its infrastructure failed,
    130 interrupted.
    """
    from paychaos.experiment import load_experiment
    from paychaos.invariants import REGISTRY
    from paychaos.report import run_summary
    from paychaos.run import RunOptions, run_experiment

    file = load_experiment(experiment, invariants=REGISTRY)
    console = Console(soft_wrap=True)
    options = RunOptions(
        out=out,
        defects=defects,
        quick=quick,
        quiet=quiet or not console.is_terminal or _in_ci(),
        toxiproxy=toxiproxy,
        db=db,
        docker=not no_docker,
        keep=keep,
        baseline=None if baseline is None else "auto" if baseline == "auto" else Path(baseline),
        faults=not no_faults,
    )
    with interruptible():
        result = run_experiment(file, options, console)
    folder = RunDir(result.run_dir)
    results = folder.read_results_model()
    word = outcome_word(result.exit_code, results.verdict)
    colour = {ExitCode.HELD: "green", ExitCode.VIOLATED: "red"}.get(result.exit_code, "yellow")
    console.print(f"[{colour}]{word}[/] {file.experiment.name}: {run_summary(results)}", highlight=False)
    report = folder.report
    console.print(f"report: {report if report.exists() else result.run_dir}", highlight=False)
    if results.baseline is not None:
        base = results.baseline
        console.print(f"baseline: {base.run_dir} ({base.verdict}); side by side: "
                      f"paychaos compare {base.run_dir} {result.run_dir}", highlight=False)  # fmt: skip
    for wanted, written in (
        (junit, folder.junit),
        (json_out, folder.results),
    ):
        if wanted is not None and written.exists():
            wanted.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(written, wanted)
    raise _Exit(int(result.exit_code))


@cli.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
def report(run_dir: Path) -> None:
    """Rebuild report.html and junit.xml of a finished, failed or interrupted run from its journals.

    Exits with the run's own exit code (130 for a run whose results.json was never written).
    """
    from paychaos.report import rebuild

    results = rebuild(run_dir)
    click.echo(f"{RunDir(run_dir).report}  ({results['verdict']})")
    raise _Exit(int(results["exit_code"]))


@cli.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option(
    "--json",
    "json_out",
    is_flag=False,
    flag_value="-",
    default=None,
    metavar="[PATH]",
    help="the comparison as JSON: on stdout instead of the tables, or into PATH",
)
def compare(run_a: Path, run_b: Path, json_out: str | None) -> None:
    """Two runs side by side: throughput, error rate and p50/p95/p99 latency per phase (steady, fault,
    recovery, all) and every invariant's verdict, with the change from RUN_A (the reference, e.g. a
    baseline) to RUN_B.

    A run that applied no fault is split at the other's fault times. Exit code: 0 compared (whatever
    the figures), 2 a folder is no finished run.
    """
    import json

    from paychaos.compare import compare_runs

    comparison = compare_runs(run_a, run_b)
    data = comparison.as_json()
    if json_out == "-":
        click.echo(json.dumps(data, indent=2))
        return
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(data, indent=2) + "\n")
    _print_comparison(Console(soft_wrap=True), comparison)


def _print_comparison(console: Console, comparison: Any) -> None:
    from paychaos.compare import LABELS, METRICS, format_change, format_value, worse

    sides = (("A", comparison.a, comparison.a_split), ("B", comparison.b, comparison.b_split))
    for label, side, split in sides:
        faults = f"{side.faults_applied} fault(s)" if side.faults_applied else "no faults"
        split_at = "; split at the other run's fault times" if split == "the other run's faults" else ""
        word = outcome_word(side.results.get("exit_code", 3), side.verdict)
        console.print(f"[bold]{label}[/] {side.path}  {side.name}, {word}, {faults}{split_at}",
                      highlight=False)  # fmt: skip
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    table = Table("phase", "metric", "A", "B", "change (B − A)", header_style="bold", box=None)
    for pair in comparison.phases:
        a_ops, b_ops = (None if f is None else f.operations for f in (pair.a, pair.b))
        table.add_row(pair.phase, "operations", "—" if a_ops is None else f"{a_ops:,}",
                      "—" if b_ops is None else f"{b_ops:,}", "", end_section=False)  # fmt: skip
        for metric in METRICS:
            a, b = pair.values(metric)
            change = format_change(metric, a, b)
            table.add_row("", LABELS[metric], format_value(metric, a), format_value(metric, b),
                          f"[red]{change}[/]" if worse(metric, a, b) else change,
                          end_section=metric == METRICS[-1])  # fmt: skip
    console.print(table)
    verdicts = Table("invariant", "A", "B", header_style="bold", box=None)
    for v in comparison.invariants:
        a, b = (("—" if s is None else status_mark(*s)) for s in (v.a, v.b))
        verdicts.add_row(v.invariant, a, f"[red]{b}[/]" if b != a else b)
    console.print(verdicts)


@cli.command("verify")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="also write the verdicts here")
def verify(run_dir: Path, json_out: Path | None) -> None:
    """Check a finished run's invariants again from its folder alone (its evidence/), with its stack
    and databases long gone, and compare each verdict with the run's own.

    Exit code: what the recomputed verdicts imply (0 held, 1 violated, 3 could not check or not
    exercised); 3 when they differ from the run's own (a harness bug, or the folder was changed after
    the run); 2 when the folder holds no evidence to check.
    """
    import json

    from paychaos.invariants import replay_run

    with interruptible():
        replay = replay_run(run_dir)
    manifest = replay.manifest
    click.echo(f"{run_dir}: {len(manifest.tables)} evidence tables, {manifest.rows:,} rows; "
               f"the run's verdicts from {replay.recorded_from}")  # fmt: skip
    width = max([22, *(len(c.invariant) for c in replay.checks)])
    for c in replay.checks:
        was, now = (
            status_mark(c.recorded_status, c.recorded_count),
            status_mark(c.verdict.status, c.verdict.count),
        )
        said = {"matches": "matches", "DIFFERS": f"DIFFERS — {c.verdict.reason}".rstrip(" —")}
        if c.outcome == "not recomputable":
            now = "—"
        click.echo(f"  {c.invariant:<{width}} recorded {was:<16} recomputed {now:<16} "
                   f"{said.get(c.outcome, c.verdict.reason)}")  # fmt: skip
    for line in replay.changed + replay.unmatched:
        click.echo(f"  {line}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(replay.as_json(), indent=2, default=str))
    if replay.mismatch is not None:
        raise InfrastructureError(f"{run_dir}: {replay.mismatch}")
    code = replay.verdict_code
    gone = sum(c.outcome == "not recomputable" for c in replay.checks)
    kept = f"; {gone} not recomputable (they read the target's databases): the run's stand" if gone else ""
    click.echo(f"VERIFIED {manifest.run_id}: {len(replay.checks) - gone} verdict(s) recomputed from the "
               f"folder match the run's own{kept}; {verdict_word(code, manifest.coverage)}")  # fmt: skip
    raise _Exit(int(code))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@cli.command("matrix")
@click.argument("target", required=False, type=click.Path(path_type=Path))
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    type=click.Path(path_type=Path),
    help="also run this experiment on the correct stack (repeatable)",
)
@click.option("--full", is_flag=True, help="the experiments as written, not their --quick profile")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports") / "matrix", show_default=True)
@click.option("--markdown", type=click.Path(path_type=Path), help="also write the table here")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="runs at a time, each a process of its own in a folder of its own under --out",
)
def matrix(
    target: Path | None,
    experiments: tuple[Path, ...],
    full: bool,
    out: Path,
    markdown: Path | None,
    jobs: int,
) -> None:
    """Prove the detection matrix: experiments pass on the correct stack, each defect is caught.

    Exit code 0 when every row is as expected, 1 otherwise.
    """
    from paychaos import matrix as m

    spec = load_target(target or SAMPLE_TARGET)
    console = Console(soft_wrap=True)
    outcomes = []
    with interruptible():
        # In the table's order; with --jobs, the runs after a slow one finish meanwhile.
        for outcome in m.run_all(m.cases(spec, list(experiments)), out=out, quick=not full, jobs=jobs):
            mark = "[green]as expected[/]" if outcome.as_expected else "[red]NOT as expected[/]"
            console.print(f"{outcome.case.label:<50} {mark}  ({outcome.summary}; {outcome.seconds:.0f}s)",
                          highlight=False)  # fmt: skip
            outcomes.append(outcome)
    table = m.markdown(outcomes)
    console.print(table, highlight=False, markup=False)
    if markdown:
        markdown.write_text(table)
    if not all(o.as_expected for o in outcomes):
        raise _Exit(int(ExitCode.VIOLATED))


@cli.command("validate")
@click.argument("experiments", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--connect",
    is_flag=True,
    help="also reach what a run would use, starting nothing: the Toxiproxy and PostgreSQL given, "
    "the containers the faults name",
)
@click.option(
    "--toxiproxy", metavar="URL", help="with --connect: the Toxiproxy a run would use (also TOXIPROXY_URL)"
)
@click.option("--db", metavar="URL", help="with --connect: the PostgreSQL a run would use (postgresql://…)")
def validate(experiments: tuple[Path, ...], connect: bool, toxiproxy: str | None, db: str | None) -> None:
    """Check experiment files without running them: the schema, the target, every name they use, the
    target's scenario module, each python invariant's function and every SQL query (user modules are
    imported in child processes; nothing in them is called).

    With --connect, also what a run would reach. Exit code: 0 all good, 2 a file is invalid, 3 the
    files are valid but something --connect reaches for is not there.
    """
    from paychaos.experiment import load_experiment
    from paychaos.invariants import REGISTRY
    from paychaos.validate import Importer, connect_check, deep_check

    if not connect and (toxiproxy or db):
        raise InvalidInput("--toxiproxy and --db say what --connect reaches: add --connect")
    problems: list[str] = []
    files = []
    importer = Importer()  # a scenario module shared by many experiments is imported once
    for path in experiments:
        try:
            file = load_experiment(path, invariants=REGISTRY)
        except InvalidInput as exc:
            problems.append(str(exc))
            continue
        files.append(file)
        found = deep_check(file, importer=importer)
        problems += [line for line in found if line not in problems]  # a shared target's problem once
        if not found:
            click.echo(f"{path}: ok ({file.experiment.name} against {file.target.name})")
    reached = connect_check(files, toxiproxy=toxiproxy, db=db) if connect else None
    for line in reached.checked if reached else []:
        click.echo(f"connect: {line}")
    if problems:
        raise InvalidInput("\n".join(problems + (reached.problems if reached else [])))
    if reached and reached.problems:
        raise InfrastructureError("\n".join(reached.problems))


@cli.command("init")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="write into a folder that is not empty (overwrites both files)")
def init(folder: Path, force: bool) -> None:
    """Start a new target in FOLDER: a commented target.yaml and experiments/first.yaml, which
    validate as written. Edit the service's command, the evidence queries and the scenario's
    requests for your stack (docs/targets.md describes every key).

    Exit code: 0 written, 2 FOLDER is not empty (without --force) or cannot be written.
    """
    from paychaos.init import scaffold

    written = scaffold(folder, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    target, experiment = written
    click.echo(
        "next:\n"
        f"  1. edit {target}: the service's command, the evidence queries, the scenario's requests\n"
        f"  2. paychaos validate {experiment}\n"
        f"  3. paychaos run {experiment}"
    )


@cli.command("schema")
@click.argument("kind", type=click.Choice(["experiment", "target", "results"]), default="experiment")
@click.option("--target", "as_target", is_flag=True, help="the same as KIND target")
@click.option("--results", "as_results", is_flag=True, help="the same as KIND results")
def schema(kind: str, as_target: bool, as_results: bool) -> None:
    """Print the JSON Schema of an experiment file (default), a target.yaml or a results.json.

    For editor completion and checks: ``paychaos schema target > target.schema.json`` (or
    ``--target``). The
    experiment and target schemas describe the files as written (durations as 30s); every file
    the loader accepts matches them, and the loader checks more (names against the target).
    """
    import json

    from paychaos._jsonschema import input_schema

    if as_target and as_results:
        raise InvalidInput("give --target or --results, not both")
    kind = "target" if as_target else "results" if as_results else kind
    from paychaos.experiment import json_schema
    from paychaos.system import Target

    if kind == "target":
        printed = input_schema(
            Target,
            title="paychaos target",
            description="What paychaos knows about a system under test (target.yaml): its services, "
            "links, evidence, load scenarios, config endpoints and defect switches.",
        )
    elif kind == "results":
        from paychaos.report import results_schema

        printed = results_schema()
    else:
        printed = json_schema()
    click.echo(json.dumps(printed, indent=2))


@cli.group()
def stack() -> None:
    """Run a target's services without an experiment."""


@stack.command("up")
@click.argument("target", required=False, type=click.Path(path_type=Path))
@click.option(
    "--db", metavar="URL", help="use an existing PostgreSQL (postgresql://…) instead of an embedded one"
)
@click.option("--defect", "defects", multiple=True, metavar="NAME", help="switch a defect on (repeatable)")
@click.option(
    "--ports",
    type=click.Choice(["target", "auto"]),
    default="target",
    show_default=True,
    help="the ports target.yaml gives, or free ones picked at start",
)
@click.option("--log-dir", type=click.Path(path_type=Path), help="where each service's log goes")
@click.option("--keep", is_flag=True, help="leave the target's Compose project up after Ctrl-C")
def stack_up(
    target: Path | None,
    db: str | None,
    defects: tuple[str, ...],
    ports: str,
    log_dir: Path | None,
    keep: bool,
) -> None:
    """Start every service of TARGET (default: the bundled paystack) in the foreground.

    Ctrl-C stops all of them, and the embedded PostgreSQL, leaving nothing running.
    """
    console = Console(soft_wrap=True)
    spec = load_target(target or SAMPLE_TARGET)
    logs = log_dir or Path("reports") / f"stack-{datetime.now():%Y%m%d-%H%M%S}"
    with interruptible(), _postgres(db, logs) as server:
        console.print(f"starting [bold]{spec.name}[/] ({len(spec.services)} services) …")
        mode: Literal["auto", "target"] = "auto" if ports == "auto" else "target"
        running = Stack(spec, server, log_dir=logs, defects=defects, ports=mode, keep=keep)
        with contextlib.ExitStack() as said, running:
            said.callback(_say_kept, console, running)  # once the stack has stopped
            table = Table("service", "url", "log", box=None, header_style="bold")
            for name in spec.services:
                table.add_row(name, running.url(name), str(running.log(name)))
            console.print(table)
            where = "embedded" if db is None else "external"
            console.print(f"PostgreSQL ({where}) at {server.host}:{server.port}, user {server.user}")
            if db is None and server.password:
                # Every login needs the password; it goes to a file only this user can read.
                secret_file = logs / "postgres.dsn"
                secret_file.touch(mode=0o600)
                secret_file.chmod(0o600)
                secret_file.write_text(server.dsn("postgres") + "\n")
                console.print(f"  its connection string (with the password) is in {secret_file} (mode 600)")
            if defects:
                console.print(f"defects on: {', '.join(defects)}")
            console.print("up. Ctrl-C stops everything.")
            reported: set[str] = set()
            while True:
                for name, code in running.exited().items():
                    if name not in reported:
                        if running.compose is not None and spec.services[name].kind == "compose":
                            running.compose.save_logs()  # a container's log is the engine's until saved
                        console.print(f"[red]{name} exited with code {code}[/]; see {running.log(name)}")
                        reported.add(name)
                time.sleep(0.5)


def _say_kept(console: Console, running: Stack) -> None:
    """After the stack stopped (``--keep``): how to take down the Compose project it left up."""
    if running.kept:
        console.print(
            f"kept the Compose project {running.compose_project} up; take it down with: {running.kept}"
        )


@contextlib.contextmanager
def _postgres(db: str | None, logs: Path) -> Iterator[Server]:
    if db is not None:
        yield external(db)
        return
    logs.mkdir(parents=True, exist_ok=True)
    with EmbeddedPostgres(log_path=(logs / "postgres.log").resolve()) as server:
        yield server


@cli.group()
def proxy() -> None:
    """The embedded Toxiproxy-compatible fault proxy."""


@proxy.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="address of the HTTP API")
@click.option("--port", default=8474, show_default=True, help="port of the HTTP API (0: any free one)")
@click.option("--seed", type=int, help="seed for toxicity, jitter and slicing")
@click.option("--proxy-metrics", is_flag=True, help="serve per-proxy Prometheus metrics at /metrics")
@click.option("--runtime-metrics", is_flag=True, help="serve the process's Prometheus metrics at /metrics")
def proxy_serve(host: str, port: int, seed: int | None, proxy_metrics: bool, runtime_metrics: bool) -> None:
    """Serve Toxiproxy's HTTP API until Ctrl-C; any Toxiproxy client can drive it."""
    from paychaos.faults.toxiproxy_server import ToxiproxyServer, serve

    def ready(server: ToxiproxyServer) -> None:
        click.echo(f"Toxiproxy-compatible API on {server.url} (Ctrl-C stops it)")

    try:
        metrics = {"proxy_metrics": proxy_metrics, "runtime_metrics": runtime_metrics}
        serve(host, port, seed=seed, on_ready=ready, **metrics)
    except OSError as exc:
        raise InfrastructureError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


@cli.command("heal")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="heal the faults of the named runs even if they still run")
def heal(runs: tuple[Path, ...], force: bool) -> None:
    """Clean up after runs that died (all runs under reports/ if none is named).

    Resumes paused processes, removes their toxics, re-enables proxies, unpauses
    or starts containers and restores config (unless the service is gone or its
    port is another process's now: that heal is given up, with the reason); then
    stops the processes they started, removes their PostgreSQL data and stops
    orphaned Toxiproxy containers.

    A run that is still running owns its faults and is left alone; naming one is
    refused (exit 2) unless --force, which heals its faults and nothing else.
    """
    from paychaos._ownership import describe_holder, holder
    from paychaos.faults import heal_leftovers

    if force and not runs:
        raise InvalidInput(
            "--force heals the faults of runs that still run: name them (paychaos heal --force RUN)"
        )
    if not force:
        live = [(run, owner) for run in runs if (owner := holder(run)) is not None]
        if live:
            raise InvalidInput("\n".join(
                f"{run}: still running ({describe_holder(owner)}); a run heals its own faults when it ends. "
                f"To heal them now anyway: paychaos heal --force {run}"
                for run, owner in live))  # fmt: skip
    results = heal_leftovers(list(runs) or sorted(Path("reports").glob("*/")), force=force)
    if not results:
        click.echo("nothing to heal")
        return
    for item in results:
        word = "FAILED" if item.status == "failed" else item.status
        click.echo(f"{word}  {item.fault}: {item.outcome}  [{item.journal}]")
    failed = [r for r in results if not r.ok]
    if failed:
        raise InfrastructureError(f"{len(failed)} fault(s) could not be healed; see above")


@cli.command("prune")
@click.option("--keep", type=int, metavar="N", help="keep the N newest runs")
@click.option("--older-than", "older_than", metavar="AGE", help="remove only runs older than AGE (7d, 2w)")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="the folder runs write to")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="list what would be removed; remove nothing")
def prune(keep: int | None, older_than: str | None, out: Path, dry_run: bool) -> None:
    """Remove old run folders under --out: those the --keep N newest and --older-than AGE do not keep.

    Only run folders (holding experiment.yaml or results.json) are touched. A run that still runs is
    left alone, and so is a dead one that left faults or processes behind (paychaos heal it first),
    and so is the baseline of a run that stays.
    Prints each run removed and the space freed; exits 3 if a folder could not be removed.
    """
    from paychaos.prune import human_size, parse_age
    from paychaos.prune import prune as prune_runs

    try:
        age = None if older_than is None else parse_age(older_than)
    except ValueError as exc:
        raise InvalidInput(f"--older-than: {exc}") from None
    done = prune_runs(out, keep=keep, older_than=age, dry_run=dry_run)
    for item in done:
        when = datetime.fromtimestamp(item.run.when).strftime("%Y-%m-%d %H:%M")
        reason = f": {item.reason}" if item.reason else ""
        click.echo(f"{item.status:<12}  {item.path}  ({when}, {human_size(item.size)}){reason}")
    gone = [i for i in done if i.status in ("removed", "would remove")]
    freed = human_size(sum(i.size for i in gone))
    left = [i for i in done if i.status == "left alone"]
    said = f"; {len(left)} left alone" if left else ""
    if dry_run:
        click.echo(f"would remove {len(gone)} run(s) and free {freed}{said} (dry run: nothing removed)")
    else:
        click.echo(f"removed {len(gone)} run(s), freed {freed}{said}")
    failed = [i for i in done if i.status == "failed"]
    if failed:
        raise InfrastructureError(f"{len(failed)} run folder(s) could not be removed; see above")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    try:
        cli.main(args=argv, prog_name="paychaos", standalone_mode=False)
    except PaychaosError as exc:
        click.echo(f"paychaos: {exc}", err=True)
        return int(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("paychaos: interrupted; everything it started is stopped", err=True)
        return int(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.INVALID)
    except _Exit as done:
        return done.code
    return int(ExitCode.HELD)


if __name__ == "__main__":
    sys.exit(main())
