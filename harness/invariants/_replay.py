"""``paychaos verify``: a run's verdicts recomputed from its folder alone, long after its stack is gone.

>>> replay = replay_run(Path("reports/20261122-101500-hello"))  # doctest: +SKIP
>>> [(c.invariant, c.outcome) for c in replay.checks][:2]
[('exactly_once_debit', 'matches'), ('eventual_refund', 'matches')]
>>> replay.exit_code
<ExitCode.HELD: 0>

The evidence the run saved (:mod:`paychaos.invariants._saved`) is loaded into a
scratch database on an embedded PostgreSQL, and every invariant the run
checked is checked again by the same code as in a run, over a store that never
refreshes: the tables the target could not provide stay unprovided, with the
run's reasons. An invariant that reads one of the target's own databases
(``sql`` with ``database:``, or a ``python`` one that queries it) is *not
recomputable*: those databases went with the stack.

It compares each verdict's status and count, and leaves ``violations.csv`` and
``violations.jsonl`` as the run wrote them: they were streamed from the snapshot
the evidence saves, so a verdict whose count matches lists the same violators.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from paychaos._evidence_tables import RUN_TABLES, TABLES
from paychaos._results import exit_code, verdict_word
from paychaos.errors import ExitCode, InfrastructureError, InvalidInput
from paychaos.invariants._base import (
    DB_ERRORS,
    REGISTRY,
    Evidence,
    EvidenceUnavailable,
    Verdict,
    bounded_connect,
    close_quietly,
)
from paychaos.invariants._checking import Check, verify
from paychaos.invariants._saved import FORMAT, CheckedInvariant, Manifest, sha256
from paychaos.invariants._store import EvidenceStore, Limits, create_tables, index_and_analyze
from paychaos.postgres import EmbeddedPostgres
from paychaos.rundir import RunDir
from paychaos.system import Target

NOT_RECOMPUTABLE = "not recomputable"
_DATABASE = "paychaos_evidence"
Outcome = Literal["matches", "DIFFERS", "not recomputable"]


@dataclass(frozen=True)
class Recomputed:
    """One invariant: the verdict the run recorded, and the one recomputed from the folder."""

    invariant: str  # as the run's verdict names it
    recorded_status: str
    recorded_count: int
    verdict: Verdict

    @property
    def outcome(self) -> Outcome:
        if self.verdict.status == "could_not_check" and NOT_RECOMPUTABLE in self.verdict.reason:
            return "not recomputable"
        same = (self.verdict.status, self.verdict.count) == (self.recorded_status, self.recorded_count)
        return "matches" if same else "DIFFERS"

    @property
    def judged(self) -> dict[str, Any]:
        """The verdict that counts towards the exit code: the run's own where it cannot be recomputed."""
        if self.outcome == "not recomputable":
            return {"status": self.recorded_status, "count": self.recorded_count}
        return self.verdict.as_json()

    def as_json(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "outcome": self.outcome,
                "recorded": {"status": self.recorded_status, "count": self.recorded_count},
                "recomputed": self.verdict.as_json()}  # fmt: skip


@dataclass
class Replay:
    """What ``paychaos verify`` found."""

    run_dir: RunDir
    manifest: Manifest
    recorded_from: str  # where the recorded verdicts come from: results.json, or the manifest
    checks: list[Recomputed] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # evidence not as the run saved it
    unmatched: list[str] = field(default_factory=list)  # recorded verdicts with no invariant to match

    @property
    def differences(self) -> list[str]:
        """Every way the folder fails to reproduce the run's verdicts, one line each; [] when it does."""
        said = [
            f"{c.invariant}: recorded {_said(c.recorded_status, c.recorded_count)}, "
            f"recomputed {_said(c.verdict.status, c.verdict.count)}"
            for c in self.checks
            if c.outcome == "DIFFERS"
        ]
        return said + self.unmatched + self.changed

    @property
    def mismatch(self) -> str | None:
        """What makes the folder fail to reproduce the run's verdicts, as one message; None if nothing."""
        changed = self.changed
        differ = [d for d in self.differences if d not in changed]
        said = [f"verdicts differ from the run's own: {'; '.join(differ)}"] if differ else []
        said += [f"the evidence is not as the run saved it: {'; '.join(changed)}"] if changed else []
        return f"{'. '.join(said)}. A harness bug, or the folder was changed after the run" if said else None

    @property
    def verdict_code(self) -> ExitCode:
        """The exit code the recomputed verdicts imply, with the coverage the run counted."""
        expected = len(self.manifest.invariants)
        return exit_code(
            "completed", [c.judged for c in self.checks], self.manifest.coverage, expected=expected
        )

    @property
    def exit_code(self) -> ExitCode:
        """3 when the folder does not reproduce the run's verdicts; else what the verdicts imply."""
        return ExitCode.INFRASTRUCTURE if self.differences else self.verdict_code

    def as_json(self) -> dict[str, Any]:
        code = self.verdict_code
        return {
            "run_id": self.manifest.run_id,
            "recorded_from": self.recorded_from,
            "verdict": verdict_word(code, self.manifest.coverage),
            "exit_code": int(self.exit_code),
            "differences": self.differences,
            "invariants": [c.as_json() for c in self.checks],
            "coverage": self.manifest.coverage,
        }


class FrozenStore(EvidenceStore):
    """The evidence a run saved, loaded into a scratch database: ``refresh`` keeps it as it is."""

    def refresh(self) -> None:
        """Nothing to refresh from: the target is gone, and what the run saw is the evidence."""


def replay_run(run_dir: Path, *, limits: Limits | None = None) -> Replay:
    """Recompute every verdict of the run in ``run_dir`` from its ``evidence/`` folder.

    Raises InvalidInput when the folder holds no evidence (or none this paychaos reads), and
    InfrastructureError when the evidence cannot be loaded (damaged) or PostgreSQL does not start.
    """
    limits = limits or Limits()
    folder = RunDir(run_dir)
    manifest = read_manifest(folder)
    recorded_from, recorded, unmatched = _recorded(folder, manifest)
    replay = Replay(folder, manifest, recorded_from, changed=_changed(folder, manifest), unmatched=unmatched)
    unchecked = {n: v for n, i in enumerate(manifest.invariants) if (v := _uncheckable(i)) is not None}
    target = _target(folder, manifest)
    with EmbeddedPostgres() as server:
        server.create_databases([_DATABASE])
        dsn = server.dsn(_DATABASE)
        _load(dsn, folder, manifest, limits)
        store = FrozenStore(
            target, evidence_dsn=dsn, source_dsn=_gone, service_url=_gone, run_dir=folder.path, limits=limits
        )
        store.problems, store.failure = dict(manifest.problems), manifest.failure
        evidence = Evidence(store, manifest.window, _gone)
        checks = [Check(i.name, i.params) for n, i in enumerate(manifest.invariants) if n not in unchecked]
        verdicts = iter(verify(checks, evidence))
        for n, (spec, (status, count)) in enumerate(zip(manifest.invariants, recorded, strict=True)):
            verdict = unchecked[n] if n in unchecked else next(verdicts)
            replay.checks.append(Recomputed(spec.invariant, status, count, verdict))
    return replay


def read_manifest(folder: RunDir) -> Manifest:
    """The manifest of a run's saved evidence; InvalidInput, saying why, when there is none to read."""
    if not folder.path.is_dir():
        raise InvalidInput(f"{folder}: no such run folder")
    if not folder.manifest.is_file():
        raise InvalidInput(f"{folder}: nothing to check again: {_no_evidence(folder)}")
    try:
        data = json.loads(folder.manifest.read_text(encoding="utf-8"))
        version = data.get("format") if isinstance(data, dict) else None
        if version != FORMAT:
            raise InvalidInput(
                f"{folder.manifest}: evidence format {version!r}; this paychaos reads format {FORMAT} "
                "(verify the run with the paychaos version that made it)"
            )
        return Manifest.model_validate(data)
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidInput(f"{folder.manifest}: unreadable ({exc}); the evidence folder is damaged") from exc


def _target(folder: RunDir, manifest: Manifest) -> Target:
    """The target as the run had it (python invariants' processes are given it)."""
    try:
        target = Target.model_validate(manifest.target)
    except ValueError as exc:
        raise InvalidInput(f"{folder.manifest}: its target is not one this paychaos reads ({exc})") from exc
    target._source = Path(manifest.target_source)
    return target


def _no_evidence(folder: RunDir) -> str:
    if folder.evidence_error.is_file():
        why = folder.evidence_error.read_text(encoding="utf-8", errors="replace").strip()
        return f"the run could not save its evidence ({why})"
    if folder.evidence_partial.is_dir():
        return f"the run ended while saving its evidence ({RunDir.EVIDENCE_PARTIAL}/ is incomplete)"
    if folder.evidence.is_dir():
        return f"{RunDir.EVIDENCE}/ has no {RunDir.MANIFEST}: the evidence folder is damaged"
    try:
        command = folder.read_results().get("command") or "paychaos run EXPERIMENT"
    except (OSError, ValueError):
        command = "paychaos run EXPERIMENT"
    return (f"no {RunDir.EVIDENCE}/ folder (the run ended before its verify phase, or a paychaos that "
            f"saved no evidence made it); a new run can be verified: {command}")  # fmt: skip


def _recorded(folder: RunDir, manifest: Manifest) -> tuple[str, list[tuple[str, int]], list[str]]:
    """The run's own verdicts, (status, count) in the manifest's order: results.json's, which is what
    CI acted on, or the manifest's when the run never wrote it; and those with no invariant to match."""
    try:
        verdicts = folder.read_results().get("invariants")
    except (OSError, ValueError):
        verdicts = None
    if not isinstance(verdicts, list):
        return f"{RunDir.EVIDENCE}/{RunDir.MANIFEST}", [(i.status, i.count) for i in manifest.invariants], []
    recorded = [_status_count(v) for v in verdicts]
    missing = [("missing", 0)] * (len(manifest.invariants) - len(recorded))
    unmatched = [f"{RunDir.RESULTS} has a verdict the evidence has no invariant for: {v}"
                 for v in verdicts[len(manifest.invariants):]]  # fmt: skip
    return RunDir.RESULTS, (recorded + missing)[: len(manifest.invariants)], unmatched


def _status_count(verdict: object) -> tuple[str, int]:
    if not isinstance(verdict, Mapping):
        return "missing", 0
    count = verdict.get("count")
    return str(verdict.get("status")), count if isinstance(count, int) else 0


def _changed(folder: RunDir, manifest: Manifest) -> list[str]:
    changed = []
    for name, saved in manifest.tables.items():
        path = folder.evidence_table(name)
        if not path.is_file():
            raise InvalidInput(f"{path}: missing; the evidence folder is damaged")
        if sha256(path) != saved.sha256:
            changed.append(f"{RunDir.EVIDENCE}/{path.name} changed after the run (its sha256 is not the "
                           "manifest's)")  # fmt: skip
    return changed


def _load(dsn: str, folder: RunDir, manifest: Manifest, limits: Limits) -> None:
    try:
        asyncio.run(asyncio.wait_for(_load_tables(dsn, folder, manifest, limits), limits.refresh))
    except DB_ERRORS as exc:
        raise InfrastructureError(
            f"{folder.evidence}: the saved evidence could not be loaded ({type(exc).__name__}: {exc}); "
            "it is damaged, or was changed after the run"
        ) from exc


async def _load_tables(dsn: str, folder: RunDir, manifest: Manifest, limits: Limits) -> None:
    conn = await bounded_connect(dsn, limits.statement, connect_timeout=limits.connect)
    try:
        await create_tables(conn)
        schema = {**TABLES, **RUN_TABLES}
        for name in manifest.tables:
            if name not in schema:
                raise InvalidInput(f"{folder.manifest}: unknown evidence table {name!r}")
            path = folder.evidence_table(name)
            header = _header(path)
            known = [c for c, _, _ in schema[name]]
            if not header or any(c not in known for c in header):
                raise InfrastructureError(
                    f"{path}: columns {header} are not those of the {name} table ({', '.join(known)}); "
                    "the evidence is damaged, or was changed after the run"
                )
            await conn.copy_to_table(name, source=_chunks(path), columns=header, format="csv", header=True)
        await index_and_analyze(conn)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InfrastructureError(f"{folder.evidence}: cannot read the saved evidence: {exc}") from exc
    finally:
        await close_quietly(conn)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with gzip.open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            yield chunk


def _header(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        return next(csv.reader(io.StringIO(text.readline())), [])


def _gone(database: str) -> str:
    raise EvidenceUnavailable(
        f"{NOT_RECOMPUTABLE}: it reads the target's database {database!r}, which went with the run's "
        "stack (verify reads only the evidence the run saved)"
    )


def _uncheckable(spec: CheckedInvariant) -> Verdict | None:
    """Why this paychaos cannot check ``spec`` as the manifest gives it; None when it can."""
    definition = REGISTRY.get(spec.name)
    if definition is None:
        reason = f"this paychaos has no invariant {spec.name!r} (it has {', '.join(sorted(REGISTRY))})"
    else:
        try:
            definition.params.model_validate(spec.params)
            return None
        except ValueError as exc:  # pydantic's ValidationError
            reason = f"the manifest's parameters of {spec.name!r} are not valid: {exc}"
    return Verdict(spec.invariant, "could_not_check", reason=reason, params=spec.params)


def _said(status: str, count: int) -> str:
    return f"{status} ({count})" if status == "violated" else status
