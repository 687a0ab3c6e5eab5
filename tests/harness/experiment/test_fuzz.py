"""No input file makes validation raise anything but a clean, located error."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paychaos.errors import InvalidInput
from paychaos.experiment import load_experiment
from paychaos.invariants import REGISTRY
from tests.conftest import ROOT

KEYS = ["name", "target", "path", "load", "users", "duration", "faults", "at", "link", "toxic", "latency",
        "shape", "type", "invariants", "guards", "metric", "above", "for", "seed", "quick", "settle",
        "service", "action", "config", "set", "stream", "toxicity", "defects", "args", "scenarios"]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
    st.sampled_from(["30s", "250ms", "latency", "gateway_bank", "spike", str(ROOT / "targets" / "paystack"),
                     "", "1m30s", "x" * 50, "pay", "exactly_once_debit", "p99"]),
    st.text(max_size=12),
)  # fmt: skip
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


def _clean_error(path: Path) -> str | None:
    """Load the file; None if it is valid, the message if it is not. Anything else propagates."""
    try:
        load_experiment(path, invariants=REGISTRY)
    except InvalidInput as exc:
        return str(exc)
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_any_document_validates_or_fails_cleanly(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.yaml"
        path.write_text(yaml.safe_dump(doc))
        problem = _clean_error(path)
        assert problem is None or problem.startswith(str(path))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_fail_cleanly(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.yaml"
        path.write_bytes(data)
        _clean_error(path)


# YAML text built from pieces that reach the reader's and composer's corners: anchors and aliases,
# complex and merge keys, tags, deep brackets, control characters, directives, odd numbers.
PIECES = st.sampled_from([
    "name: t\n", f"target: {{path: {ROOT / 'targets' / 'paystack'}}}\n", "load: ", "faults:\n", "  - ", "{", "}", "[",
    "]", ", ", ": ", "\n", "  ", "? ", "&a ", "*a", "&b ", "*b", "<<: ", "!!python/object ", "!!set ", "!!binary ",
    "!!timestamp ", "!!int ", "!evil ", "---\n", "...\n", "%YAML 1.1\n", "'", '"', "#", "\t", "\x07", "\x00", "\ufeff",
    "\\", "x", "1", "0s", "1e400", ".inf", ".nan", "2024-02-30", "9" * 400, "[" * 70, "]" * 70, "-", "|\n", ">\n",
])  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=40).map("".join))
def test_any_yaml_text_fails_cleanly_and_located(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.yaml"
        path.write_text(text, encoding="utf-8")
        problem = _clean_error(path)
        assert problem is None or re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", problem), problem
