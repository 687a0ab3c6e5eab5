"""Each incident paystack's defects stage, as its report reads in a real headless Chromium: a real run of
it (fixtures/README.md) rendered, screenshotted (in the test's tmp dir, and reports/screenshots/ when
that can be written) and read back as drawn: the verdict, the violated invariants and their promises,
amounts in CNY, the link to violations.csv, the note when the clients were answered without an error
while the money went wrong, and the first example's story for that incident (both channels' payouts and
channel A's timed-out attempt for a double payout, the discount and the caps for a promotion, ...).

The double debit and the stuck orders (failing-retry-new-key, failing-drop-on-overload) are read in
test_html_in_chromium.py; the interrupted run and the comparison with a baseline there and in
test_compare_in_chromium.py.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paychaos.invariants import REGISTRY
from paychaos.report import rebuild
from paychaos.report._html import MAX_REPORT_BYTES
from paychaos.system import CurrencySpec
from tests.harness.report.chromium import Chromium, Page
from tests.harness.report.conftest import INCIDENTS, assert_clean, open_report
from tests.harness.report.test_html_in_chromium import _assert_charts_drawn, _said

pytestmark = pytest.mark.integration

CNY = CurrencySpec(code="CNY", minor_unit=2)  # paystack's currency, as its target.yaml declares it

# The first example of one invariant as drawn: its heading, its key/value table, and each list of
# records under its heading ("payouts (2)") as rows of column → cell text, or the "none" said instead.
EXAMPLE = """(id => {
  const text = el => el.innerText.trim();
  const example = document.querySelector(`#${id} .example`);
  const kv = Object.fromEntries(Array.from(example.querySelectorAll(":scope > table.kv > tbody > tr"))
    .map(tr => [text(tr.cells[0]), text(tr.cells[1])]));
  const records = {};
  example.querySelectorAll(":scope > h5").forEach(h => {
    const [, name, count] = text(h).match(/^(.*) \\((\\d+)\\)$/);
    const next = h.nextElementSibling;
    let rows = [];
    if (next.matches("table.records")) {
      const columns = Array.from(next.tHead.rows[0].cells).map(text);
      rows = Array.from(next.tBodies[0].rows)
        .map(tr => Object.fromEntries(Array.from(tr.cells).map((td, i) => [columns[i], text(td)])));
    }
    records[name] = {count: Number(count), rows, said: next.matches("p.none") ? text(next) : null};
  });
  const box = example.getBoundingClientRect();
  return {heading: text(example.querySelector("h4")), kv, records, visible: box.width > 800 && box.height > 50};
})"""

# What broke, as drawn: each invariant's section with its examples shown and the count left out; every
# amount of money (its text and the minor units it shows); tables that spill out of their section's box
# unclipped; the line linking the files of every violator.
BROKE = """(() => {
  const text = el => el.innerText.trim();
  const sections = Array.from(document.querySelectorAll("#violations section.violation")).map(s => ({
    id: s.id, title: text(s.querySelector("h3")), promise: text(s.querySelector("p.promise")),
    shown: s.querySelectorAll(".example").length,
    notShown: Array.from(s.querySelectorAll("p.more[data-not-shown]")).map(p => [p.dataset.notShown, text(p)]),
  }));
  const money = Array.from(document.querySelectorAll("#violations .money"))
    .map(m => [m.textContent, m.title]);
  const spilled = Array.from(document.querySelectorAll("#violations section.violation table")).filter(t => {
    const edge = t.closest("section.violation").getBoundingClientRect().right;
    const clip = t.closest(".example");
    const clipped = clip && getComputedStyle(clip).overflowX !== "visible"
      && clip.getBoundingClientRect().right <= edge;
    return t.getBoundingClientRect().right > edge + 0.5 && !clipped;
  }).length;
  const files = document.querySelector("#violations > #violations-files");
  const csv = files && files.querySelector("a[href='violations.csv']");
  return {sections, money, spilled,
          files: files && {text: text(files), after: files.previousElementSibling.tagName,
                           csv: csv && csv.href, links: Array.from(files.querySelectorAll("a")).map(a => a.href)}};
})()"""


def cny(minor: int) -> str:
    return CNY.format(minor)


Story = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class Incident:
    defect: str
    violated: tuple[str, ...]  # in the page's order
    featured: str  # the invariant whose first example tells the incident's story
    story: Story  # checks that example as drawn against the one results.json keeps
    told: str  # what the note beside the chart says the clients got


def _double_payout(drawn: dict[str, Any], kept: dict[str, Any]) -> None:
    """Both channels paid the instruction, after channel A's attempt timed out and B was tried."""
    kv, records = drawn["kv"], drawn["records"]
    assert kv["problem"] == "paid more than once"
    assert (kv["times_paid"], kv["extra_channels"]) == ("2", "channel-b")
    assert kv["at_stake"] == cny(kept["at_stake"])
    assert kv["paid"] == cny(2 * kept["at_stake"])  # paid twice over
    payouts = records["payouts"]["rows"]
    assert [(p["channel"], p["status"], p["amount"]) for p in payouts] == [
        ("channel-a", "posted", kv["at_stake"]), ("channel-b", "posted", kv["at_stake"])]  # fmt: skip
    attempts = [(a["channel"], a["outcome"]) for a in records["payout_attempts"]["rows"]]
    assert ("a", "timeout") in attempts, attempts  # channel A's attempt, which had in fact paid
    assert attempts.index(("a", "timeout")) < attempts.index(("b", "paid (201)")), attempts
    (operation,) = records["client_operations"]["rows"]
    assert (operation["kind"], operation["outcome"], operation["status"]) == ("payout", "ok", "201")
    assert kv["remedy"] == (f"reverse the second payout of instruction {kv['instruction']}, on channel "
                            f"channel-b ({kv['at_stake']})")  # fmt: skip


def _never_notified(drawn: dict[str, Any], kept: dict[str, Any]) -> None:
    """The one notification sent, never acknowledged and never tried again; nothing received, nothing
    fulfilled; the order still paying at the shop although the customer was told it succeeded."""
    kv, records = drawn["kv"], drawn["records"]
    assert (kv["problem"], kv["state"]) == ("succeeded, merchant never told", "SUCCEEDED")
    (sent,) = records["notifications_sent"]["rows"]
    assert (sent["acknowledged"], sent["attempts"], sent["last_error"]) == ("false", "1", "timeout")
    assert sent["payment_id"] == kv["payment_id"]
    assert records["notifications_received"] == {"count": 0, "rows": [], "said": "none"}
    assert records["fulfilments"] == {"count": 0, "rows": [], "said": "none"}
    (operation,) = records["client_operations"]["rows"]
    assert (operation["outcome"], operation["told"]) == ("ok", "succeeded")
    (order,) = records["orders"]["rows"]
    assert order["state"] == "PAYING"
    assert kv["remedy"].startswith(f"notify the merchant that payment {kv['payment_id']}")


def _promo(drawn: dict[str, Any], kept: dict[str, Any]) -> None:
    """The discount given, the caps in force (a percentage and an amount) and what they allowed."""
    kv, records = drawn["kv"], drawn["records"]
    assert kv["problem"] == "discount beyond the caps"
    for field in ("amount", "discount", "charged", "cap_amount", "allowed_discount"):
        assert kv[field] == cny(kept[field]), field
    assert kv["cap_percent"] == f"{kept['cap_percent']}%" == "10%"
    assert kept["discount"] > kept["allowed_discount"] == min(kept["cap_amount"],
                                                              kept["amount"] * kept["cap_percent"] // 100)  # fmt: skip
    assert kv["at_stake"] == cny(kept["discount"] - kept["allowed_discount"])
    assert kv["charged"] == cny(kept["amount"] - kept["discount"])
    (payment,) = records["payments"]["rows"]
    assert (payment["discount"], payment["charged"]) == (kv["discount"], kv["charged"])
    (debit,) = records["ledger"]["rows"]
    assert (debit["entry"], debit["amount"]) == ("debit", kv["charged"])  # what the customer paid
    assert f"discount {kv['discount']}, the caps allow {kv['allowed_discount']}" in kv["remedy"]


def _credit(drawn: dict[str, Any], kept: dict[str, Any]) -> None:
    """The account's credit line, how far below it the balance went, and the postings that took it there."""
    kv, records = drawn["kv"], drawn["records"]
    assert kv["problem"] == "went past its credit line"
    assert kv["credit_limit"] == cny(kept["credit_limit"]) == "30,000.00 CNY"
    assert kv["lowest_balance"] == cny(kept["lowest_balance"])
    assert kv["lowest_balance"].startswith("-")
    assert kv["at_stake"] == cny(-kept["lowest_balance"] - kept["credit_limit"])  # how far past the line
    postings = records["evidence"]["rows"]
    assert kv["postings_past_limit"] == str(len(postings))
    assert postings[-1]["balance_after"] == kv["lowest_balance"]
    assert all(p["amount"].startswith("-") and p["amount"].endswith(" CNY") for p in postings)
    assert kv["remedy"] == (f"recover the {kv['at_stake']} account {kv['account']} spent beyond its credit line "
                            f"of {kv['credit_limit']} (it went down to {kv['lowest_balance']})")  # fmt: skip


def _forged(drawn: dict[str, Any], kept: dict[str, Any]) -> None:
    """A notification nobody sent, for a payment that does not exist, accepted (200): the order marked
    paid and shipped, although its real payment was declined and the customer told so."""
    kv, records = drawn["kv"], drawn["records"]
    assert (kv["problem"], kv["order_outcome"]) == ("a forged notification changed the order", "paid")
    operations = records["client_operations"]["rows"]
    accepted = [o for o in operations if o["forged"] == "true" and o["status"] == "200"]
    assert [o["payment_id"] for o in accepted] == [kv["payment_id"]]  # the forged one, let in
    refused = [o for o in operations if o["forged"] == "true" and o["status"] == "401"]
    assert refused  # the signed check refuses the others
    (declined,) = [o for o in operations if o["kind"] == "pay_declined"]
    assert declined["told"] == "failed"
    (order,) = records["orders"]["rows"]
    (payment,) = records["payments"]["rows"]
    assert (order["state"], order["payment_id"]) == ("PAID", kv["payment_id"])
    assert (payment["state"], payment["payment_id"]) == ("FAILED", declined["payment_id"])
    sent = {n["event_id"] for n in records["notifications_sent"]["rows"]}
    received = records["notifications_received"]["rows"]
    forged = [n for n in received if n["payment_id"] == kv["payment_id"]]
    assert forged
    assert all(n["event_id"] not in sent and n["outcome"] == "succeeded" for n in forged)  # nobody sent it
    assert records["fulfilments"]["count"] >= 1  # shipped


def _shipped_twice(drawn: dict[str, Any], kept: dict[str, Any]) -> None:
    """One notification sent (and sent again after a timeout), received several times, and the order
    fulfilled on every delivery."""
    kv, records = drawn["kv"], drawn["records"]
    assert kv["problem"] == "fulfilled more than once"
    times = kept["times_fulfilled"]
    assert times > 1
    assert kv["times_fulfilled"] == str(times)
    assert records["fulfilments"]["count"] == times
    (sent,) = records["notifications_sent"]["rows"]
    assert int(sent["attempts"]) > 1
    received = records["notifications_received"]["rows"]
    assert {n["event_id"] for n in received} == {sent["event_id"]}  # the same notification each time
    assert [n["first"] for n in received] == ["true"] + ["false"] * (len(received) - 1)
    assert len(received) == times  # fulfilled on each delivery
    assert kv["remedy"] == f"reverse the extra fulfilments of order {kv['order_id']}: it was fulfilled {times} " \
                           "times, once is right"  # fmt: skip


def _never_refunded(drawn: dict[str, Any], kept: dict[str, Any]) -> None:
    """The payment marked failed (the customer told so) while its debit stayed posted, never refunded."""
    kv, records = drawn["kv"], drawn["records"]
    assert kv["problem"] == "debited, never refunded; the payment did not succeed"
    assert (kv["amount"], kv["refunded"]) == (cny(kept["amount"]), "0.00 CNY")
    assert kv["payment_state"] == "FAILED"
    (debit,) = records["ledger"]["rows"]
    assert (debit["entry"], debit["status"], debit["amount"]) == ("debit", "posted", kv["amount"])
    (operation,) = records["client_operations"]["rows"]
    assert (operation["outcome"], operation["told"]) == ("ok", "failed")
    (payment,) = records["payments"]["rows"]
    assert payment["state"] == "FAILED"
    assert kv["remedy"].startswith(f"refund {kv['amount']} to account {kv['account']}")


SAW_SUCCESS, TOLD_FAILED = "saw success", "were told their payments failed"
CASES = [
    Incident("failover-on-timeout", ("no_double_payout", "payouts_match_ledger"), "no_double_payout",
             _double_payout, SAW_SUCCESS),
    Incident("notify-fire-and-forget", ("merchant_notified", "no_stuck_orders", "fulfilled_once",
             "notifications_settled"), "merchant_notified", _never_notified, SAW_SUCCESS),
    Incident("uncapped-promo", ("amount_integrity",), "amount_integrity", _promo, SAW_SUCCESS),
    Incident("credit-check-race", ("credit_limit",), "credit_limit", _credit, SAW_SUCCESS),
    Incident("webhook-accepts-unsigned", ("orders_match_payments", "fulfilled_once", "webhook_authenticity"),
             "webhook_authenticity", _forged, TOLD_FAILED),
    Incident("webhook-not-idempotent", ("merchant_notified", "orders_match_payments", "fulfilled_once"),
             "fulfilled_once", _shipped_twice, SAW_SUCCESS),
    Incident("timeout-as-failure", ("eventual_refund", "payments_match_ledger"), "eventual_refund",
             _never_refunded, TOLD_FAILED),
]  # fmt: skip


def test_every_incident_fixture_has_a_case() -> None:
    assert sorted(c.defect for c in CASES) == sorted(INCIDENTS)


def _slug(name: str) -> str:
    return "invariant-" + name.replace("_", "-")


def _assert_rows(said: dict[str, Any], results: dict[str, Any]) -> None:
    """Each invariant's row: its promise, its checked count with a unit, and how it converged."""
    rows = {row["name"]: row for row in said["rows"]}
    assert list(rows) == [v["invariant"] for v in results["invariants"]]
    deadlines = results["settle"]["deadlines"]
    for v in results["invariants"]:
        row, definition = rows[v["invariant"]], REGISTRY[v["invariant"]]
        assert row["promise"] == definition.promise, row
        assert row["checked"] == f"checked {definition.unit.of(v['checked'])}", row
        if not definition.eventual:
            assert row["converged"] == "not eventual", row
        elif v["status"] == "holds":
            assert row["converged"].startswith("held after "), row
        else:
            assert row["converged"] == f"still violated at the deadline ({deadlines[v['invariant']]:g} s)", (
                row
            )


@pytest.mark.parametrize("incident", CASES, ids=[c.defect for c in CASES])
def test_each_incident_reads_as_drawn(
    browser: Chromium, sample_run: Callable[[str], Path], tmp_path: Path, incident: Incident
) -> None:
    run = sample_run(INCIDENTS[incident.defect])
    results = json.loads((run / "results.json").read_text())
    rebuild(run)
    report = run / "report.html"
    assert report.stat().st_size <= MAX_REPORT_BYTES
    page = open_report(browser, report, tmp_path / f"report-incident-{incident.defect}.png")
    assert_clean(page, report)
    _assert_charts_drawn(page, faults=len(results["faults"]), convergence=True)

    # the verdict, in red, for this defect
    header = page.evaluate("""(() => { const w = document.querySelector("#verdict .word");
      return [w.innerText, getComputedStyle(w).backgroundColor,
              document.querySelector("#verdict .meta").innerText]; })()""")
    assert header[:2] == ["VIOLATED", "rgb(207, 34, 46)"]
    assert f"defects: {incident.defect}" in header[2]

    # the invariants table: the violated ones, each with its promise, what it checked, how it converged
    said = _said(page)
    statuses = {row["name"]: s for row, s in zip(said["rows"], _statuses(page), strict=True)}
    assert tuple(n for n, s in statuses.items() if s == "violated") == incident.violated
    _assert_rows(said, results)

    # beside the chart: the clients were answered, not given errors, while the money went wrong
    total = sum(v["count"] for v in results["invariants"] if v["status"] == "violated")
    assert said["note"] is not None
    assert said["note"].startswith(
        f"⚠ The clients {incident.told} while the money went wrong: no operation of "
    )
    assert f"yet the invariants found {total:,} violation(s) (" in said["note"]
    assert all(f"{name}: " in said["note"] for name in incident.violated)
    note, chart = said["noteBox"], said["chartBox"]
    assert 0 <= chart[1] - note[3] < 40, (note, chart)  # right above the chart

    # what broke: a section per violated invariant with its promise; money in CNY; nothing spilling out
    broke = page.evaluate(BROKE)
    assert [s["title"] for s in broke["sections"]] == [f"{n} violated" for n in incident.violated]
    assert [s["promise"] for s in broke["sections"]] == [
        f"Promise: {REGISTRY[n].promise}" for n in incident.violated
    ]
    assert said["promises"] == [s["promise"] for s in broke["sections"]]
    assert broke["money"]
    for text, title in broke["money"]:
        assert text == cny(int(title.removesuffix(" in minor units"))), (text, title)
    assert broke["spilled"] == 0
    verdicts = {v["invariant"]: v for v in results["invariants"]}
    for section in broke["sections"]:
        kept = len(verdicts[section["title"].removesuffix(" violated")]["examples"])
        left_out = sum(int(n) for n, _ in section["notShown"])
        assert section["shown"] >= 1, section
        assert section["shown"] + left_out == kept, section  # the rest said to be left out, and where
        assert all("every violator is in violations.csv" in text for _, text in section["notShown"]), section

    # the files of every violator, linked first under What broke, beside the page
    files = broke["files"]
    assert files is not None
    assert files["after"] == "H2"
    assert files["csv"] == (run / "violations.csv").as_uri()
    assert files["links"] == [(run / "violations.csv").as_uri(), (run / "violations.jsonl").as_uri()]
    assert f"({results['violations']['rows']:,} rows;" in files["text"]
    with open(run / "violations.csv", newline="") as listed:
        first = next(r for r in csv.DictReader(listed) if r["invariant"] == incident.featured)

    # the incident's story, in the featured invariant's first example
    drawn = page.evaluate(f"{EXAMPLE}({json.dumps(_slug(incident.featured))})")
    kept_example = verdicts[incident.featured]["examples"][0]
    assert drawn["visible"]
    assert drawn["heading"] == f"example 1 of {verdicts[incident.featured]['count']}"
    assert drawn["kv"]["remedy"] == first["remedy"] == kept_example["remedy"]  # as violations.csv says
    incident.story(drawn, kept_example)
    assert page.console_errors == []  # reading the page raised nothing either


def _statuses(page: Page) -> list[str]:
    statuses: list[str] = page.evaluate(
        "Array.from(document.querySelectorAll('#invariants tbody tr[data-invariant]')).map(tr => tr.dataset.status)"
    )
    return statuses
