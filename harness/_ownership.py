"""A run owns its folder: a lock held while the run lives, and a ledger of the processes it started.

>>> with RunLock(run_dir):                      # doctest: +SKIP
...     ...                                     # the run: its services, PostgreSQL, its faults
>>> holder(run_dir)                             # None once that process has died, even by SIGKILL

The lock is an ``flock`` on ``RUN_DIR/.lock``. The kernel drops it when the
process dies, however it dies, so "the lock can be taken" means "the run is
dead". Whatever cleans up after runs (the next run's prepare, ``paychaos heal``)
first takes the run's lock with :func:`claimed`: it never touches a live run,
and two of them never clean up one run at once. The file names its owner by
pid and start time, for messages.

While a process holds a run lock, each process the harness starts for the run
(its services, PostgreSQL, the Toxiproxy backend) is recorded in
``RUN_DIR/processes.jsonl`` with its start time, so that :func:`stop_recorded`
can stop what a dead run left running without ever signalling a process that
has since been given the same pid. A Docker Compose project the run brings up
is recorded there too (:func:`record_compose`): its containers outlive a killed
harness, and a heal takes the project down.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from paychaos.errors import InfrastructureError
from paychaos.rundir import RunDir

LOCK_NAME = RunDir.LOCK
PROCESSES_NAME = RunDir.PROCESSES

# psutil derives a start time from boot time and clock ticks; two readings of one process agree
# far closer than this, and no pid is handed out twice within it.
_SAME_START = 0.05


@dataclass(frozen=True)
class Stamp:
    """One process, told apart by its start time from any later process given the same pid.

    ``created`` is None only for a stamp written by an older paychaos (a bare pid).
    """

    pid: int
    created: float | None

    @classmethod
    def of(cls, pid: int) -> Stamp | None:
        """The stamp of the running process ``pid``; None if there is none."""
        try:
            return cls(pid, psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    @classmethod
    def me(cls) -> Stamp:
        return cls(os.getpid(), psutil.Process().create_time())

    @classmethod
    def from_json(cls, data: Any) -> Stamp | None:
        if isinstance(data, int) and not isinstance(data, bool):
            return cls(data, None)
        if isinstance(data, dict) and isinstance(data.get("pid"), int):
            created = data.get("created")
            return cls(data["pid"], float(created) if isinstance(created, int | float) else None)
        return None

    @classmethod
    def read(cls, path: Path) -> Stamp | None:
        """The stamp written in ``path`` (JSON, or a bare pid from an older paychaos); None if unreadable."""
        try:
            text = path.read_text(encoding="utf-8").strip()
            return cls.from_json(json.loads(text))
        except (OSError, ValueError):
            return None

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "created": self.created}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json()) + "\n", encoding="utf-8")

    def is_this(self, process: psutil.Process) -> bool:
        """True if ``process`` (whose pid is ours) is this very process, not a later one with its pid."""
        if self.created is None:
            return True  # an older paychaos wrote no start time: the pid is all there is
        try:
            return abs(process.create_time() - self.created) < _SAME_START
        except psutil.Error:
            return False

    def process(self) -> psutil.Process | None:
        """The process if it still runs; a zombie does not (it has ended, only its exit status is left)."""
        try:
            process = psutil.Process(self.pid)
            if not self.is_this(process) or process.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return process

    def alive(self) -> bool:
        return self.process() is not None

    def describe(self) -> str:
        return f"pid {self.pid}"


# -- the run lock ------------------------------------------------------------------------------

_held: list[RunLock] = []  # the run locks this process holds, innermost last
_held_lock = threading.Lock()


class RunLock:
    """The lock a run holds on its folder for as long as it runs."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None
        self._write = threading.Lock()

    def acquire(self) -> RunLock:
        """Take the folder; InfrastructureError naming the owner if another live process holds it."""
        if self._fd is not None:
            return self
        fd = self._create() if not self.path.exists() else None
        if fd is None:
            fd = os.open(self.path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InfrastructureError(
                    f"{self.run_dir} belongs to another run that is still running "
                    f"({describe_holder(Stamp.read(self.path))}); give this run a folder of its own"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(Stamp.me().as_json()) + "\n").encode(), 0)
        self._fd = fd
        with _held_lock:
            _held.append(self)
        return self

    def _create(self) -> int | None:
        # The file appears already locked and already naming its owner: a cleaner that opens it in
        # between can never take a live run for a dead one.
        scratch = self.path.with_name(f"{LOCK_NAME}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(scratch, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps(Stamp.me().as_json()) + "\n").encode())
        try:
            os.link(scratch, self.path)
        except FileExistsError:
            os.close(fd)
            return None
        finally:
            scratch.unlink()
        return fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with _held_lock:
            if self in _held:
                _held.remove(self)
        os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def record(
        self,
        role: str,
        name: str,
        pid: int,
        *,
        group: bool = True,
        stop_signal: str = "SIGTERM",
        remove: Path | None = None,
        **extra: Any,
    ) -> None:
        """Append a process just started to the run's ledger.

        ``remove``: a directory to delete once the process has ended (the embedded PostgreSQL's data).
        """
        stamp = Stamp.of(pid)
        line = {"role": role, "name": name, "pid": pid, "created": stamp.created if stamp else None,
                "group": group, "signal": stop_signal, "remove": str(remove) if remove else None,
                **extra}  # fmt: skip
        self.note(line)

    def note(self, line: dict[str, Any]) -> None:
        """Append one line to the run's ledger."""
        with self._write, open(self.run_dir / PROCESSES_NAME, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def record_process(role: str, name: str, pid: int, **details: Any) -> None:
    """Record a process just started in the ledger of the run this process is executing, if any.

    >>> record_process("service", "gateway", proc.pid, port=8102)   # doctest: +SKIP

    Outside a run (``paychaos stack up``, a test) nothing is recorded.
    """
    with _held_lock:
        run = _held[-1] if _held else None
    if run is not None:
        run.record(role, name, pid, **details)


ComposeState = Literal["up", "down", "kept"]


def record_compose(project: str, state: ComposeState, **details: Any) -> None:
    """Record in the ledger of the run this process is executing (if any) a Compose project it is
    about to bring ``up`` (before it does), or has taken ``down``, or ``kept`` up on purpose.

    >>> record_compose("walletpay-3f9a1c", "up", file="/srv/compose.yaml")   # doctest: +SKIP

    Containers outlive a harness that is killed; a heal takes down a project left ``up``.
    """
    with _held_lock:
        run = _held[-1] if _held else None
    if run is not None:
        run.note({"role": "compose", "name": project, "compose": project, "state": state, **details})


def note_compose(run_dir: Path, project: str, state: ComposeState, **details: Any) -> None:
    """Record in a dead run's ledger what became of its Compose project (a heal, holding its lock)."""
    line = {"role": "compose", "name": project, "compose": project, "state": state, **details}
    with open(run_dir / PROCESSES_NAME, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def recorded_compose(run_dir: Path) -> list[dict[str, Any]]:
    """The Compose projects a run brought up and no one took down since: each one's latest record
    (``state`` up, or kept for a project left up on purpose), in the order they were first recorded."""
    try:
        lines = (run_dir / PROCESSES_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    latest: dict[str, dict[str, Any]] = {}
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and isinstance(record.get("compose"), str):
                latest[record["compose"]] = {**latest.get(record["compose"], {}), **record}
    return [record for record in latest.values() if record.get("state") in ("up", "kept")]


def holder(run_dir: Path) -> Stamp | None:
    """The owner of a run that is still running, or None if the run is dead (or never took a lock).

    The stamp is the one written in the lock; if that process is gone, whoever holds the lock now
    is cleaning up after the run.
    """
    with claimed(run_dir) as held_by:
        return held_by


@contextlib.contextmanager
def claimed(run_dir: Path) -> Iterator[Stamp | None]:
    """Take a run's lock to clean up after it; yields None when taken, or the stamp of who holds it.

    A folder without a lock file (a run of an older paychaos, or not a run) counts as dead.
    """
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)  # enough for flock, and for a folder another user wrote
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield Stamp.read(path) or Stamp(0, None)
            return
        yield None
    finally:
        os.close(fd)


def describe_holder(stamp: Stamp | None) -> str:
    """For messages: who holds a run's lock."""
    if stamp is None or stamp.pid == 0:
        return "owner unknown"
    if stamp.alive():
        return stamp.describe()
    return f"its {stamp.describe()} has ended; another process is cleaning up after it"


# -- processes a dead run left --------------------------------------------------------------


@dataclass(frozen=True)
class Stopped:
    what: str
    outcome: str
    status: Literal["stopped", "removed", "left alone"] = "stopped"


def read_ledger(run_dir: Path) -> list[dict[str, Any]]:
    """The processes a run recorded and no heal has found ended since (a torn last line, written as
    the run was killed, is skipped)."""
    try:
        lines = (run_dir / PROCESSES_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records: list[dict[str, Any]] = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "settled" in record:
                records.clear()  # everything before it was found ended: not looked at again
            elif isinstance(record, dict) and isinstance(record.get("pid"), int):
                records.append(record)
    return records


def stop_recorded(run_dir: Path, *, grace: float = 5.0) -> list[Stopped]:
    """Stop what a dead run started and left running; then delete the directories it recorded.

    Call it only holding the run's lock (:func:`claimed`). Each process is resumed first (a paused
    one cannot act on SIGTERM), sent its stop signal as a process group, and SIGKILLed after
    ``grace`` seconds. A recorded pid now used by another process is never signalled. Returns what
    was done; nothing when nothing was left. Once all of it has ended the ledger says so, and later
    calls look no further back.
    """
    records = list(reversed(read_ledger(run_dir)))  # the last started first: services before their database
    if not records:
        return []
    groups = _Groups()
    todo: list[tuple[dict[str, Any], list[psutil.Process]]] = []
    for record in records:
        members = _still_running(record, groups)
        if members:
            todo.append((record, members))
            _signal(record, signal.SIGCONT)
            _signal(record, getattr(signal, str(record.get("signal") or "SIGTERM"), signal.SIGTERM))
    done: list[Stopped] = []
    settled = True
    for record, members in todo:
        alive = wait_ended(members, grace)
        how = "stopped"
        if alive:
            _signal(record, signal.SIGKILL)
            settled = settled and not wait_ended(alive, 5)
            how = f"stopped (SIGKILL: still running {grace:g}s after {record.get('signal') or 'SIGTERM'})"
        done.append(Stopped(_label(record), f"{how}: pid {', '.join(str(p.pid) for p in members)}"))
    for record in records:
        if record.get("remove"):
            removed = _remove(_label(record), Path(record["remove"]))
            if removed:
                done.append(removed)
                settled = settled and removed.status == "removed"
    if settled:
        with open(run_dir / PROCESSES_NAME, "a", encoding="utf-8") as out:
            out.write(json.dumps({"settled": True, "by": os.getpid()}) + "\n")
    return done


def _label(record: dict[str, Any]) -> str:
    role, name = record.get("role", "process"), record.get("name", "?")
    return f"{role if name == role else f'{role} {name}'} (pid {record['pid']})"


class _Groups:
    """Live processes by process group, read from the system once, when first needed."""

    def __init__(self) -> None:
        self._table: dict[int, list[psutil.Process]] | None = None

    def members(self, stamp: Stamp, exclude: int | None = None) -> list[psutil.Process]:
        """Live processes in the group ``stamp`` led, started after it (a service's workers outlive
        a leader that died)."""
        if self._table is None:
            self._table = {}
            for process in psutil.process_iter(["create_time", "status"]):
                if process.info["status"] != psutil.STATUS_ZOMBIE:
                    with contextlib.suppress(OSError):
                        self._table.setdefault(os.getpgid(process.pid), []).append(process)
        assert stamp.created is not None
        return [p for p in self._table.get(stamp.pid, [])
                if p.pid != exclude and p.info["create_time"] >= stamp.created - _SAME_START]  # fmt: skip


def _still_running(record: dict[str, Any], groups: _Groups) -> list[psutil.Process]:
    """The recorded process, or what is left of its group, if any of it still runs."""
    stamp = Stamp(record["pid"], record.get("created"))
    if stamp.created is None:
        return []  # without a start time a recycled pid cannot be told apart: never signal it
    try:
        leader: psutil.Process | None = psutil.Process(stamp.pid)
    except psutil.Error:
        leader = None
    if leader is not None and not stamp.is_this(leader):
        # The pid is another process's now; a group's id is never given to a new process while any
        # member of the group lives, so the recorded group is gone too.
        return []
    with contextlib.suppress(psutil.Error):
        if leader is not None and leader.status() != psutil.STATUS_ZOMBIE:
            return [leader, *groups.members(stamp, exclude=leader.pid)] if record.get("group") else [leader]
    return groups.members(stamp) if record.get("group") else []


def wait_ended(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each process has ended (gone, or a zombie nobody reaps); return those still running."""
    deadline = time.monotonic() + timeout
    while True:
        running = [p for p in processes if _runs(p)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.02)


def _runs(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(record: dict[str, Any], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if record.get("group"):
            os.killpg(record["pid"], sig)
        else:
            os.kill(record["pid"], sig)


def _remove(what: str, directory: Path) -> Stopped | None:
    """Delete a directory a dead run recorded, if its ``owner`` stamp names a process that has ended."""
    if not directory.is_dir():
        return None
    owner = Stamp.read(directory / "owner")
    if owner is None:
        return Stopped(
            what, f"kept {directory}: it has no owner file, so it may not be the run's", "left alone"
        )
    if owner.alive():
        return Stopped(what, f"kept {directory}: its owner ({owner.describe()}) still runs", "left alone")
    shutil.rmtree(directory, ignore_errors=True)
    if directory.exists():
        return Stopped(what, f"could not remove all of {directory}", "left alone")
    return Stopped(what, f"removed {directory}", "removed")


# -- who listens where ------------------------------------------------------------------------


def listener(port: int) -> Stamp | None:
    """The process, among this one and its descendants, that listens on TCP ``port``; None if none.

    Recorded with a fault, it lets a later heal check that the port still belongs to the run's own
    process before sending it anything.
    """
    inodes = _listening(port)
    if not inodes:
        return None
    me = psutil.Process()
    with contextlib.suppress(psutil.Error):
        for process in [me, *me.children(recursive=True)]:
            if _sockets(process.pid) & inodes:
                return Stamp.of(process.pid)
    return None


def listens(stamp: Stamp, port: int) -> bool:
    """True if the process ``stamp`` still runs and still listens on TCP ``port``."""
    return stamp.alive() and bool(_sockets(stamp.pid) & _listening(port))


def serving(stamp: Stamp, port: int, *, within: float = 3.0) -> Literal["serving", "ended", "not serving"]:
    """Whether the process ``stamp`` still serves TCP ``port``: it listens on it, it has ended, or it
    runs but does not listen (still so after ``within`` seconds: a server shutting down closes its
    listener first, then takes a moment to exit)."""
    deadline = time.monotonic() + within
    while True:
        if not stamp.alive():
            return "ended"
        if listens(stamp, port):
            return "serving"
        if time.monotonic() > deadline:
            return "not serving"
        time.sleep(0.05)


def _listening(port: int) -> set[str]:
    """Inodes of the sockets listening on ``port``, from the kernel's TCP tables."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                # fields: sl, local address (hex ip:port), remote, state (0A = LISTEN), …, inode (9th)
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _sockets(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes
