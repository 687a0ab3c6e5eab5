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


@pytest.fixture
def sample_run(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a sample run folder into tmp_path; return its path."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(FIXTURES / name, tmp_path / name))

    return copy
