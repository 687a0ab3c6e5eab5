"""Issue 12's two snippets, run for real against the sample stack.

* ``arrival_rate: 40`` for 20 s while the bank answers 1.5 s late for 10 s of it: an open loop
  keeps starting checkouts whatever the latency (a closed loop fell from ~190 to ~25 op/s here).
* ``http: lose_response`` on ``POST /debits``: every request it acts on is one journal line, each
  a debit the bank committed; and a rule that never matches makes the run "not exercised". The
  run's Toxiproxy is one the "user" runs (``--toxiproxy``): HTTP faults need no embedded backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paychaos.faults.toxiproxy_server import ToxiproxyServer
from paychaos.rundir import RunDir
from tests.harness.test_runner import _experiment, _results, _run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_open_loop_keeps_arriving_while_the_bank_is_slow(tmp_path: Path) -> None:
    experiment = _experiment(
        tmp_path,
        """
name: open-loop-slow-bank
seed: 40
load: {arrival_rate: 40, duration: 20s, max_users: 500, scenarios: {pay: 1}}
faults:
  - {at: 5s, duration: 10s, link: gateway_bank, toxic: latency, latency: 1500ms, label: bank slow}
exclude: {no_double_payout: this load sends no payouts}
settle: {timeout: 30s}
""",
    )
    result = _run(str(experiment), "--out", str(tmp_path / "runs"), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir, results = _results(tmp_path / "runs")
    load = results["load"]
    assert load["offered"] == load["started"] + load["dropped"]
    assert load["started"] >= 0.9 * 800, load  # 40/s × 20 s, whatever the bank's latency
    ops = list(RunDir(run_dir).read_history())
    slow = [o for o in ops if o.get("intended") and 6 <= o["intended"] - min(p["start"] for p in ops) <= 14]
    # Customers kept arriving while the bank was slow, and their wait counts from when they arrived.
    assert len(slow) >= 0.9 * 40 * 8
    assert all(o["intended"] <= o["start"] + 0.05 for o in slow)
    # The gateway gives up on the bank after 1 s: those checkouts waited at least that long.
    assert max(o["end"] - o["intended"] for o in slow if o["kind"] == "pay") >= 1.0


def test_lose_response_journals_every_request_it_acted_on_and_a_rule_that_never_fires_is_not_a_pass(
    tmp_path: Path,
) -> None:
    experiment = _experiment(
        tmp_path,
        """
name: lost-debit-answers
seed: 12
load: {users: 6, duration: 8s, scenarios: {pay: 1}}
faults:
  - at: 1s
    duration: 6s
    link: gateway_bank
    http:
      match: {method: POST, path: /debits}
      action: lose_response
      probability: 0.3
  - {at: 1s, duration: 6s, link: gateway_bank, http: {match: {path: /no-such-path}, action: abort}}
exclude: {no_double_payout: this load sends no payouts}
settle: {timeout: 30s}
""",
    )
    with ToxiproxyServer(port=0, seed=3).run_in_thread() as users_toxiproxy:
        result = _run(str(experiment), "--out", str(tmp_path / "runs"), "--toxiproxy", users_toxiproxy.url)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "fault f2 acted = 0, required >= 1" in result.stdout
    run_dir, results = _results(tmp_path / "runs")
    assert results["backend"]["kind"] == "external"
    assert {v["status"] for v in results["invariants"]} == {"holds"}  # the stack survived the losses
    lines = [json.loads(line) for line in RunDir(run_dir).http_faults.read_text().splitlines()]
    assert lines
    assert {(x["rule"], x["link"], x["method"], x["path"], x["action"]) for x in lines} == {
        ("f1", "gateway_bank", "POST", "/debits", "lose_response")
    }
    # the bank answered each (debited: 201; declined: 402) before the answer was lost
    assert {x["status"] for x in lines} <= {201, 402}
    counts = {c["name"]: c["value"] for c in results["coverage"]}
    assert counts["fault f1 acted"] == len(lines)
    # Each lost answer left the gateway not knowing: it asked the bank rather than guess.
    assert 1 <= counts["unknown_payments"] <= len(lines)
