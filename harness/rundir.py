"""A run folder's layout: every file a run writes, named in one place, with readers for those that have one.

>>> run = RunDir("reports/20261122-101500-hello")
>>> run.evidence_table("debits")
PosixPath('reports/20261122-101500-hello/evidence/debits.csv.gz')
>>> run.read_results()["verdict"]  # doctest: +SKIP
'held'
>>> run.read_results_model().verdict  # doctest: +SKIP
'held'

This module imports nothing of the harness when it is loaded (the readers
import theirs when called), so every part of paychaos can name a run's files
through it, the fault journal's and the ownership ledger's writers included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paychaos._results_model import Results


class RunDir:
    """One run's folder, ``<report.out>/<run-id>/``.

    The class attributes are the names (a file's or a folder's, relative to the run folder);
    the properties are the paths in this run.
    """

    EXPERIMENT = "experiment.yaml"  # the experiment as it was run
    LOAD_SPEC = "load.json"  # what the Locust process was told to do
    LOCUST_LOG = "locust.log"
    HISTORY = "history"  # every client operation: one JSONL file per Locust process
    FAULTS = "faults.jsonl"  # the fault journal (paychaos.faults.JOURNAL_NAME)
    HTTP_FAULTS = "http-faults.jsonl"  # every request an HTTP fault acted on, one line each
    PROCESSES = "processes.jsonl"  # the processes the run started, for cleanup after a crash
    LOCK = ".lock"  # held while the run runs
    LOGS = "logs"  # each service's log, PostgreSQL's, the proxy's, python invariants'
    RESULTS = "results.json"
    REPORT = "report.html"
    JUNIT = "junit.xml"
    HARNESS_ERROR = "harness-error.txt"  # the traceback of an internal error
    EVIDENCE = "evidence"  # every evidence table as the verify phase read it, and its manifest
    EVIDENCE_PARTIAL = "evidence.partial"  # evidence being written; renamed to EVIDENCE when complete
    EVIDENCE_ERROR = "evidence-error.txt"  # why the evidence could not be saved
    MANIFEST = "manifest.json"  # in EVIDENCE: what was saved, and what was checked over it
    TABLE_SUFFIX = ".csv.gz"  # an evidence table: CSV with a header line, gzipped
    VIOLATIONS_CSV = "violations.csv"  # every violator of every violated invariant, with its remedy
    VIOLATIONS_JSONL = "violations.jsonl"  # the same, one JSON object a line, with its evidence
    VIOLATIONS_ERROR = "violations-error.txt"  # which violators the files lack, and why

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def run_id(self) -> str:
        return self.path.name

    # -- paths ---------------------------------------------------------------------------
    @property
    def experiment(self) -> Path:
        return self.path / self.EXPERIMENT

    @property
    def load_spec(self) -> Path:
        return self.path / self.LOAD_SPEC

    @property
    def locust_log(self) -> Path:
        return self.path / self.LOCUST_LOG

    @property
    def history(self) -> Path:
        return self.path / self.HISTORY

    @property
    def faults(self) -> Path:
        return self.path / self.FAULTS

    @property
    def http_faults(self) -> Path:
        return self.path / self.HTTP_FAULTS

    @property
    def processes(self) -> Path:
        return self.path / self.PROCESSES

    @property
    def lock(self) -> Path:
        return self.path / self.LOCK

    @property
    def logs(self) -> Path:
        return self.path / self.LOGS

    @property
    def results(self) -> Path:
        return self.path / self.RESULTS

    @property
    def report(self) -> Path:
        return self.path / self.REPORT

    @property
    def junit(self) -> Path:
        return self.path / self.JUNIT

    @property
    def harness_error(self) -> Path:
        return self.path / self.HARNESS_ERROR

    @property
    def evidence(self) -> Path:
        return self.path / self.EVIDENCE

    @property
    def evidence_partial(self) -> Path:
        return self.path / self.EVIDENCE_PARTIAL

    @property
    def evidence_error(self) -> Path:
        return self.path / self.EVIDENCE_ERROR

    @property
    def manifest(self) -> Path:
        return self.evidence / self.MANIFEST

    @property
    def violations_csv(self) -> Path:
        return self.path / self.VIOLATIONS_CSV

    @property
    def violations_jsonl(self) -> Path:
        return self.path / self.VIOLATIONS_JSONL

    @property
    def violations_error(self) -> Path:
        return self.path / self.VIOLATIONS_ERROR

    def evidence_table(self, table: str) -> Path:
        """Where the evidence table ``table`` is saved."""
        return self.evidence / f"{table}{self.TABLE_SUFFIX}"

    # -- readers -------------------------------------------------------------------------
    def read_results(self) -> dict[str, Any]:
        """results.json as a dict. Raises OSError (FileNotFoundError when the run never wrote it),
        or ValueError when it is not JSON (json.JSONDecodeError) or not a JSON object."""
        data = json.loads(self.results.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{self.results}: not a JSON object")
        return data

    def read_results_model(self) -> Results:
        """results.json as a :class:`~paychaos._results_model.Results`. Raises as :meth:`read_results`
        does, and pydantic's ValidationError (a ValueError) when it does not match the schema."""
        from paychaos._results_model import Results

        return Results.model_validate(self.read_results())

    def read_journal(self) -> list[dict[str, Any]]:
        """Every event of the fault journal ([] when the run applied no fault, or never got that far)."""
        from paychaos.faults import read_journal

        return read_journal(self.faults) if self.faults.is_file() else []

    def read_history(self) -> Iterator[dict[str, Any]]:
        """Every client operation of the history (none when the load never started)."""
        from paychaos.load import read_history

        if self.history.is_dir():
            yield from read_history(self.history)
