"""The report links the run's full list of violators (violations.csv, violations.jsonl): in its HTML, and
in a real headless Chromium, where the link resolves to the file beside the page."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paychaos.report import rebuild
from tests.harness.report.chromium import Chromium

pytestmark = pytest.mark.integration


def _with_violations(run: Path, rows: int = 57, error: str | None = None) -> dict[str, Any]:
    """A copied failing sample run, as a run of now writes it: its violators in files beside it."""
    results: dict[str, Any] = json.loads((run / "results.json").read_text())
    violated = [v for v in results["invariants"] if v["status"] == "violated"]
    header = (
        "invariant,problem,order_id,payment_id,instruction,account,item,amount,amount_minor,amounts,remedy\n"
    )
    lines = [f"{violated[0]['invariant']},more than one net debit,o{i},,,cust-{i:05d},,1.00 CNY,100,,"
             f"refund 1.00 CNY to account cust-{i:05d}\n" for i in range(rows)]  # fmt: skip
    (run / "violations.csv").write_text(header + "".join(lines))
    (run / "violations.jsonl").write_text(
        "".join(json.dumps({"order_id": f"o{i}"}) + "\n" for i in range(rows))
    )
    violated[0]["exported"] = rows
    results["violations"] = {
        "csv": "violations.csv",
        "jsonl": "violations.jsonl",
        "rows": rows,
        "error": error,
    }
    (run / "results.json").write_text(json.dumps(results))
    return results


def test_the_page_links_the_files_and_says_when_they_are_incomplete(
    sample_run: Callable[[str], Path],
) -> None:
    run = sample_run("failing-retry-new-key")
    _with_violations(run, error="python: m:f: 1 of 3 violator(s) written")
    rebuild(run)
    page = (run / "report.html").read_text()
    assert '<a href="violations.csv">violations.csv</a> (57 rows; also <a href="violations.jsonl">' in page
    assert "incomplete: python: m:f: 1 of 3 violator(s) written" in page
    # A run of a paychaos that wrote no such files (the samples as they are): no link.
    plain = sample_run("failing-drop-on-overload")
    rebuild(plain)
    assert "violations-files" not in (plain / "report.html").read_text()


def test_the_page_links_violations_csv_in_chromium(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run = sample_run("failing-retry-new-key")
    _with_violations(run)
    rebuild(run)
    report = run / "report.html"
    page = browser.open(report.as_uri())
    assert page.wait_for("document.body.dataset.ready !== 'false' && document.body.dataset.ready") == "true"
    page.evaluate("document.querySelector('#violations-files').scrollIntoView()")
    page.screenshot(tmp_path / "report-violations-link.png")
    link = page.evaluate("""(() => {
      const p = document.querySelector("#violations > #violations-files");
      const a = p && p.querySelector("a[href='violations.csv']");
      const box = a ? a.getBoundingClientRect() : null;
      return a && {href: a.href, text: p.innerText, after: p.previousElementSibling.tagName,
                   visible: box.width > 0 && box.height > 0,
                   links: Array.from(p.querySelectorAll("a")).map(x => x.getAttribute("href"))};
    })()""")
    assert link is not None, "no link to violations.csv under What broke"
    assert link["href"] == (run / "violations.csv").as_uri()  # the file beside the page
    assert Path(run / "violations.csv").is_file()
    assert link["links"] == ["violations.csv", "violations.jsonl"]
    assert link["after"] == "H2"  # first thing under "What broke", before the examples
    assert link["visible"]
    assert "57 rows" in link["text"]
    assert page.console_errors == []
    assert page.failed_requests == []
    assert page.requested_urls == [report.as_uri()]  # the link is there, nothing was fetched
