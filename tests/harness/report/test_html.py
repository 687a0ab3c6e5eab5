"""report.html without a browser: one self-contained file, valid Plotly figures, evidence readable, big runs small."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest

from bench.report_scale import long_run
from paychaos.report import validate_results, write_html
from paychaos.report._bundle import PACKAGE, VERSION, check
from paychaos.report._html import MAX_REPORT_BYTES
from paychaos.report._timeline import MAX_BUCKETS
from tests.harness.report.conftest import SAMPLES, make_not_exercised


def charts_of(html: str) -> dict[str, Any]:
    """The page's figures, each as plotly.js draws it: the shared time axis given back to every trace."""
    found = re.search(r'<script type="application/json" id="paychaos-charts">(.*?)</script>', html, re.S)
    assert found, "no chart data in the page"
    charts: dict[str, Any] = json.loads(found.group(1))
    for figure in charts.values():
        x = figure.pop("x")
        figure["data"] = [{"x": x, **trace} if "x" not in trace else trace for trace in figure["data"]]
    return charts


def _external_references(html: str) -> list[str]:
    """Anything the page would fetch: src= or href= to another place, a stylesheet link, an import."""
    found = re.findall(
        r"""<(?:script|img|iframe|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?!data:|#)([^"' >]+)""", html
    )
    return found + re.findall(r"@import|url\((?!data:)", html.split("<script>")[0])


@pytest.mark.parametrize("name", SAMPLES)
def test_the_report_is_one_self_contained_file(sample_run: Callable[[str], Path], name: str) -> None:
    run = sample_run(name)
    path = write_html(run)
    assert path == run / "report.html"
    html = path.read_text()
    assert path.stat().st_size <= MAX_REPORT_BYTES
    assert _external_references(html) == []
    assert f"plotly.js (basic - minified) v{VERSION}" in html  # the library itself, inlined
    assert not (run / "report.html.tmp").exists()
    charts = charts_of(html)
    assert list(charts) == ["timeline"]
    for figure in charts.values():
        go.Figure(figure)  # plotly's own validation: every attribute exists and has a valid value
        assert figure["data"]
        assert all(trace["x"] for trace in figure["data"])


def test_the_largest_sample_report_is_at_most_1_5_mb(sample_run: Callable[[str], Path]) -> None:
    sizes = {name: write_html(sample_run(name)).stat().st_size for name in SAMPLES}
    largest = max(sizes, key=sizes.__getitem__)
    assert largest == "failing-retry-new-key"  # the most evidence: two violated invariants' examples
    assert MAX_REPORT_BYTES == 1_500_000
    assert sizes[largest] <= MAX_REPORT_BYTES, f"{largest}: report.html is {sizes[largest]:,} bytes"


def test_the_chart_library_is_the_vendored_plotly_basic_bundle_as_pinned() -> None:
    assert check() == [], f"run: python -m paychaos.report._bundle --update ({PACKAGE} {VERSION})"
    # go.Figure validates the page's figures with the schema of the plotly.js that plotly.py bundles:
    # the same major version as the page's (7.1.0 bundles 4.1.1, the vendored one)
    from plotly.offline import get_plotlyjs_version

    assert get_plotlyjs_version().split(".")[0] == VERSION.split(".")[0]


def test_passing_run_says_held_and_lists_every_invariant(sample_run: Callable[[str], Path]) -> None:
    html = write_html(sample_run("passing-hello")).read_text()
    assert '<header class="verdict held" id="verdict">' in html
    assert "hello: 10 invariant(s) held" in html
    statuses = re.findall(r'<tr data-invariant="([^"]+)" data-status="([^"]+)">', html)
    assert len(statuses) == 10
    assert {s for _, s in statuses} == {"holds"}
    assert "Ten users shop for twenty seconds" in html  # the story
    assert 'id="violations"' not in html
    assert "paychaos run experiments/hello.yaml --quick" in html
    assert "Toxiproxy, embedded 2.12.0, at http://127.0.0.1:41031" in html
    assert "PostgreSQL 16.2" in html
    # the slo invariant's own per-phase table, its limit, and the computed one per kind
    assert re.search(
        r'<tr data-phase="fault"><td>fault</td><td class="n">195</td><td class="n">0.00%</td>', html
    )
    assert "limit (steady)" in html
    assert "From the slo invariant" in html


def test_a_double_debit_shows_both_postings_and_the_operations_behind_them(
    sample_run: Callable[[str], Path],
) -> None:
    html = write_html(sample_run("failing-retry-new-key")).read_text()
    assert '<header class="verdict violated" id="verdict">' in html
    assert "violated: exactly_once_debit, idempotent_replay" in html
    statuses = dict(re.findall(r'<tr data-invariant="([^"]+)" data-status="([^"]+)">', html))
    assert statuses == {"exactly_once_debit": "violated", "eventual_refund": "holds", "no_stuck_orders": "holds",
                        "idempotent_replay": "violated", "conservation": "holds"}  # fmt: skip
    section = html.split('id="invariant-exactly-once-debit"')[1].split("</section>")[0]
    assert "example 1 of 64" in section
    ledger = section.split("<h5>ledger (3)</h5>")[1].split("</table>")[0]
    assert (
        "<th>key</th><th>payment_id</th><th>account</th><th>amount</th><th>at</th><th>refunded_by</th>"
        in ledger
    )
    assert "pay:dde640d4-f8ef-4b5a-be05-614031a2530e" in ledger
    assert ledger.count('<span class="num">38725</span>') == 3
    assert '2026-11-22T01:10:57.603299+00:00 <span class="rel">(+2.437 s)</span>' in ledger
    operations = section.split("<h5>client_operations (3)</h5>")[1].split("</table>")[0]
    assert operations.count("<tr>") == 4  # the header and three operations
    assert "pay_retry" in operations
    assert section.count('<div class="example">') == 5  # the first five unfolded, the rest folded
    assert section.count('<details class="example">') == 15
    assert "44 more not kept" in section


def test_could_not_check_and_an_errored_run_read_plainly(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-drop-on-overload")
    results = json.loads((run / "results.json").read_text())
    results["invariants"][1].update(status="could_not_check", reason="evidence database: TimeoutError")
    (run / "results.json").write_text(json.dumps(results))
    html = write_html(run).read_text()
    assert '<tr data-invariant="eventual_refund" data-status="could_not_check">' in html
    assert "could not check: evidence database: TimeoutError" in html

    results.update(status="error", verdict="error", exit_code=3, invariants=[], faults=[], load_started_at=None,
                   error="steady state not reached: bank is not healthy; see logs/bank.log")  # fmt: skip
    (run / "results.json").write_text(json.dumps(results))
    shutil.rmtree(run / "history")
    html = write_html(run).read_text()
    assert '<header class="verdict error" id="verdict">' in html
    assert "No invariant was checked: steady state not reached: bank is not healthy" in html
    assert "No client operation was recorded" in html
    assert charts_of(html) == {}


def test_a_run_whose_fault_never_acted_is_flagged_beside_the_verdict(
    sample_run: Callable[[str], Path],
) -> None:
    run = sample_run("passing-hello")
    validate_results(make_not_exercised(run))
    html = write_html(run).read_text()
    assert '<header class="verdict not-exercised" id="verdict">' in html
    # right after the verdict, before the story and the invariants that "held"
    after_header = html.split("</header>", 1)[1].lstrip()
    assert after_header.startswith('<section class="shortfall" id="not-exercised" role="alert">')
    shortfall = after_header.split("</section>", 1)[0]
    assert "Not exercised: this run is no pass" in shortfall
    items = re.findall(r'<li data-shortfall="([^"]+)">(.*?)</li>', shortfall)
    assert [name for name, _ in items] == ["fault f1 acted", "voids"]
    assert "<b>fault f1</b> (gateway_bank: toxic=latency" in items[0][1]
    assert "never acted: 0 time(s), at least 1 required" in items[0][1]
    assert "<b>voids</b> = 0, required &ge; 1: debit and payout keys cancelled" in items[1][1]
    assert html.index('id="not-exercised"') < html.index('id="story"') < html.index('id="invariants"')
    # the fault journal says it too, and so does the fault's label on the timeline
    row = html.split('<tr data-fault="f1">')[1].split("</tr>")[0]
    assert '0 time(s) <span class="badge violated">never acted</span>' in row
    assert "<th>acted</th>" in html
    labels = [a["text"] for a in charts_of(html)["timeline"]["layout"]["annotations"]]
    assert any(label.startswith("⚡ gateway_bank") and label.endswith("(never acted)") for label in labels)


def test_a_run_that_exercised_everything_has_no_shortfall_and_no_acted_column(
    sample_run: Callable[[str], Path],
) -> None:
    html = write_html(sample_run("passing-hello")).read_text()
    assert 'id="not-exercised"' not in html
    assert "<th>acted</th>" not in html
    assert "never acted" not in html


def test_a_violated_run_that_also_fell_short_says_both(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-retry-new-key")
    results = json.loads((run / "results.json").read_text())
    results["coverage"] = [{"name": "voids", "description": "voids", "value": 0, "required": 1, "met": False,
                            "error": None}]  # fmt: skip
    (run / "results.json").write_text(json.dumps(results))
    html = write_html(run).read_text()
    assert '<header class="verdict violated" id="verdict">' in html
    shortfall = html.split('id="not-exercised"')[1].split("</section>")[0]
    assert "Besides the verdict, the run did not make the stack do what the experiment requires" in shortfall
    assert 'data-shortfall="voids"' in shortfall


def test_text_from_the_run_is_shown_never_run(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-drop-on-overload")
    results = json.loads((run / "results.json").read_text())
    results["experiment"]["description"] = "<script>alert(1)</script> & </script>"
    results["invariants"][0]["examples"][0]["order_id"] = "<img src=x onerror=alert(1)>"
    results["faults"][0]["label"] = "</script><b>slow</b>"
    (run / "results.json").write_text(json.dumps(results))
    html = write_html(run).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("</script>") == 3  # plotly.js, the chart data, the page's own script
    labels = [a["text"] for a in charts_of(html)["timeline"]["layout"]["annotations"]]
    assert "⚡ &lt;/script&gt;&lt;b&gt;slow&lt;/b&gt;" in labels


@pytest.mark.slow
def test_an_hour_with_a_million_operations_makes_a_small_report(tmp_path: Path) -> None:
    """Its time and peak memory are measured by bench/report_scale.py; here, what the page holds."""
    run, operations = long_run(tmp_path / "run", seconds=4000, per_second=250)
    assert operations == 1_000_000
    try:
        write_html(run)
    finally:
        shutil.rmtree(run / "history")  # 270 MB: not kept among pytest's last tmp dirs
    html = (run / "report.html").read_text()
    assert len(html.encode()) <= MAX_REPORT_BYTES
    figure = charts_of(html)["timeline"]
    assert all(len(trace["x"]) <= MAX_BUCKETS for trace in figure["data"])
    assert "1000000 client operations from 2 history file(s), in 6-second buckets" in html
    total = next(t for t in figure["data"] if t["name"] == "all kinds" and t["yaxis"] == "y")
    assert sum(y * 6 for y in total["y"]) == pytest.approx(1_000_000, rel=1e-4)
