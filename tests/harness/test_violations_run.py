"""A real failing run lists every violator in violations.csv and violations.jsonl, and its examples carry the
story of their order (paystack's uncapped promotion: hundreds of payments discounted beyond the caps)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from paychaos.report import validate_results
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_failing_run_exports_every_violator_with_its_remedy(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "run", str(ROOT / "experiments" / "promo-misconfig.yaml"),
         "--defect", "uncapped-promo", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = json.loads((run / "results.json").read_text())
    validate_results(results)
    violated = {v["invariant"]: v for v in results["invariants"] if v["status"] == "violated"}
    assert "amount_integrity" in violated
    assert violated["amount_integrity"]["count"] > 20  # more than results.json keeps as examples

    with (run / "violations.csv").open(newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    lines = [json.loads(line) for line in (run / "violations.jsonl").read_text().splitlines()]
    assert len(lines) == len(rows)
    for name, verdict in violated.items():  # every violator, not 20: as many rows as the verdict counts
        listed = [r for r in rows if r["invariant"] == name]
        assert len(listed) == verdict["count"] == verdict["exported"], name
        assert len(verdict["examples"]) <= 20
    assert results["violations"] == {
        "csv": "violations.csv", "jsonl": "violations.jsonl", "rows": len(rows), "error": None}  # fmt: skip
    assert f"violations: {len(rows):,} violator(s)" in result.stdout

    promo = [r for r in rows if r["invariant"] == "amount_integrity"]
    assert len({r["payment_id"] for r in promo}) == len(promo)  # one row per violator
    for row in promo:
        assert row["problem"] == "discount beyond the caps"
        assert row["order_id"]
        assert row["payment_id"]
        assert row["account"]
        assert row["amount"].endswith(" CNY")  # paystack's currency, with its decimals
        assert int(row["amount_minor"]) > 0
        assert row["remedy"].startswith(f"collect the {row['amount']} discounted beyond the caps on payment ")
        assert f"from account {row['account']}" in row["remedy"]

    # A payment that succeeded has every part of the story once the run has settled (a refunded or
    # declined one may have no fulfilment, rightly): notifications and a fulfilment included.
    examples = violated["amount_integrity"]["examples"]
    succeeded = [e for e in examples if [p["outcome"] for p in e["payments"]] == ["succeeded"]]
    assert succeeded, [p["outcome"] for e in examples for p in e["payments"]]
    example = succeeded[0]
    for told in ("client_operations", "orders", "payments", "ledger", "notifications_sent",
                 "notifications_received", "fulfilments"):  # fmt: skip
        assert example[told], told  # the whole story of the order, from every table paystack provides
    assert example["client_operations"][0]["key"] == f"order:{example['order_id']}"
    assert [p["payment_id"] for p in example["payments"]] == [example["payment_id"]]
    assert '<a href="violations.csv">violations.csv</a>' in (run / "report.html").read_text()
