"""A ``python`` invariant runs in a process of its own, so no code of the user's can end, hang or crash a run.

>>> run_in_child(evidence, "checks.money:no_negative_balance", {}, timeout=120.0)  # doctest: +SKIP
Verdict(invariant='python: checks.money:no_negative_balance', status='holds', ...)

The parent writes what the child needs as plain data (the DSNs, the run window,
the target, the function and its parameters) into a private folder. The child
rebuilds the Evidence from it, calls the function, writes the verdict back as
JSON and ends at once. It leads a session of its own: past its time limit the
whole session gets SIGTERM, then SIGKILL, and whatever the function started
goes with it. Anything but a verdict written back (an exit, even ``exit(0)``;
an exception; a crash; a hang; a value that is not JSON) is ``could_not_check``
with the reason, never ``holds``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import decimal
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, get_args

from pydantic import TypeAdapter, ValidationError

from paychaos._process import parent_death_signal, tail
from paychaos._results_model import VerdictRecord
from paychaos.durations import format_duration
from paychaos.invariants._base import MAX_EXAMPLES, Evidence, EvidenceUnavailable, RunWindow, Status, Verdict
from paychaos.invariants._store import EvidenceStore, Limits
from paychaos.rundir import RunDir
from paychaos.system import Target

_GRACE = 1.0  # seconds between SIGTERM and SIGKILL when the time limit is up
_ENTRY = "from paychaos.invariants._child import main; main()"
_VERDICT = TypeAdapter(Verdict)


def run_in_child(evidence: Evidence, function: str, params: Mapping[str, Any], *, timeout: float) -> Verdict:
    """Call ``function`` ("module.path:name") as ``function(evidence, **params)`` in a child process."""
    name = f"python: {function}"
    log = _new_log(RunDir(evidence.store.run_dir).logs, function)
    with tempfile.TemporaryDirectory(prefix="paychaos-invariant-") as private:  # mode 0700: DSNs inside
        job, out = Path(private, "job.json"), Path(private, "verdict.json")
        job.write_text(json.dumps({
            "function": function, "params": dict(params), "evidence": evidence_data(evidence),
            "parent": os.getpid(), "log": f"logs/{log.name}",
        }, default=str))  # fmt: skip
        code, ended = _supervise([sys.executable, "-P", "-c", _ENTRY, str(job), str(out)], log, timeout)
        verdict = _read(out)
    if verdict is not None:
        return verdict
    return Verdict(name, "could_not_check", reason=_why(code, ended, timeout, log))


def evidence_data(evidence: Evidence) -> dict[str, Any]:
    """What the child needs to rebuild ``evidence``, as plain data (see :func:`evidence_from`).

    The DSNs are those the invariants read with (the store's reader role, where
    the server allows one), passwords included: the data goes into a private
    file, never onto a command line or into the environment.
    """
    store = evidence.store
    target = store.target
    databases, unreadable = {}, {}
    for database in target.postgres.databases if target.postgres else []:
        where = f"database {database!r}"
        try:
            databases[database] = store.reader_dsn(evidence._target_dsn(database), where=where)
        except EvidenceUnavailable as exc:  # said when the function reads it, not before
            unreadable[database] = str(exc)
    return {
        "target": target.model_dump(mode="json", by_alias=True),
        "target_source": str(target.source),
        "evidence_dsn": store.reader_dsn(store.dsn, where="the evidence database"),
        "databases": databases,
        "unreadable": unreadable,
        "limits": dataclasses.asdict(store.limits),
        "problems": dict(store.problems),
        "failure": store.failure,
        "run_dir": str(store.run_dir),
        "window": dataclasses.asdict(evidence.window),
    }


def evidence_from(data: Mapping[str, Any]) -> Evidence:
    """The Evidence :func:`evidence_data` described: the same tables, window and databases, read-only."""
    target = Target.model_validate(data["target"])
    target._source = Path(data["target_source"])
    databases: dict[str, str] = data["databases"]
    unreadable: dict[str, str] = data["unreadable"]

    def dsn(database: str) -> str:
        if database in unreadable:
            raise EvidenceUnavailable(unreadable[database])
        if database not in databases:
            known = ", ".join([*databases, *unreadable]) or "none"
            raise EvidenceUnavailable(f"database {database!r} is not one of the target's ({known})")
        return databases[database]

    def no_service(service: str) -> str:
        raise EvidenceUnavailable(f"service {service!r}: a python invariant reads the evidence, not services")

    store = EvidenceStore(
        target, evidence_dsn=data["evidence_dsn"], source_dsn=dsn, service_url=no_service,
        run_dir=Path(data["run_dir"]), limits=Limits(**data["limits"]), dsns_are_reader=True,
    )  # fmt: skip
    store.problems = dict(data["problems"])
    store.failure = data["failure"]
    return Evidence(store, RunWindow(**data["window"]), dsn)


# -- the parent's side ----------------------------------------------------------------------


class _Children:
    """The children running now, so that an interrupted run can end them all at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen[bytes]] = set()
        self.stopped = False

    def start(self, argv: list[str], output: IO[bytes]) -> subprocess.Popen[bytes] | None:
        """A child in a session of its own; None once the run is being stopped."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path)}
        with self.lock:
            if self.stopped:
                return None
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
            self.running.add(child)
            return child

    def forget(self, child: subprocess.Popen[bytes]) -> bool:
        """Stop tracking ``child`` (before it is reaped); whether the run is being stopped."""
        with self.lock:
            self.running.discard(child)
            return self.stopped

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            for child in self.running:  # nothing to clean up in there: no grace period
                _signal(child, signal.SIGKILL)


_children = _Children()


@contextlib.contextmanager
def stopped_on_error() -> Iterator[None]:
    """Within the block, an exception (Ctrl-C, SIGTERM) kills every python invariant's child at once,
    and any started after it, so threads waiting on one return now instead of at its time limit.

    >>> with ThreadPoolExecutor(2) as pool, stopped_on_error():  # doctest: +SKIP
    ...     verdicts = [f.result() for f in [pool.submit(check, ...) for check in checks]]
    """
    with _children.lock:
        _children.stopped = False
    try:
        yield
    except BaseException:
        _children.stop()
        raise


def _supervise(argv: list[str], log: Path, timeout: float) -> tuple[int | None, str | None]:
    """Run the child to its end; its exit code, and "timeout" or "stopped" if it was ended."""
    with open(log, "ab") as output:
        child = _children.start(argv, output)
    if child is None:
        return None, "stopped"
    ended: str | None = None
    try:
        # A pidfd waits for the end without reaping: the pid still names the child's group after it.
        pidfd = os.pidfd_open(child.pid)
        try:
            if not _ends(pidfd, timeout):
                ended = "timeout"
                _signal(child, signal.SIGTERM)
                if not _ends(pidfd, _GRACE):
                    _signal(child, signal.SIGKILL)
                    _ends(pidfd, None)
        finally:
            os.close(pidfd)
    finally:
        stopped = _children.forget(child)
        _signal(child, signal.SIGKILL)  # what it started, and itself too if we got here by an exception
        child.wait()
    if ended is None and stopped and child.returncode == -signal.SIGKILL:
        ended = "stopped"
    return child.returncode, ended


def _ends(pidfd: int, timeout: float | None) -> bool:
    poll = select.poll()
    poll.register(pidfd, select.POLLIN)
    return bool(poll.poll(None if timeout is None else max(0, round(timeout * 1000))))


def _signal(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def _new_log(logs: Path, function: str) -> Path:
    logs.mkdir(parents=True, exist_ok=True)
    stem = "invariant-" + function.replace(":", ".")
    for n in range(1, 1000):
        path = logs / (f"{stem}.log" if n == 1 else f"{stem}-{n}.log")
        with contextlib.suppress(FileExistsError):
            path.open("x").close()
            return path
    raise OSError(f"{logs}: too many logs named {stem}-N.log")


def _read(out: Path) -> Verdict | None:
    try:
        return _VERDICT.validate_python(json.loads(out.read_text())["verdict"])
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        return None


def _why(code: int | None, ended: str | None, timeout: float, log: Path) -> str:
    output = f"its output is in logs/{log.name}"
    if ended == "timeout":
        return (f"ran past its {format_duration(timeout)} limit; killed. Make it faster, or give it "
                f"longer with `timeout` in its params; {output}")  # fmt: skip
    if ended == "stopped" or code is None:
        return "stopped: the run was interrupted (Ctrl-C or SIGTERM)"
    if code < 0:
        killer = signal.Signals(-code).name
        hint = " (out of memory, or it killed itself?)" if -code == signal.SIGKILL else ""
        return f"its process was killed by {killer}{hint} before it returned a verdict; {output}"
    if code == 0:
        return ("its process exited (code 0) without returning a verdict, e.g. with os._exit(0); an "
                f"invariant returns its violations (or a Verdict) and must not exit; {output}")  # fmt: skip
    last = tail(log, 1)
    return f"its process exited with code {code} without returning a verdict; {output}, ending: {last}"


# -- the child's side -----------------------------------------------------------------------


def main() -> None:
    """The child: read the job, call the function, write back its verdict, and end at once."""
    parent_death_signal(signal.SIGKILL)()  # a harness killed outright takes its invariant with it
    job_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    job = json.loads(job_path.read_text())
    if os.getppid() != job["parent"]:
        os._exit(1)  # the parent died before the death signal was set
    name = f"python: {job['function']}"
    verdict = _outcome(name, job)
    try:
        text = json.dumps({"verdict": verdict.as_json()}, default=_plain)
    except (TypeError, ValueError) as exc:
        reason = (f"returned what cannot be written as JSON ({exc}); return plain values: str, numbers, "
                  "bools, None, lists, dicts (dates, decimals and UUIDs are written as text)")  # fmt: skip
        text = json.dumps({"verdict": Verdict(name, "could_not_check", reason=reason).as_json()})
    scratch = out.with_suffix(".tmp")
    scratch.write_text(text)
    os.replace(scratch, out)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)  # no atexit handler or leftover thread of the function's holds the verdict back


def _outcome(name: str, job: Mapping[str, Any]) -> Verdict:
    module_name, _, attr = job["function"].partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except BaseException as exc:
        traceback.print_exc()
        reason = (f"cannot import {job['function']}: {_said(exc, job['log'], '')}; make sure the module is "
                  "importable where paychaos runs (run it from the folder that holds the package, or "
                  "set PYTHONPATH)")  # fmt: skip
        return Verdict(name, "could_not_check", reason=reason)
    try:
        result = function(evidence_from(job["evidence"]), **job["params"])
        return _judged(name, result)
    except EvidenceUnavailable as exc:
        return Verdict(name, "could_not_check", reason=str(exc))
    except BaseException as exc:
        traceback.print_exc()
        return Verdict(name, "could_not_check", reason=_said(exc, job["log"]))


def _judged(name: str, result: object) -> Verdict:
    if isinstance(result, Verdict):
        if result.status not in get_args(Status):
            known = ", ".join(get_args(Status))
            reason = f"returned a Verdict with status {result.status!r}; expected one of {known}"
            return Verdict(name, "could_not_check", reason=reason)
        try:  # what results.json will hold: a malformed verdict must not cost the run its results
            VerdictRecord.model_validate(json.loads(json.dumps(result.as_json(), default=_plain)))
        except (ValidationError, TypeError, ValueError) as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in getattr(exc, "errors", lambda: [])()
            )
            reason = f"returned a malformed Verdict ({problems or exc}); see paychaos.invariants.Verdict"
            return Verdict(name, "could_not_check", reason=reason)
        return result
    if result is not None and (isinstance(result, str | bytes | Mapping) or not isinstance(result, Iterable)):
        return Verdict(name, "could_not_check", reason=(
            f"returned {_short(result)}, neither a Verdict nor a list of violations (dicts, column → "
            "value); return [] when it holds"))  # fmt: skip
    rows = [] if result is None else list(result)
    odd = next((row for row in rows if not isinstance(row, Mapping)), None)
    if odd is not None:
        reason = f"returned a list holding {_short(odd)}; each violation is a dict (column → value)"
        return Verdict(name, "could_not_check", reason=reason)
    if not rows:
        return Verdict(name, "holds")
    examples = [dict(row) for row in rows[:MAX_EXAMPLES]]
    return Verdict(name, "violated", count=len(rows), examples=examples, reason=f"{len(rows)} violation(s)")


def _said(exc: BaseException, log: str, verb: str = "raised ") -> str:
    if isinstance(exc, SystemExit):
        called = "exit()" if exc.code is None else f"exit({exc.code!r})"
        return (f"the invariant's code called {called}; an invariant returns its violations "
                "(or a Verdict) and must not exit")  # fmt: skip
    # The last lines of the traceback, innermost first, without this module's own frame.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__][-3:]
    where = " ← ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}: {f.line}" for f in reversed(frames))
    return f"{verb}{type(exc).__name__}: {exc}{f' (at {where})' if where else ''}; the traceback is in {log}"


def _short(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _plain(value: object) -> str:
    # What the evidence queries answer besides JSON's own types; results.json writes them as text too.
    if isinstance(value, decimal.Decimal | datetime.date | datetime.time | datetime.timedelta | uuid.UUID):
        return str(value)
    raise TypeError(f"{_short(value)} is not JSON")
