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
from paychaos.report._charts import latency_ticks
from paychaos.report._html import MAX_REPORT_BYTES
from paychaos.report._timeline import MAX_BUCKETS
from tests.harness.report.conftest import SAMPLES, as_run_now, make_not_exercised


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
    # an amount without a currency (the sample's paychaos recorded none) says it is in minor units
    assert ledger.count('<span class="money" title="38725 in minor units">38,725 (minor units)</span>') == 3
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


def test_the_invariants_a_run_did_not_check_are_named_with_why(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("passing-hello")
    html = write_html(run).read_text()
    assert 'id="not-checked"' not in html  # every default invariant was checked
    results = json.loads((run / "results.json").read_text())
    results["not_checked"] = {"no_double_payout": "the target's evidence has no payouts table"}
    (run / "results.json").write_text(json.dumps(results))
    validate_results(results)
    section = write_html(run).read_text().split('id="not-checked"')[1].split("</div>")[0]
    assert "Not checked in this run (1), so nothing above speaks for them" in section
    item = section.split('<li data-not-checked="no_double_payout">')[1].split("</li>")[0]
    assert item.startswith("<b>no_double_payout</b>")
    assert item.endswith(": the target&#x27;s evidence has no payouts table")
    assert "No payout instruction was paid on more than one channel." in item  # its promise


def test_a_fault_in_place_much_shorter_than_scheduled_is_noted(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-retry-new-key")  # f1: at 2.4s for 6s
    results = json.loads((run / "results.json").read_text())
    fault = results["faults"][0]
    for applied, noted in ((2.45, False), (3.0, False), (5.0, True)):  # 6 s, 5.5 s (>= 80%), 3.5 s
        fault.update(applied_at=applied, healed_at=8.5)
        (run / "results.json").write_text(json.dumps(results))
        notes = write_html(run).read_text().split('id="notes"')[1:]
        assert bool(notes) is noted, applied
    note = notes[0].split("</section>")[0]
    assert "Fault f1 (bank answers late)" in note
    assert (
        "was in place 3.50 s of the 6 s scheduled: it went in 2.60 s after its time (5.00 s, scheduled 2.4 s)"
        in note
    )
    # A guard that stopped the injection cut it short on purpose, and says so itself.
    results.update(status="aborted")
    (run / "results.json").write_text(json.dumps(results))
    assert 'id="notes"' not in write_html(run).read_text()


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


# -- plain words: promises, units, convergence, amounts, what the clients saw ---------------------


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-invariant="([^"]+)" data-status="[^"]+">(.*?)</tr>', html))


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def test_each_invariant_says_its_promise_what_it_checked_and_how_it_converged(
    sample_run: Callable[[str], Path],
) -> None:
    run = sample_run("failing-drop-on-overload")
    as_run_now(run)
    html = write_html(run).read_text()
    rows = {name: _text(row) for name, row in _rows(html).items()}
    assert rows["no_stuck_orders"] == (
        "no_stuck_orders Every order ends (no order paying forever), and none the shop accepted vanished. "
        "violated 276 checked 2,611 orders still violated at the deadline (30 s) 276 order(s) stuck or lost"
    )
    assert rows["eventual_refund"] == (
        "eventual_refund Every debit of a payment that did not succeed is refunded, in full. holds 0 "
        "checked 2,335 posted debits held after 0.4 s"
    )
    assert rows["exactly_once_debit"].endswith("holds 0 checked 2,335 posted debits not eventual")
    assert rows["conservation"].endswith("holds 0 checked 1,104 accounts not eventual")
    section = html.split('id="invariant-no-stuck-orders"')[1].split("</section>")[0]
    assert '<p class="promise">Promise: Every order ends (no order paying forever)' in section


def test_a_run_of_an_older_paychaos_still_says_held_after_without_its_settle_rounds(
    sample_run: Callable[[str], Path],
) -> None:
    html = write_html(sample_run("failing-drop-on-overload")).read_text()
    rows = {name: _text(row) for name, row in _rows(html).items()}
    assert rows["eventual_refund"].endswith("held after 0.4 s")
    assert "still violated at the deadline 276 order(s)" in rows["no_stuck_orders"]  # its deadline unknown
    assert "convergence" not in charts_of(html)


def test_amounts_are_money_in_the_target_currency(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-retry-new-key")
    as_run_now(run)
    html = write_html(run).read_text()
    section = html.split('id="invariant-exactly-once-debit"')[1].split("</section>")[0]
    ledger = section.split("<h5>ledger (3)</h5>")[1].split("</table>")[0]
    assert ledger.count('<span class="money" title="38725 in minor units">387.25 CNY</span>') == 3
    assert "38725" not in _text(ledger)
    # counts next to amounts stay counts
    assert '<th>net_debits</th><td><span class="num">3</span></td>' in section


def test_the_page_says_when_clients_saw_success_while_money_went_wrong(
    sample_run: Callable[[str], Path],
) -> None:
    html = write_html(sample_run("failing-drop-on-overload")).read_text()
    note = re.search(r'<p class="told-ok" id="client-saw-success" role="note">(.*?)</p>', html)
    assert note, "no note beside the chart"
    assert _text(note.group(1)) == (
        "⚠ The clients saw success while the money went wrong: no operation of 936 returned an error, as the "
        "error rate below shows, yet the invariants found 276 violation(s) (no_stuck_orders: 276 order(s) "
        "stuck or lost)."
    )
    # right above the chart it speaks of
    assert html.index('id="client-saw-success"') < html.index('<div id="timeline"')
    assert html.index('<section id="timeline-section">') < html.index('id="client-saw-success"')
    assert 'id="client-saw-success"' not in write_html(sample_run("passing-hello")).read_text()


def test_no_success_note_when_the_clients_saw_the_errors(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-drop-on-overload")
    history = next((run / "history").glob("*.jsonl"))
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    for line in lines[1:40]:  # 39 of 936 (4%) failed
        line.update(outcome="failed", status=503)
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert 'id="client-saw-success"' not in write_html(run).read_text()


def test_the_timeline_charts_users_names_the_latency_lines_and_labels_its_axis_plainly(
    sample_run: Callable[[str], Path],
) -> None:
    run = sample_run("failing-retry-new-key")  # a 3x spike: 20 users, 60 from 3 s to 6 s (quick)
    figure = charts_of(write_html(run).read_text())["timeline"]
    (users,) = [t for t in figure["data"] if t.get("yaxis") == "y6"]
    assert users["name"] == "users (the load's shape)"
    assert users["line"]["shape"] == "hv"
    steps = dict(zip(users["x"], users["y"], strict=True))
    assert steps[0.0] == 1
    assert steps[1.9] == 20
    assert steps[3.9] == 60
    assert steps[12.0] == 0
    assert max(users["y"]) == 60
    axis = figure["layout"]["yaxis6"]
    assert (axis["overlaying"], axis["side"], axis["title"]["text"]) == ("y", "right", "users")
    key = [t["name"] for t in figure["data"] if t.get("legendgroup") == "latency key"]
    assert key == ["p50 latency (solid)", "p99 latency (dotted)"]
    latency = figure["layout"]["yaxis4"]
    assert latency["type"] == "log"
    assert latency["tickmode"] == "array"
    assert latency["ticktext"] == ["50 ms", "100 ms", "200 ms", "500 ms", "1 s", "2 s"]
    assert [round(v) for v in latency["tickvals"]] == [50, 100, 200, 500, 1000, 2000]


def test_latency_ticks_are_round_numbers_with_units() -> None:
    assert latency_ticks([]) == {}
    wide = latency_ticks([0.4, 2500.0])  # 1-2-5 steps would be 14 labels: powers of ten instead
    assert wide["ticktext"] == ["1 ms", "10 ms", "100 ms", "1 s"]
    low, high = (10**r for r in wide["range"])
    assert 0.1 < low < 0.2
    assert 5000 < high < 8000
    narrow = latency_ticks([30.0, 80.0])
    assert narrow["ticktext"] == ["20 ms", "50 ms", "100 ms"]
    assert 10 ** narrow["range"][0] < 30
    assert 10 ** narrow["range"][1] > 80


def test_phase_and_fault_labels_never_overlap(sample_run: Callable[[str], Path]) -> None:
    figure = charts_of(write_html(sample_run("failing-drop-on-overload")).read_text())["timeline"]
    low, high = figure["layout"]["xaxis"]["range"]
    px = (high - low) / 1100
    labels = [a for a in figure["layout"]["annotations"] if a["yref"] == "paper" and a["y"] == 1
              and low <= a["x"] <= high]  # fmt: skip
    texts = {a["text"] for a in labels}
    assert {"▸ load", "▸ heal", "▸ settle", "⚡ slow gateway database"} <= texts, texts
    boxes = [(a["x"], a["x"] + (len(a["text"]) * 6.2 + 12) * px, a["yshift"]) for a in labels]
    for i, (x0, x1, row) in enumerate(boxes):
        for y0, y1, other in boxes[i + 1 :]:
            assert row != other or x1 <= y0 or y1 <= x0, (labels[i]["text"], boxes)


def test_the_settle_rounds_are_charted(sample_run: Callable[[str], Path]) -> None:
    run = sample_run("failing-drop-on-overload")
    results = as_run_now(run)
    html = write_html(run).read_text()
    figure = charts_of(html)["convergence"]
    go.Figure(figure)
    lines = {t["name"]: t for t in figure["data"]}
    assert sorted(lines) == ["eventual_refund", "no_stuck_orders"]
    stuck = lines["no_stuck_orders"]
    assert stuck["y"][:4] == [290, 284, 279, 277]
    assert stuck["y"][-1] == 276
    assert len(stuck["y"]) == 31
    assert lines["eventual_refund"]["y"] == [0]
    assert figure["layout"]["xaxis"]["title"]["text"] == "seconds after the heal"
    assert [s["x0"] for s in figure["layout"]["shapes"]] == [30.0]  # the deadline
    assert results["settle"]["deadlines"] == {"no_stuck_orders": 30.0, "eventual_refund": 30.0}
    caption = _text(html.split('id="convergence-heading"')[1].split('<div id="convergence"')[0])
    assert "checked 32 time(s)" in caption
    assert (
        "no_stuck_orders still violated at the deadline (30 s); eventual_refund held after 0.4 s." in caption
    )
