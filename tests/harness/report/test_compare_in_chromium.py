"""The report's comparison with a baseline, in a real headless Chromium: the section, its numbers, the
gate's marks and the link to the baseline's report (as test_html_in_chromium.py, whose rules it
follows: offline, clean, screenshots kept in reports/screenshots/ when that can be written)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paychaos.compare import baseline_record, check_gate, gate_reason, read_run
from paychaos.report import rebuild
from paychaos.report._compare import compare_section
from paychaos.report._run import load_run
from tests.harness.report.chromium import Chromium
from tests.harness.report.conftest import open_report

pytestmark = pytest.mark.integration


def _compared(sample_run: Callable[[str], Path]) -> tuple[Path, Path, dict[str, Any]]:
    """The double-debit sample run as compared with the hello sample as its baseline, held to a gate
    (p99 at most 2×, error rate at most +1 point) as a run writes it: violated in each phase's p99."""
    baseline, run = sample_run("passing-hello"), sample_run("failing-retry-new-key")
    results = json.loads((run / "results.json").read_text())
    slow, base = read_run(run), read_run(baseline)
    rows = [{"phase": f.phase, **f.as_json()} for f in slow.figures(slow.bounds) if f.phase != "all"]
    gated = check_gate(
        rows, base.figures(base.bounds), {"error_rate": 0.01, "p99": 2.0}, ["steady", "fault", "recovery"]
    )
    results["invariants"].append({
        "invariant": "slo", "status": "violated", "count": len(gated), "examples": gated,
        "reason": ", ".join(gate_reason(r) for r in gated), "checked": sum(r["operations"] for r in rows),
        "converged_after": None,
        "params": {"phases": ["steady", "fault", "recovery"], "max_error_rate": None, "p50": None, "p95": None,
                   "p99": None, "kind": None, "baseline": "../passing-hello",
                   "vs_baseline": {"p50": None, "p95": None, "p99": 2.0, "error_rate": 0.01}},
        "details": {"phases": rows},
    })  # fmt: skip
    results["baseline"] = baseline_record(run, results, baseline, auto=False)
    (run / "results.json").write_text(json.dumps(results))
    return run, baseline, results


def test_a_run_without_a_baseline_shows_no_comparison(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("passing-hello")
    assert compare_section(load_run(run)) == ""
    rebuild(run)
    assert 'id="baseline-section"' not in (run / "report.html").read_text()


def test_the_comparison_with_the_baseline_in_chromium(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run, baseline, results = _compared(sample_run)
    rebuild(run)
    rebuild(baseline)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-baseline-comparison.png")
    assert page.console_errors == []
    assert page.failed_requests == []
    assert page.requested_urls == [report.as_uri()]
    section = page.evaluate("""(() => {
      const s = document.querySelector("#baseline-section"), box = s.getBoundingClientRect();
      return {title: s.querySelector("h2").innerText, width: box.width, height: box.height,
              caption: s.querySelector(".caption").innerText, link: s.querySelector("#baseline-link").href,
              after: s.previousElementSibling.id};
    })()""")
    assert section["title"] == "Compared with the baseline"
    assert section["after"] == "slo-section"  # beside the service levels per phase
    assert section["width"] > 800, section
    assert section["height"] > 400, section
    assert section["link"] == (baseline / "report.html").as_uri()  # the baseline's own report, relative
    assert "a run of hello given as the baseline; its verdict: held." in section["caption"]
    assert "Each run is split into phases by its own faults." in section["caption"]
    assert "The slo invariant's gate (vs_baseline: error rate +1%, p99 2x; in steady, fault, recovery): " \
           "violated in 3 place(s), marked." in section["caption"]  # fmt: skip
    rows = page.evaluate("""Array.from(document.querySelectorAll("#baseline-comparison tbody tr")).map(tr => ({
      phase: tr.dataset.phase, metric: tr.dataset.metric, over: tr.dataset.over === "true",
      cells: Array.from(tr.cells).map(td => td.innerText.trim())}))""")
    assert [(r["phase"], r["metric"]) for r in rows[:6]] == [("steady", m) for m in (
        "operations", "throughput", "error_rate", "p50", "p95", "p99")]  # fmt: skip
    assert len(rows) == 4 * 6  # steady, fault, recovery, all
    fault = {r["metric"]: r for r in rows if r["phase"] == "fault"}
    assert fault["operations"]["cells"] == ["fault", "operations", "65", "75", "", ""]
    assert fault["p99"]["cells"] == ["p99", "321.6 ms", "1098.0 ms", "+776.4 ms (×3.41)", "≤ 643.2 ms (2x)"]
    assert fault["p99"]["over"]
    assert not fault["p50"]["over"]
    assert [r["phase"] for r in rows if r["over"]] == ["steady", "fault", "recovery"]
    marked = page.evaluate("""(() => {
      const td = document.querySelector('#baseline-comparison tr[data-phase="fault"][data-metric="p99"] td.over');
      const style = getComputedStyle(td);
      return [style.color, style.fontWeight];
    })()""")
    assert marked == ["rgb(207, 34, 46)", "700"]
    verdicts = page.evaluate("""Array.from(document.querySelectorAll("#baseline-verdicts tbody tr")).map(tr =>
      [tr.dataset.invariant, ...Array.from(tr.cells).slice(1).map(td => td.innerText.trim()),
       tr.dataset.differs === "true"])""")
    expected = {v["invariant"] for v in results["invariants"]} | {
        v["invariant"] for v in results["baseline"]["invariants"]}  # fmt: skip
    assert {v[0] for v in verdicts} == expected
    shown = {v[0]: v[1:] for v in verdicts}
    assert shown["exactly_once_debit"] == ["holds", "violated (64)", True]
    assert shown["eventual_refund"] == ["holds", "holds", False]
    assert shown["credit_limit"] == ["holds", "not checked", True]
    assert shown["slo"] == ["holds", "violated (3)", True]
