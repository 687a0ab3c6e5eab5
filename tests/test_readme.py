"""The README's examples stay true: its experiment validates, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from paychaos.experiment import load_experiment
from paychaos.invariants import REGISTRY
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_documented_experiment_is_valid(tmp_path: Path) -> None:
    (block,) = re.findall(r"```yaml\n(name: double-debit-retry-storm.*?)```", README, re.DOTALL)
    path = tmp_path / "example.yaml"
    path.write_text(block.replace("../targets/paystack", str(ROOT / "targets" / "paystack")))
    file = load_experiment(path, invariants=REGISTRY)
    assert len(file.experiment.faults) == 7
    assert {type(f).__name__ for f in file.experiment.faults} == {
        "LinkFault", "HttpFaultSpec", "ProcessFaultSpec", "ContainerFaultSpec", "ConfigFaultSpec"}  # fmt: skip


def test_the_quick_start_is_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README
    assert "make test" in README
    assert "paychaos run experiments/hello.yaml" in makefile
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec make test")


def test_every_invariant_is_in_the_readme_table() -> None:
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", README, re.MULTILINE))
    missing = sorted(set(REGISTRY) - rows)
    assert not missing, f"add a row to the README's invariant table for: {', '.join(missing)}"
