"""Cleaning up after runs that died: their faults, the processes they started, their database.

>>> for done in heal_leftovers(sorted(Path("reports").glob("*/"))):   # doctest: +SKIP
...     print(done.status, done.fault, done.outcome)

A run owns its folder while it runs (:class:`paychaos._ownership.RunLock`), so a
run that is still running is left alone: its faults are its own, and it heals
them when it ends. For a dead run, holding its lock while at it:

1. its unhealed faults are undone from the journal, paused processes first.
   A heal that can never be done (a config fault whose service is gone, or
   whose port another process serves now) is settled as ``heal_abandoned``,
   with the reason, instead of being tried again by every later heal. A toxic on
   a proxy of a Toxiproxy the user runs (a link's ``toxiproxy:``) is no process
   of the run's: it outlives the run, so its heal is always tried, whatever
   became of the run's own processes, until that Toxiproxy answers;
2. the proxies it made on an external Toxiproxy (named ``RUN_ID.link``) are deleted;
3. the Compose project it brought up is removed through the Docker engine
   (its containers' logs saved first), unless the run kept it up on purpose
   (``--keep``): that one is the user's to take down;
4. the processes it recorded (services, Toxiproxy, PostgreSQL) are stopped if
   they still run, and the embedded PostgreSQL's data directory is removed.

Each fault healed is marked in its journal, so a second heal does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from paychaos._ownership import (
    PROCESSES_NAME,
    claimed,
    describe_holder,
    note_compose,
    recorded_compose,
    stop_recorded,
)
from paychaos.errors import InfrastructureError
from paychaos.faults._client import ToxiproxyClient
from paychaos.faults._docker import stop_orphaned_backends
from paychaos.faults._faults import Abandoned
from paychaos.faults._journal import JOURNAL_NAME, FaultJournal, read_journal, unhealed
from paychaos.faults.kinds import fault_class
from paychaos.rundir import RunDir
from paychaos.system._compose import project_containers, remove_project

Status = Literal["healed", "abandoned", "stopped", "removed", "left alone", "failed"]


@dataclass(frozen=True)
class Healed:
    """One thing done for a run (or left alone): ``journal`` is where it was recorded."""

    journal: Path
    fault: str
    outcome: str
    status: Status = "healed"

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def heal_leftovers(paths: Iterable[Path], *, force: bool = False) -> list[Healed]:
    """Heal what dead runs left; ``paths`` are run folders (or their journals).

    A run still running is reported as left alone; with ``force`` its faults are healed too
    (and nothing else: its processes are its own). Orphaned Toxiproxy containers are stopped.
    """
    results: list[Healed] = []
    for path in paths:
        if not path.exists():
            continue
        run_dir, journal = (path, path / JOURNAL_NAME) if path.is_dir() else (path.parent, path)
        with claimed(run_dir) as owner:
            if owner is None:
                results += _heal_faults(journal, by="paychaos heal")
                results += _delete_external_proxies(run_dir, journal)
                results += _take_down_compose(run_dir)
                for done in stop_recorded(run_dir):
                    results.append(Healed(run_dir / PROCESSES_NAME, done.what, done.outcome, done.status))
            elif force:
                results += _heal_faults(journal, by="paychaos heal --force")
            else:
                results.append(
                    Healed(
                        run_dir,
                        "run",
                        f"still running ({describe_holder(owner)}): its faults are its own",
                        "left alone",
                    )
                )
    for container in stop_orphaned_backends():
        results.append(Healed(Path("-"), "orphaned Toxiproxy container", f"stopped {container}", "stopped"))
    return results


def _heal_faults(path: Path, *, by: str) -> list[Healed]:
    if not path.is_file():
        return []
    journal = FaultJournal(path)
    # Newest first, as a run heals; those that say so (paused processes) before anything else.
    records = sorted(reversed(unhealed(path)), key=lambda r: not _revert_first(r))
    results = []
    for record in records:
        label = f"{record['id']} {record['action']} on {record['target']}"
        try:
            outcome = fault_class(record["kind"]).revert(record.get("undo", {}))
        except Abandoned as exc:
            journal.write("heal_abandoned", id=record["id"], reason=str(exc), by=by)
            results.append(Healed(path, label, str(exc), "abandoned"))
            continue
        except Exception as exc:
            journal.write("heal_failed", id=record["id"], error=str(exc), by=by)
            results.append(Healed(path, label, str(exc), "failed"))
            continue
        journal.write("healed", id=record["id"], outcome=outcome, by=by)
        results.append(Healed(path, label, outcome, "healed"))
    return results


def _revert_first(record: dict[str, Any]) -> bool:
    try:
        return fault_class(record["kind"]).revert_first(record.get("undo", {}))
    except InfrastructureError:
        return False  # a kind no one registered: its heal fails, saying so, in its turn


def _take_down_compose(run_dir: Path) -> list[Healed]:
    """The Compose projects a dead run brought up and left: removed through the Docker engine (which
    needs neither the Compose command nor the file), each container's log saved into the run's logs."""
    results = []
    ledger = run_dir / PROCESSES_NAME
    for record in recorded_compose(run_dir):
        project = str(record["compose"])
        what = f"compose project {project}"
        try:
            if record.get("state") == "kept":
                if project_containers(project):
                    take_down = record.get("down") or f"docker compose -p {project} down"
                    said = f"kept up on purpose (--keep); take it down with: {take_down}"
                    results.append(Healed(ledger, what, said, "left alone"))
                else:
                    note_compose(run_dir, project, "down", by="paychaos heal")  # the user took it down
                continue
            removed = remove_project(project, log_dir=RunDir(run_dir).logs)
        except InfrastructureError as exc:
            results.append(Healed(ledger, what, f"cannot take it down: {exc}", "failed"))
            continue
        note_compose(run_dir, project, "down", by="paychaos heal")
        if removed:
            results.append(Healed(ledger, what, f"removed its containers {', '.join(removed)}", "stopped"))
    return results


def _delete_external_proxies(run_dir: Path, journal: Path) -> list[Healed]:
    """A dead run's proxies on a Toxiproxy the user runs: named after the run, so no one else's."""
    if not journal.is_file():
        return []
    apis = {
        event["undo"]["api"]
        for event in read_journal(journal)
        if event["event"] == "applied" and (event.get("undo") or {}).get("backend") == "external"
    }
    prefix = f"{run_dir.name}."
    results = []
    for api in sorted(apis):
        with ToxiproxyClient(api, timeout=5) as client:
            try:
                names = [name for name in client.proxies() if name.startswith(prefix)]
                for name in names:
                    client.delete_proxy(name)
            except InfrastructureError:
                continue  # its faults' heals, tried above, already say the backend does not answer
        if names:
            results.append(
                Healed(journal, f"Toxiproxy at {api}", f"deleted the run's proxies {', '.join(names)}")
            )
    return results
