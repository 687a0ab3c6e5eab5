"""JUnit XML: one test suite per run (the experiment), one test case per invariant.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) show a violated
invariant as a failed test with its summary and first examples (each test case
says the invariant's promise, in a ``promise`` property and first in its text), an invariant
that could not be checked as an errored test, a run that broke before any
invariant was checked as one errored test case named ``run``, and the
experiment's coverage requirements as a test case named ``coverage`` (errored
when the run did not exercise what it requires).
"""

from __future__ import annotations

import os
import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paychaos._results import NOT_EXERCISED
from paychaos._results_model import Results
from paychaos.report._text import verdict_summary, verdict_text
from paychaos.report._words import checked, currency_of, promise
from paychaos.rundir import RunDir

# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def write_junit(results: Results | dict[str, Any], path: Path, *, report: Path | str | None = None) -> Path:
    """Write ``results`` (results.json, as a model or as read) as JUnit XML to ``path``; return ``path``.

    ``report`` is the HTML report to point readers to (default: report.html beside ``path``).
    """
    if not isinstance(results, Results):
        results = Results.model_validate(results)
    report_path = str(report if report is not None else RunDir(Path(path).parent).report)
    name = results.experiment.name or results.run_id
    classname = f"paychaos.{name}"
    seconds = max(0.0, results.ended_at - results.started_at)

    cases: list[ET.Element] = []
    failures = errors = 0
    status = results.status
    if status in ("error", "interrupted"):
        case = ET.Element("testcase", classname=classname, name="run", time=f"{seconds:.3f}")
        message = results.error or f"the run ended with status {status}"
        error = ET.SubElement(case, "error", message=_clean(message), type=status)
        error.text = _clean(_run_text(results, report_path))
        cases.append(case)
        errors += 1
    currency = currency_of({"target": results.target.model_dump(mode="json")})
    for record in results.invariants:
        verdict = record.model_dump(mode="json")
        case = ET.Element("testcase", classname=classname, name=_clean(record.invariant), time="0")
        said = promise(record.invariant)
        if said:
            ET.SubElement(ET.SubElement(case, "properties"), "property", name="promise", value=_clean(said))
        summary = verdict_summary(verdict)
        first = f"promise: {said}\n" if said else ""
        if record.status == "violated":
            failure = ET.SubElement(case, "failure", message=_clean(summary), type="violated")
            failure.text = _clean(first + verdict_text(verdict, report=report_path, currency=currency))
            failures += 1
        elif record.status == "could_not_check":
            error = ET.SubElement(case, "error", message=_clean(summary), type="could_not_check")
            error.text = _clean(first + verdict_text(verdict, report=report_path, currency=currency))
            errors += 1
        else:
            out = ET.SubElement(case, "system-out")
            converged = record.converged_after
            line = f"holds, {checked(verdict)}" if checked(verdict) else summary
            line += f"; converged {converged:g}s after the heal" if converged else ""
            out.text = _clean(first + line)
        cases.append(case)

    skipped = 0
    for name, why in results.not_checked.items():
        # A default invariant the run did not check: shown as skipped, so no dashboard counts it held.
        case = ET.Element("testcase", classname=classname, name=_clean(name), time="0")
        ET.SubElement(case, "skipped", message=_clean(f"not checked: {why}"))
        cases.append(case)
        skipped += 1

    required = [c for c in results.coverage if c.required is not None]
    if required:
        # A run that never took the paths the experiment requires is no pass, even if every invariant held.
        case = ET.Element("testcase", classname=classname, name="coverage", time="0")
        lines = [f"{c.name} = {'could not count' if c.value is None else c.value}, "
                 f"required >= {c.required}: {'met' if c.met else NOT_EXERCISED.upper()}"
                 for c in required]  # fmt: skip
        short = [c for c in required if not c.met]
        if short:
            message = results.error or f"did not exercise: {', '.join(c.name for c in short)}"
            error = ET.SubElement(case, "error", message=_clean(message), type="not_exercised")
            error.text = _clean("\n".join([*lines, f"report: {report_path}"]))
            errors += 1
        else:
            ET.SubElement(case, "system-out").text = _clean("\n".join(lines))
        cases.append(case)

    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors)}
    root = ET.Element("testsuites", {"name": "paychaos", **counts, "skipped": str(skipped),
                                     "time": f"{seconds:.3f}"})  # fmt: skip
    suite = ET.SubElement(root, "testsuite", {
        "name": _clean(name), **counts, "skipped": str(skipped), "time": f"{seconds:.3f}",
        "timestamp": _timestamp(results.started_at), "hostname": _clean(socket.gethostname()),
    })  # fmt: skip
    properties = ET.SubElement(suite, "properties")
    for key, value in _properties(results, report_path):
        ET.SubElement(properties, "property", name=key, value=_clean(value))
    suite.extend(cases)
    ET.indent(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    ET.ElementTree(root).write(scratch, encoding="utf-8", xml_declaration=True)
    os.replace(scratch, path)
    return path


def _properties(results: Results, report: str) -> list[tuple[str, str]]:
    experiment, target = results.experiment, results.target
    props: list[tuple[str, object]] = [
        ("run_id", results.run_id),
        ("status", results.status),
        ("verdict", results.verdict),
        ("exit_code", results.exit_code),
        ("report", report),
        ("command", results.command),
        ("experiment_file", experiment.file),
        ("seed", experiment.seed),
        ("quick", experiment.quick),
        ("target", target.name),
        ("defects", ",".join(target.defects) or None),
        ("error", results.error),
        ("guard", results.guard.message if results.guard is not None else None),
    ]
    return [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in props if v is not None]


def _run_text(results: Results, report: str) -> str:
    lines = [f"status: {results.status}", f"verdict: {results.verdict}"]
    if results.error:
        lines.append(f"error: {results.error}")
    failed = [p.name for p in results.phases if p.status == "failed"]
    if failed:
        lines.append(f"failed in phase: {', '.join(failed)}")
    lines.append(f"report: {report}")
    return "\n".join(lines)


def _timestamp(epoch: Any) -> str:
    if epoch is None:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S")
