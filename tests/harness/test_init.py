"""`paychaos init` writes a target that validates at once; docs/targets.md's examples validate too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paychaos.cli import main
from paychaos.errors import InvalidInput
from paychaos.experiment import load_experiment
from paychaos.init import scaffold, target_name
from paychaos.invariants import REGISTRY
from paychaos.system import load_target
from paychaos.validate import deep_check
from tests.conftest import ROOT

DOC = ROOT / "docs" / "targets.md"


def test_init_writes_the_target_and_the_experiment_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "acme"
    assert main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    target, experiment = folder / "target.yaml", folder / "experiments" / "first.yaml"
    assert target.is_file()
    assert experiment.is_file()
    assert f"wrote {target}" in out
    assert f"wrote {experiment}" in out
    assert f"paychaos validate {experiment}" in out
    assert f"paychaos run {experiment}" in out
    assert load_target(target).name == "acme"


def test_the_written_experiment_validates_as_paychaos_validate_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scaffold(tmp_path / "stack")
    experiment = tmp_path / "stack" / "experiments" / "first.yaml"
    assert main(["validate", str(experiment)]) == 0
    assert f"{experiment}: ok (first against stack)" in capsys.readouterr().out
    file = load_experiment(experiment, invariants=REGISTRY)
    assert deep_check(file) == []  # no module to import: the scenario is YAML steps
    target = file.target
    assert target.load is not None
    assert target.load.module is None
    assert target.load.payment is not None
    assert [s.kind for s in target.evidence.sources.values()] == ["sql"]
    assert len(target.services) == 1
    assert len(target.links) == 1


def test_a_folder_that_is_not_empty_is_refused_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is not empty" in err
    assert "--force" in err
    assert not (tmp_path / "target.yaml").exists()

    assert main(["init", "--force", str(tmp_path)]) == 0
    assert (tmp_path / "target.yaml").is_file()
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_an_empty_folder_is_used_and_a_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [p.name for p in scaffold(empty)] == ["target.yaml", "first.yaml"]
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(InvalidInput, match="is a file"):
        scaffold(file, force=True)


@pytest.mark.parametrize(
    ("folder", "name"), [("acme", "acme"), ("Acme Pay", "acme-pay"), ("2024_stack", "target-2024_stack")]
)
def test_the_target_is_named_after_its_folder(tmp_path: Path, folder: str, name: str) -> None:
    assert target_name(tmp_path / folder) == name
    scaffold(tmp_path / folder)
    assert load_target(tmp_path / folder).name == name


# -- docs/targets.md ---------------------------------------------------------------------------------

_BLOCK = re.compile(r"^```yaml\n(# target\.yaml\n.*?)^```", re.MULTILINE | re.DOTALL)
TARGET_BLOCKS = _BLOCK.findall(DOC.read_text())


def test_the_doc_has_target_examples() -> None:
    assert len(TARGET_BLOCKS) >= 10


@pytest.mark.parametrize("block", TARGET_BLOCKS, ids=[f"block{i}" for i in range(len(TARGET_BLOCKS))])
def test_every_target_example_in_the_doc_validates(tmp_path: Path, block: str) -> None:
    path = tmp_path / "target.yaml"
    path.write_text(block)
    load_target(path)  # the services' commands need not exist: loading starts nothing
