"""The mutants of bench/mutation_score.py still apply to the sample stacks as they are now, each
changes only its own stack, and each says in its first line what bug it models: a mutant that no
longer applies would be scored as nothing, and the score would quietly mean less."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

MUTANTS = ROOT / "bench" / "mutants"
PATCHES = sorted(MUTANTS.glob("*.patch")) + sorted((MUTANTS / "walletpay").glob("*.patch"))


def _target(patch: Path) -> str:
    return "walletpay" if patch.parent.name == "walletpay" else "paystack"


@pytest.mark.parametrize("patch", PATCHES, ids=[f"{_target(p)}/{p.stem}" for p in PATCHES])
def test_each_mutant_applies_to_its_own_stack_and_says_what_it_models(patch: Path) -> None:
    text = patch.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# "), f"{patch.name}: the first line says what bug it models"
    assert len(first) > 20, f"{patch.name}: the first line says what bug it models"
    touched = [line.split(" b/", 1)[1] for line in text.splitlines() if line.startswith("diff --git ")]
    assert touched, f"{patch.name}: no diff in it"
    assert all(path.startswith(f"targets/{_target(patch)}/") for path in touched), touched
    done = subprocess.run(["git", "apply", "--check", str(patch)], cwd=ROOT, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, f"{patch.name} no longer applies: {done.stderr}"


def test_there_are_mutants_of_both_stacks() -> None:
    assert {_target(p) for p in PATCHES} == {"paystack", "walletpay"}
    assert len(PATCHES) >= 46
