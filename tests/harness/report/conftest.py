"""Sample runs (trimmed copies of real ones) copied into each test's tmp dir, so tests may write into them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = ("passing-hello", "failing-retry-new-key", "failing-drop-on-overload")


def sample_results(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "results.json").read_text())
    return data


def make_not_exercised(run: Path) -> dict[str, Any]:
    """Turn a copied sample run into one that did not exercise what it requires, as the runner writes
    it: its fault f1 never acted (an HTTP fault that matched nothing) and no payment was voided."""
    from paychaos._results import not_exercised

    results: dict[str, Any] = json.loads((run / "results.json").read_text())
    coverage = [
        {"name": "operations", "description": "client operations sent", "value": 1049, "required": None,
         "met": None, "error": None},
        {"name": "voids", "description": "debit and payout keys cancelled before anything moved",
         "value": 0, "required": 1, "met": False, "error": None},
        {"name": "fault f1 acted", "description": "times the http fault f1 acted", "value": 0,
         "required": 1, "met": False, "error": None},
    ]  # fmt: skip
    results.update(coverage=coverage, verdict="not exercised", exit_code=3, error=not_exercised(coverage))
    (run / "results.json").write_text(json.dumps(results))
    return results


@pytest.fixture
def sample_run(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a sample run folder into tmp_path; return its path."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(FIXTURES / name, tmp_path / name))

    return copy
