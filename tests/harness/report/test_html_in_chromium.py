"""The report in a real headless Chromium, offline: it loads cleanly, every chart draws, the verdicts read right.

Each page's screenshot is kept in the test's tmp dir and copied to reports/screenshots/ (git-ignored)
when that folder can be written. Without /usr/bin/chromium (Debian's ``chromium`` package) these tests
skip and say so; CI installs it and sets PAYCHAOS_REQUIRE_CHROMIUM=1, which turns the skip into a failure.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paychaos.invariants import REGISTRY
from paychaos.report import rebuild
from tests.harness.report.chromium import Chromium, Page
from tests.harness.report.conftest import (
    as_run_now,
    assert_clean,
    make_interrupted_while_settling,
    make_not_exercised,
    open_report,
    sample_results,
)
from tests.harness.report.test_open_loop import _open_loop_run

pytestmark = pytest.mark.integration

# Per chart div: traces plotly.js drew (scatter and bar groups), line paths with points, bars, shapes.
CHARTS = """
Array.from(document.querySelectorAll(".chart")).map(div => ({
  id: div.id,
  traces: (div.data || []).length,
  drawn: div.querySelectorAll(".scatterlayer .trace, .barlayer .trace").length,
  lines: Array.from(div.querySelectorAll(".scatterlayer path.js-line"))
    .filter(p => (p.getAttribute("d") || "").length > 20).length,
  points: div.querySelectorAll(".scatterlayer path.point").length,
  bars: Array.from(div.querySelectorAll(".barlayer path"))
    .filter(p => (p.getAttribute("d") || "M0,0Z") !== "M0,0Z").length,
  shapes: div.querySelectorAll(".shapelayer path").length,
  width: div.getBoundingClientRect().width,
  height: div.getBoundingClientRect().height,
}))
"""
VERDICTS = """
Array.from(document.querySelectorAll("#invariants tbody tr[data-invariant]")).map(tr => [
  tr.querySelector("td .name").innerText.trim(), tr.querySelector(".badge").innerText.trim(), tr.dataset.status])
"""


def _assert_charts_drawn(page: Page, faults: int, *, convergence: bool = False) -> list[dict[str, Any]]:
    charts: list[dict[str, Any]] = page.evaluate(CHARTS)
    assert [c["id"] for c in charts] == ["timeline", *(["convergence"] if convergence else [])]
    for chart in charts:
        assert chart["traces"] > 0
        assert chart["drawn"] == chart["traces"], chart  # every trace became SVG
        assert chart["lines"] + chart["points"] > 0, chart
        assert chart["width"] > 800, chart
    timeline = charts[0]
    assert timeline["lines"] > 0, timeline
    assert timeline["bars"] > 0, timeline
    assert timeline["shapes"] >= 2 * faults, timeline  # each fault's window and its edge
    assert timeline["height"] > 600, timeline
    return charts


@pytest.mark.parametrize("name", ["passing-hello", "failing-retry-new-key", "failing-drop-on-overload"])
def test_sample_reports_in_chromium(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    run = sample_run(name)
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / f"report-{name}.png")
    assert_clean(page, report)
    results = sample_results(name)
    _assert_charts_drawn(page, faults=len(results["faults"]))
    words = {"holds": "holds", "violated": "violated", "could_not_check": "could not check"}
    expected = [[v["invariant"], words[v["status"]], v["status"]] for v in results["invariants"]]
    assert page.evaluate(VERDICTS) == expected
    verdict = page.evaluate("document.querySelector('#verdict .word').innerText")
    assert verdict == {"held": "HELD", "violated": "VIOLATED"}[results["verdict"]]
    colour = page.evaluate("getComputedStyle(document.querySelector('#verdict .word')).backgroundColor")
    assert colour == {"held": "rgb(26, 127, 55)", "violated": "rgb(207, 34, 46)"}[results["verdict"]]
    violated = [v["invariant"] for v in results["invariants"] if v["status"] == "violated"]
    shown = page.evaluate("Array.from(document.querySelectorAll('#violations h3')).map(h => h.innerText)")
    assert [h.removesuffix(" violated").strip() for h in shown] == violated


def test_the_double_debit_evidence_is_readable(browser: Chromium, sample_run: Callable[[str], Path],
                                               tmp_path: Path) -> None:  # fmt: skip
    run = sample_run("failing-retry-new-key")
    as_run_now(run)
    rebuild(run)
    page = open_report(browser, run / "report.html", tmp_path / "report-double-debit-evidence.png")
    ledger = page.evaluate("""
      Array.from(document.querySelectorAll("#invariant-exactly-once-debit .example")[0]
        .querySelectorAll("table.records")[0].querySelectorAll("tbody tr"))
        .map(tr => Array.from(tr.cells).map(td => td.innerText))
    """)
    first = sample_results("failing-retry-new-key")["invariants"][0]["examples"][0]["ledger"]
    assert [row[0] for row in ledger] == [posting["key"] for posting in first]
    assert [row[3] for row in ledger] == [f"{posting['amount'] / 100:,.2f} CNY" for posting in first]
    assert ledger[0][3] == "387.25 CNY"
    assert ledger[0][4] == "2026-11-22T01:10:57.603299+00:00 (+2.437 s)"


def test_a_rebuilt_interrupted_run_in_chromium(browser: Chromium, sample_run: Callable[[str], Path],
                                               tmp_path: Path) -> None:  # fmt: skip
    run = sample_run("failing-drop-on-overload")
    (run / "results.json").unlink()
    results = rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-rebuilt-interrupted.png")
    assert_clean(page, report)
    _assert_charts_drawn(page, faults=len(results["faults"]))
    assert page.evaluate("document.querySelector('#verdict .word').innerText") == "INTERRUPTED"
    assert "results.json is missing" in page.evaluate("document.querySelector('#notes').innerText")
    assert page.evaluate(VERDICTS) == []
    assert page.evaluate("document.querySelector('#invariants tbody').innerText").startswith(
        "No invariant was checked"
    )


def test_a_run_that_failed_before_the_load_has_no_chart_and_no_error(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("passing-hello")
    results = json.loads((run / "results.json").read_text())
    results.update(status="error", verdict="error", exit_code=3, invariants=[], faults=[], load_started_at=None,
                   error="steady state not reached: bank is not healthy")  # fmt: skip
    (run / "results.json").write_text(json.dumps(results))
    shutil.rmtree(run / "history")
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-error-before-load.png")
    assert_clean(page, report)
    assert page.evaluate(CHARTS) == []
    assert page.evaluate("document.querySelector('#verdict .word').innerText") == "ERROR"


def test_a_run_whose_fault_never_acted_is_flagged_beside_the_verdict_in_chromium(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("passing-hello")
    make_not_exercised(run)
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-not-exercised.png")
    assert_clean(page, report)
    _assert_charts_drawn(page, faults=1)
    assert page.evaluate("document.querySelector('#verdict .word').innerText") == "NOT EXERCISED"
    flag = page.evaluate("""(() => {
      const flag = document.querySelector("#not-exercised"), verdict = document.querySelector("#verdict");
      const box = flag.getBoundingClientRect(), style = getComputedStyle(flag);
      return {after: flag.previousElementSibling.id, gap: box.top - verdict.getBoundingClientRect().bottom,
              top: box.top, width: box.width, height: box.height, title: flag.querySelector("h2").innerText,
              items: Array.from(flag.querySelectorAll("li")).map(li => li.innerText),
              border: style.borderTopColor, background: style.backgroundColor};
    })()""")
    assert flag["after"] == "verdict"  # right under the verdict, above the story and the invariants
    assert 0 <= flag["gap"] < 30, flag
    assert flag["top"] + flag["height"] < 900, flag  # on the first screen, whole
    assert flag["width"] > 800, flag
    assert flag["title"] == "⚠ Not exercised: this run is no pass"
    assert flag["items"][0].startswith("fault f1 (gateway_bank: toxic=latency")
    assert "never acted: 0 time(s), at least 1 required" in flag["items"][0]
    assert flag["items"][1].startswith("voids = 0, required ≥ 1")
    assert (flag["border"], flag["background"]) == ("rgb(154, 103, 0)", "rgb(255, 248, 197)")
    acted = page.evaluate(
        "document.querySelector('#fault-journal tr[data-fault=\"f1\"] td:last-child').innerText"
    )
    assert acted == "0 time(s) never acted"
    labels = page.evaluate(
        "Array.from(document.querySelectorAll('#timeline .annotation-text')).map(a => a.textContent)"
    )
    assert any(label.endswith("(never acted)") for label in labels), labels
    assert {row[2] for row in page.evaluate(VERDICTS)} == {"holds"}


# -- the plain words and the readable timeline, as a reader sees them ---------------------------------

# What the page says, as rendered: each invariant row's cells, the note beside the chart, the charts'
# traces as drawn (name, length of the drawn line), the latency axis's tick labels, the legend, and the
# boxes of the labels above the timeline.
SAID = """(() => {
  const text = el => el ? el.innerText.trim() : null;
  const traces = id => Array.from(document.querySelectorAll(`#${id} .scatterlayer .trace`)).map(g => [
    g.__data__[0].trace.name, (g.querySelector("path.js-line")?.getAttribute("d") || "").length]);
  const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {
    rows: Array.from(document.querySelectorAll("#invariants tbody tr[data-invariant]")).map(tr => ({
      name: text(tr.querySelector(".name")), promise: text(tr.querySelector(".promise")),
      checked: text(tr.querySelector("td.checked")), converged: text(tr.querySelector("td.converged"))})),
    promises: Array.from(document.querySelectorAll("#violations p.promise")).map(text),
    note: text(document.querySelector("#client-saw-success")),
    noteBox: (n => n && box(n))(document.querySelector("#client-saw-success")),
    chartBox: (n => n && box(n))(document.querySelector("#timeline")),
    timeline: traces("timeline"),
    convergence: traces("convergence"),
    ticks: Array.from(document.querySelectorAll("#timeline .yaxislayer-above .y4tick text"))
      .map(t => t.textContent),
    userTicks: Array.from(document.querySelectorAll("#timeline .y6tick text"))
      .map(t => t.textContent),
    legend: Array.from(document.querySelectorAll("#timeline .legend .legendtext")).map(t => t.textContent),
    labels: Array.from(document.querySelectorAll("#timeline .annotation"))
      .filter(a => /^[\u25b8\u26a1]/.test(a.textContent) && a.getBoundingClientRect().width > 0)
      .map(a => [a.textContent, ...box(a.querySelector(".annotation-text") || a)]),
  };
})()"""
_TICK = re.compile(r"^\d+(\.\d+)? (ms|s)$")


# The full-page screenshot resizes the window for a moment, and the charts (responsive) draw again.
DRAWN_AGAIN = """Array.from(document.querySelectorAll("#timeline .annotation")).some(a =>
  a.textContent.startsWith("\u26a1") && a.getBoundingClientRect().width > 0)"""


def _said(page: Page) -> dict[str, Any]:
    page.wait_for(DRAWN_AGAIN)  # each run shows at least one fault
    said: dict[str, Any] = page.evaluate(SAID)
    return said


def _assert_readable_timeline(said: dict[str, Any], *, users: bool = True, phases: bool = True) -> None:
    """The latency axis labelled in round numbers with units, the legend naming p50 and p99 and the
    users, the users' line drawn, and no label above the chart covering another (``phases``: the
    run recorded its phases, so they are labelled too)."""
    ticks = said["ticks"]
    assert len(ticks) >= 2, ticks
    assert all(_TICK.match(t) for t in ticks), ticks
    legend = said["legend"]
    assert {"p50 latency (solid)", "p99 latency (dotted)"} <= set(legend), legend
    drawn = dict(said["timeline"])
    if users:
        assert "users (the load's shape)" in legend, legend
        assert drawn["users (the load's shape)"] > 20, drawn  # a line, not an empty path
        assert said["userTicks"], said
        assert all(t.isdigit() for t in said["userTicks"]), said["userTicks"]
    labels = said["labels"]
    assert any(label[0] == "▸ load" for label in labels) is phases, labels
    assert any(label[0].startswith("⚡") for label in labels), labels
    for i, (a, *one) in enumerate(labels):
        for b, *other in labels[i + 1 :]:
            apart = one[2] <= other[0] or other[2] <= one[0] or one[3] <= other[1] or other[3] <= one[1]
            assert apart, f"labels {a!r} and {b!r} overlap: {one} {other}"


def _assert_plain_words(said: dict[str, Any], results: dict[str, Any]) -> None:
    """Each row: the invariant's promise, its checked count with a unit, and how it converged."""
    rows = {row["name"]: row for row in said["rows"]}
    assert list(rows) == [v["invariant"] for v in results["invariants"]]
    for v in results["invariants"]:
        row, definition = rows[v["invariant"]], REGISTRY[v["invariant"]]
        assert row["promise"] == definition.promise
        if v["checked"] is not None:
            assert row["checked"] == f"checked {definition.unit.of(v['checked'])}", row
        if not definition.eventual:
            assert row["converged"] == "not eventual", row
        elif v["status"] == "holds":
            assert re.fullmatch(r"held after \d+\.\d s", row["converged"]), row
        elif v["status"] == "violated":
            assert row["converged"] == "still violated at the deadline (30 s)", row
        elif results["status"] != "interrupted":
            assert row["converged"] == "could not check", row
    violated = [REGISTRY[v["invariant"]].promise for v in results["invariants"] if v["status"] != "holds"]
    assert said["promises"] == [f"Promise: {p}" for p in violated]


def _assert_convergence_chart(said: dict[str, Any], results: dict[str, Any]) -> None:
    """A line per eventual invariant: over its rounds; one that held at the first is one point."""
    eventual = [v["invariant"] for v in results["invariants"] if REGISTRY[v["invariant"]].eventual]
    drawn = dict(said["convergence"])
    assert sorted(drawn) == sorted(eventual), drawn
    rounds = {n: sum(n in p["violations"] for p in results["settle"]["polls"]) for n in eventual}
    for name, length in drawn.items():
        assert (length > 20) is (rounds[name] > 1), (name, length, rounds)


def test_a_passing_run_says_what_each_invariant_promised_and_checked(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("passing-hello")
    results = as_run_now(run)
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-passing-plain-words.png")
    assert_clean(page, report)
    _assert_charts_drawn(page, faults=len(results["faults"]), convergence=True)
    said = _said(page)
    _assert_plain_words(said, results)
    assert {r["name"]: r["checked"] for r in said["rows"]}["no_stuck_orders"] == "checked 1,116 orders"
    assert said["note"] is None  # nothing went wrong: no note beside the chart
    _assert_readable_timeline(said)
    _assert_convergence_chart(said, results)


def test_a_failing_run_shows_money_and_says_the_clients_were_told_ok(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("failing-drop-on-overload")
    results = as_run_now(run)
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-failing-plain-words.png")
    assert_clean(page, report)
    _assert_charts_drawn(page, faults=len(results["faults"]), convergence=True)
    said = _said(page)
    _assert_plain_words(said, results)
    rows = {r["name"]: r for r in said["rows"]}
    assert rows["no_stuck_orders"]["converged"] == "still violated at the deadline (30 s)"
    assert rows["eventual_refund"]["converged"] == "held after 0.4 s"
    assert said["note"] == (
        "⚠ The clients saw success while the money went wrong: no operation of 936 returned an error, as the "
        "error rate below shows, yet the invariants found 276 violation(s) (no_stuck_orders: 276 order(s) "
        "stuck or lost)."
    )
    note, chart = said["noteBox"], said["chartBox"]
    assert 0 <= chart[1] - note[3] < 40, (note, chart)  # right above the chart
    _assert_readable_timeline(said)
    _assert_convergence_chart(said, results)
    stuck = dict(said["convergence"])["no_stuck_orders"]
    assert stuck > 100, said["convergence"]  # 31 rounds drawn as steps


def test_a_failing_run_for_each_incident_shows_its_amounts_as_money(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("failing-retry-new-key")
    results = as_run_now(run)
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-failing-money.png")
    assert_clean(page, report)
    said = _said(page)
    _assert_plain_words(said, results)
    assert said["note"] is not None
    assert "128 violation(s)" in said["note"]
    money = page.evaluate(
        "Array.from(document.querySelectorAll('#violations .money')).map(m => m.textContent)"
    )
    assert money
    assert all(re.fullmatch(r"-?[\d,]+\.\d\d CNY", m) for m in money), money[:5]
    _assert_readable_timeline(said)
    users = page.evaluate("""document.getElementById("timeline").data
      .find(t => t.name === "users (the load's shape)").y""")
    assert max(users) == 60
    assert users[-1] == 0


def test_a_run_interrupted_while_settling_shows_the_rounds_it_got_to(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("failing-drop-on-overload")
    results = make_interrupted_while_settling(run)
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-interrupted-settling.png")
    assert_clean(page, report)
    assert page.evaluate("document.querySelector('#verdict .word').innerText") == "INTERRUPTED"
    _assert_charts_drawn(page, faults=len(results["faults"]), convergence=True)
    said = _said(page)
    _assert_plain_words(said, results)
    eventual = {r["name"]: r["converged"] for r in said["rows"] if REGISTRY[r["name"]].eventual}
    assert eventual == {  # the five rounds it got to, the last 3.05 s after the heal
        "no_stuck_orders": "277 violation(s) at its last round, 3.0 s after the heal",
        "eventual_refund": "0 violation(s) at its last round, 0.4 s after the heal",
    }
    assert said["note"] is None  # no verdict: nothing to say the clients were misled about
    _assert_readable_timeline(said)
    drawn = dict(said["convergence"])
    assert sorted(drawn) == ["eventual_refund", "no_stuck_orders"]


def test_a_run_killed_mid_load_still_has_a_readable_timeline(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("failing-drop-on-overload")
    (run / "results.json").unlink()
    results = rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-killed-readable.png")
    assert_clean(page, report)
    _assert_charts_drawn(page, faults=len(results["faults"]))
    said = _said(page)
    assert said["rows"] == []
    assert said["note"] is None
    assert said["convergence"] == []
    _assert_readable_timeline(said, phases=False)  # results.json was never written: no phase is known


def test_an_open_loop_run_charts_the_arrivals_offered_and_started_not_users(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = _open_loop_run(sample_run)
    spec = json.loads((run / "load.json").read_text())
    spec["load"] = {"arrival_rate": 20.0, "duration": "10s", "scenarios": spec["load"]["scenarios"]}
    (run / "load.json").write_text(json.dumps(spec))
    rebuild(run)
    report = run / "report.html"
    page = open_report(browser, report, tmp_path / "report-open-loop.png")
    assert_clean(page, report)
    said = _said(page)
    legend = set(said["legend"])
    assert {"arrivals offered (target)", "arrivals started", "arrivals dropped (every user busy)"} <= legend
    assert "users (the load's shape)" not in legend  # an open loop's users are only a pool
    drawn = dict(said["timeline"])
    assert drawn["arrivals offered (target)"] > 20, drawn
    assert drawn["arrivals started"] > 20, drawn
    _assert_readable_timeline(said, users=False)
