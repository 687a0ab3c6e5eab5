"""The report in a real headless Chromium, offline: it loads cleanly, every chart draws, the verdicts read right.

Each page's screenshot is kept in the test's tmp dir and copied to reports/screenshots/ (git-ignored)
when that folder can be written. Without /usr/bin/chromium (Debian's ``chromium`` package) these tests
skip and say so; CI installs it and sets PAYCHAOS_REQUIRE_CHROMIUM=1, which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paychaos.report import rebuild
from tests.harness.report.chromium import CHROMIUM, Chromium, Page
from tests.harness.report.conftest import make_not_exercised, sample_results

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "reports" / "screenshots"

# Per chart div: traces plotly.js drew (scatter and bar groups), line paths with points, bars, shapes.
CHARTS = """
Array.from(document.querySelectorAll(".chart")).map(div => ({
  id: div.id,
  traces: (div.data || []).length,
  drawn: div.querySelectorAll(".scatterlayer .trace, .barlayer .trace").length,
  lines: Array.from(div.querySelectorAll(".scatterlayer path.js-line"))
    .filter(p => (p.getAttribute("d") || "").length > 20).length,
  bars: Array.from(div.querySelectorAll(".barlayer path"))
    .filter(p => (p.getAttribute("d") || "M0,0Z") !== "M0,0Z").length,
  shapes: div.querySelectorAll(".shapelayer path").length,
  width: div.getBoundingClientRect().width,
  height: div.getBoundingClientRect().height,
}))
"""
VERDICTS = """
Array.from(document.querySelectorAll("#invariants tbody tr[data-invariant]")).map(tr => [
  tr.querySelector("td").innerText.trim(), tr.querySelector(".badge").innerText.trim(), tr.dataset.status])
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent; install Debian's chromium (apt-get install chromium) to run these"
        if os.environ.get("PAYCHAOS_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"Chromium is required here (PAYCHAOS_REQUIRE_CHROMIUM=1) but {reason}")
        pytest.skip(reason)
    with Chromium(tmp_path_factory.mktemp("chromium") / "profile") as chromium:
        yield chromium


def _open(browser: Chromium, report: Path, shot: Path) -> Page:
    for earlier in list(browser.pages):
        earlier.close()
    page = browser.open(report.as_uri())
    assert page.wait_for("document.body.dataset.ready !== 'false' && document.body.dataset.ready") == "true"
    page.screenshot(shot)
    assert shot.stat().st_size > 10_000
    if SCREENSHOTS.parent.is_dir() and os.access(SCREENSHOTS.parent, os.W_OK):
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / shot.name)
    return page


def _assert_clean(page: Page, report: Path) -> None:
    assert page.console_errors == []
    assert page.failed_requests == []
    assert page.requested_urls == [report.as_uri()]  # nothing else: no script, style, font or image fetched


def _assert_charts_drawn(page: Page, faults: int) -> list[dict[str, Any]]:
    charts: list[dict[str, Any]] = page.evaluate(CHARTS)
    assert [c["id"] for c in charts] == ["timeline"]
    for chart in charts:
        assert chart["traces"] > 0
        assert chart["drawn"] == chart["traces"], chart  # every trace became SVG
        assert chart["lines"] > 0, chart
        assert chart["bars"] > 0, chart
        assert chart["shapes"] >= 2 * faults, chart  # each fault's window and its edge
        assert chart["width"] > 800, chart
        assert chart["height"] > 600, chart
    return charts


@pytest.mark.parametrize("name", ["passing-hello", "failing-retry-new-key", "failing-drop-on-overload"])
def test_sample_reports_in_chromium(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    run = sample_run(name)
    rebuild(run)
    report = run / "report.html"
    page = _open(browser, report, tmp_path / f"report-{name}.png")
    _assert_clean(page, report)
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
    rebuild(run)
    page = _open(browser, run / "report.html", tmp_path / "report-double-debit-evidence.png")
    ledger = page.evaluate("""
      Array.from(document.querySelectorAll("#invariant-exactly-once-debit .example")[0]
        .querySelectorAll("table.records")[0].querySelectorAll("tbody tr"))
        .map(tr => Array.from(tr.cells).map(td => td.innerText))
    """)
    first = sample_results("failing-retry-new-key")["invariants"][0]["examples"][0]["ledger"]
    assert [row[0] for row in ledger] == [posting["key"] for posting in first]
    assert [row[3] for row in ledger] == [str(posting["amount"]) for posting in first]
    assert ledger[0][4] == "2026-11-22T01:10:57.603299+00:00 (+2.437 s)"


def test_a_rebuilt_interrupted_run_in_chromium(browser: Chromium, sample_run: Callable[[str], Path],
                                               tmp_path: Path) -> None:  # fmt: skip
    run = sample_run("failing-drop-on-overload")
    (run / "results.json").unlink()
    results = rebuild(run)
    report = run / "report.html"
    page = _open(browser, report, tmp_path / "report-rebuilt-interrupted.png")
    _assert_clean(page, report)
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
    page = _open(browser, report, tmp_path / "report-error-before-load.png")
    _assert_clean(page, report)
    assert page.evaluate(CHARTS) == []
    assert page.evaluate("document.querySelector('#verdict .word').innerText") == "ERROR"


def test_a_run_whose_fault_never_acted_is_flagged_beside_the_verdict_in_chromium(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("passing-hello")
    make_not_exercised(run)
    rebuild(run)
    report = run / "report.html"
    page = _open(browser, report, tmp_path / "report-not-exercised.png")
    _assert_clean(page, report)
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
