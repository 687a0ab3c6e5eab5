"""The quick-start demo, run as `make demo` runs it, here against an existing server (--db)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paychaos.postgres import Server
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_demo_pays_settles_and_passes_on_an_existing_server(postgres: Server, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paychaos_targets.paystack.demo", "--count", "60", "--db", postgres.dsn("postgres"),
         "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, cwd=ROOT, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASSED: every check holds" in result.stdout
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["burst"]["sent"] == 60
    orders = summary["states"]["orders"]
    assert set(orders) <= {"PAID", "FAILED"}  # every order settled
    assert orders.get("PAID", 0) == summary["burst"]["paid"]
    assert sum(orders.values()) == 60
    assert all(check["holds"] for check in summary["checks"].values())


def test_a_demo_that_cannot_start_exits_3_with_the_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paychaos_targets.paystack.demo", "--count", "1", "--db", "postgresql://nobody@127.0.0.1:1",
         "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 3
    assert "cannot connect to PostgreSQL at 127.0.0.1:1" in result.stderr
