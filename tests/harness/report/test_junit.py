"""JUnit XML: one suite per run, one case per invariant, counts CI systems read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from paychaos.report import write_junit
from tests.harness.report.conftest import sample_results


def _write(results: dict[str, Any], tmp_path: Path, **kwargs: Any) -> ET.Element:
    path = write_junit(results, tmp_path / "out" / "junit.xml", **kwargs)
    assert path == tmp_path / "out" / "junit.xml"
    return ET.parse(path).getroot()


def _counts(element: ET.Element) -> tuple[int, int, int]:
    return int(element.get("tests", -1)), int(element.get("failures", -1)), int(element.get("errors", -1))


def _properties(suite: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}


def test_a_passing_run_is_one_passing_test_per_invariant(tmp_path: Path) -> None:
    root = _write(sample_results("passing-hello"), tmp_path)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "hello"
    assert _counts(root) == _counts(suite) == (10, 0, 0)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "exactly_once_debit", "eventual_refund", "merchant_notified", "no_stuck_orders", "conservation",
        "credit_limit", "amount_integrity", "no_double_payout", "idempotent_replay", "slo",
    ]  # fmt: skip
    assert {c.get("classname") for c in cases} == {"paychaos.hello"}
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    assert cases[1].findtext("system-out") == (
        "promise: Every debit of a payment that did not succeed is refunded, in full.\n"
        "holds, checked 1,116 posted debits; converged 0.267s after the heal"
    )
    promises = {c.get("name"): c.find("properties/property[@name='promise']") for c in cases}
    assert all(p is not None for p in promises.values())
    assert promises["slo"].get("value") == (  # type: ignore[union-attr]
        "Error rate and latency percentiles stay within limits in each phase (steady, fault, recovery)."
    )
    props = _properties(suite)
    assert props["status"] == "completed"
    assert props["verdict"] == "held"
    assert props["exit_code"] == "0"
    assert props["report"] == str(tmp_path / "out" / "report.html")
    assert props["command"] == "paychaos run experiments/hello.yaml --quick"
    assert float(suite.get("time", 0)) == pytest.approx(16.36, abs=0.01)


def test_a_default_invariant_the_run_did_not_check_is_a_skipped_case(tmp_path: Path) -> None:
    results = sample_results("passing-hello")
    results["not_checked"] = {"payouts_match_ledger": "left out by the experiment: no payouts here"}
    root = _write(results, tmp_path)
    (suite,) = root.findall("testsuite")
    assert _counts(suite) == (11, 0, 0)
    assert root.get("skipped") == suite.get("skipped") == "1"
    skipped = [c for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ["payouts_match_ledger"]
    assert skipped[0].find("skipped").get("message") == (  # type: ignore[union-attr]
        "not checked: left out by the experiment: no payouts here"
    )


def test_a_violated_invariant_is_a_failure_with_its_summary_and_first_examples(tmp_path: Path) -> None:
    root = _write(sample_results("failing-retry-new-key"), tmp_path, report="reports/run-1/report.html")
    (suite,) = root.findall("testsuite")
    assert _counts(root) == _counts(suite) == (5, 2, 0)
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["exactly_once_debit"].find("failure")
    assert failure is not None
    assert failure.get("message") == "64 violation(s): 64 order(s) debited wrongly"
    text = failure.text or ""
    assert text.startswith(
        "promise: No order has more than one net debit, and every payment that succeeded has one.\n"
        "exactly_once_debit: 64 violation(s): 64 order(s) debited wrongly\nchecked 1,653 posted debits\n"
    )
    # a double debit reads as both postings, with keys, amounts and times, and the operations behind them
    assert "example 1 of 64:" in text
    assert "order_id: order-0-1-57" in text
    assert "- key=pay:dde640d4-f8ef-4b5a-be05-614031a2530e, payment_id=dde640d4" in text
    assert "amount=38725, at=2026-11-22T01:10:57.603299+00:00" in text
    assert "- id=op-0-1-59, kind=pay_retry, outcome=ok, status=200" in text
    assert "example 4 of 64" not in text
    assert "… and 61 more (the report holds up to 20: reports/run-1/report.html)" in text
    assert cases["idempotent_replay"].find("failure") is not None
    assert cases["eventual_refund"].find("failure") is None
    assert _properties(suite)["defects"] == "retry-new-key"


def test_could_not_check_is_an_error(tmp_path: Path) -> None:
    results = sample_results("failing-drop-on-overload")
    results["invariants"][3].update(status="could_not_check", reason="evidence database: TimeoutError")
    (suite,) = _write(results, tmp_path).findall("testsuite")
    assert _counts(suite) == (4, 1, 1)
    error = suite.findall("testcase")[3].find("error")
    assert error is not None
    assert error.get("message") == "could not check: evidence database: TimeoutError"
    assert error.get("type") == "could_not_check"


def test_a_run_that_errored_before_any_invariant_is_one_errored_case(tmp_path: Path) -> None:
    results = sample_results("passing-hello")
    results.update(status="error", verdict="error", exit_code=3, invariants=[],
                   error="steady state not reached: bank is not healthy; see logs/bank.log")  # fmt: skip
    results["phases"][2]["status"] = "failed"
    root = _write(results, tmp_path)
    (suite,) = root.findall("testsuite")
    assert _counts(root) == _counts(suite) == (1, 0, 1)
    (case,) = suite.findall("testcase")
    assert (case.get("classname"), case.get("name")) == ("paychaos.hello", "run")
    error = case.find("error")
    assert error is not None
    assert error.get("message") == "steady state not reached: bank is not healthy; see logs/bank.log"
    assert "failed in phase: steady state" in (error.text or "")
    assert _properties(suite)["error"] == results["error"]


def test_an_interrupted_run_is_an_errored_case_too(tmp_path: Path) -> None:
    results = sample_results("passing-hello")
    results.update(
        status="interrupted", verdict="interrupted", exit_code=130, invariants=[], error="interrupted"
    )
    (suite,) = _write(results, tmp_path).findall("testsuite")
    assert _counts(suite) == (1, 0, 1)
    assert suite.findall("testcase")[0].find("error").get("type") == "interrupted"  # type: ignore[union-attr]


def test_text_xml_cannot_carry_is_replaced_not_written(tmp_path: Path) -> None:
    results = sample_results("failing-drop-on-overload")
    results["invariants"][0]["reason"] = "bad \x00 byte \x1b[31m & <tag>"
    (suite,) = _write(results, tmp_path).findall("testsuite")
    failure = suite.findall("testcase")[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "276 violation(s): bad \ufffd byte \ufffd[31m & <tag>"


def test_amounts_are_in_the_target_currency_when_the_run_recorded_it(tmp_path: Path) -> None:
    results = sample_results("failing-retry-new-key")
    results["target"]["currency"] = {"code": "CNY", "minor_unit": 2}
    (suite,) = _write(results, tmp_path).findall("testsuite")
    failure = suite.find("testcase[@name='exactly_once_debit']/failure")
    assert failure is not None
    assert "account=cust-00444, amount=387.25 CNY, at=2026-11-22T01:10:57.603299+00:00" in (
        failure.text or ""
    )
    assert "net_debits: 3" in (failure.text or "")
