"""JUnit XML: one test suite per run (the experiment), one test case per invariant.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) show a violated
invariant as a failed test with its summary and first examples, an invariant
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

from harness.report._text import verdict_summary, verdict_text
from harness.rundir import RunDir

# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def write_junit(results: dict[str, Any], path: Path, *, report: Path | str | None = None) -> Path:
    """Write ``results`` (a results.json structure) as JUnit XML to ``path``; return ``path``.

    ``report`` is the HTML report to point readers to (default: report.html beside ``path``).
    """
    report_path = str(report if report is not None else RunDir(Path(path).parent).report)
    experiment = results.get("experiment") or {}
    name = str(experiment.get("name") or results.get("run_id") or "paychaos")
    classname = f"paychaos.{name}"
    started, ended = results.get("started_at"), results.get("ended_at")
    seconds = max(0.0, float(ended) - float(started)) if started is not None and ended is not None else 0.0

    cases: list[ET.Element] = []
    failures = errors = 0
    status = results.get("status")
    if status in ("error", "interrupted"):
        case = ET.Element("testcase", classname=classname, name="run", time=f"{seconds:.3f}")
        message = results.get("error") or f"the run ended with status {status}"
        error = ET.SubElement(case, "error", message=_clean(message), type=str(status))
        error.text = _clean(_run_text(results, report_path))
        cases.append(case)
        errors += 1
    for verdict in results.get("invariants") or []:
        case = ET.Element(
            "testcase", classname=classname, name=_clean(verdict.get("invariant", "?")), time="0"
        )
        summary = verdict_summary(verdict)
        if verdict.get("status") == "violated":
            failure = ET.SubElement(case, "failure", message=_clean(summary), type="violated")
            failure.text = _clean(verdict_text(verdict, report=report_path))
            failures += 1
        elif verdict.get("status") == "could_not_check":
            error = ET.SubElement(case, "error", message=_clean(summary), type="could_not_check")
            error.text = _clean(verdict_text(verdict, report=report_path))
            errors += 1
        else:
            out = ET.SubElement(case, "system-out")
            converged = verdict.get("converged_after")
            out.text = _clean(summary + (f"; converged {converged:g}s after the heal" if converged else ""))
        cases.append(case)

    required = [c for c in results.get("coverage") or [] if c.get("required") is not None]
    if required:
        # A run that never took the paths the experiment requires is no pass, even if every invariant held.
        case = ET.Element("testcase", classname=classname, name="coverage", time="0")
        lines = [f"{c['name']} = {'could not count' if c.get('value') is None else c['value']}, "
                 f"required >= {c['required']}: {'met' if c.get('met') else 'NOT EXERCISED'}"
                 for c in required]  # fmt: skip
        short = [c for c in required if not c.get("met")]
        if short:
            message = results.get("error") or f"did not exercise: {', '.join(c['name'] for c in short)}"
            error = ET.SubElement(case, "error", message=_clean(message), type="not_exercised")
            error.text = _clean("\n".join([*lines, f"report: {report_path}"]))
            errors += 1
        else:
            ET.SubElement(case, "system-out").text = _clean("\n".join(lines))
        cases.append(case)

    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors)}
    root = ET.Element("testsuites", {"name": "paychaos", **counts, "time": f"{seconds:.3f}"})
    suite = ET.SubElement(root, "testsuite", {
        "name": _clean(name), **counts, "skipped": "0", "time": f"{seconds:.3f}",
        "timestamp": _timestamp(started), "hostname": _clean(socket.gethostname()),
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


def _properties(results: dict[str, Any], report: str) -> list[tuple[str, str]]:
    experiment = results.get("experiment") or {}
    target = results.get("target") or {}
    props = [
        ("run_id", results.get("run_id")),
        ("status", results.get("status")),
        ("verdict", results.get("verdict")),
        ("exit_code", results.get("exit_code")),
        ("report", report),
        ("command", results.get("command")),
        ("experiment_file", experiment.get("file")),
        ("seed", experiment.get("seed")),
        ("quick", experiment.get("quick")),
        ("target", target.get("name")),
        ("defects", ",".join(target.get("defects") or []) or None),
        ("error", results.get("error")),
        ("guard", (results.get("guard") or {}).get("message")),
    ]
    return [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in props if v is not None]


def _run_text(results: dict[str, Any], report: str) -> str:
    lines = [f"status: {results.get('status')}", f"verdict: {results.get('verdict')}"]
    if results.get("error"):
        lines.append(f"error: {results['error']}")
    failed = [p["name"] for p in results.get("phases") or [] if p.get("status") == "failed"]
    if failed:
        lines.append(f"failed in phase: {', '.join(failed)}")
    lines.append(f"report: {report}")
    return "\n".join(lines)


def _timestamp(epoch: Any) -> str:
    if epoch is None:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S")
