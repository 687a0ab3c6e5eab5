"""pytest collects experiment files as tests: ``pytest --paychaos experiments/``.

Opt-in: without ``--paychaos`` no YAML file is collected, and the harness is
not even imported (this module imports nothing of it at load time). With it,
every ``*.yaml`` / ``*.yml`` file that is an experiment (a mapping with
``name`` and ``target``) becomes one test item named after the experiment, so
``-k``, ``--junitxml`` and the rest of pytest work as usual. An item passes
when every invariant held; a violation fails it with the violated invariants,
their first examples and the report's path.

A file that does not load is never skipped in silence, so a CI gate cannot
shrink unnoticed: an experiment that breaks paychaos's rules, and a file that is
not even YAML but has an experiment's top-level ``name:`` and ``target:``, each
become an item (named after the file) that fails with the located error.

    pytest --paychaos --paychaos-quick experiments/          # the CI suite
    pytest --paychaos experiments/hello.yaml -k hello
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from paychaos._results_model import Results
    from paychaos.rundir import RunDir


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paychaos", "paychaos experiments as tests")
    group.addoption("--paychaos", action="store_true", help="collect paychaos experiment YAML files as tests")
    group.addoption("--paychaos-quick", action="store_true", help="run each experiment's --quick profile")
    group.addoption(
        "--paychaos-out", default="reports", help="where runs write their reports (default: reports)"
    )
    group.addoption("--paychaos-defect", action="append", default=[], metavar="NAME",
                    help="switch a defect of the target on for every experiment (repeatable)")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "paychaos: a paychaos experiment collected from a YAML file")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("paychaos") or file_path.suffix not in (".yaml", ".yml"):
        return None
    if not _looks_like_an_experiment(file_path):
        return None
    return ExperimentFile.from_parent(parent, path=file_path)


_TOP_LEVEL_KEY = r"(?m)^{key}\s*:"


def _looks_like_an_experiment(path: Path) -> bool:
    """A mapping with ``name`` and ``target``; or, when the file does not parse, one that reads like it."""
    import yaml

    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return all(re.search(_TOP_LEVEL_KEY.format(key=key), text) for key in ("name", "target"))
    return isinstance(data, dict) and "name" in data and "target" in data


def _experiment_name(path: Path) -> str:
    """The experiment's ``name``; the file's name when it has none that can be read."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return path.stem
    return str(data["name"]) if isinstance(data, dict) and data.get("name") is not None else path.stem


class ExperimentFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        item = ExperimentItem.from_parent(self, name=_experiment_name(self.path))
        item.add_marker(pytest.mark.paychaos)
        return [item]


class ExperimentFailed(Exception):
    def __init__(self, summary: str, lines: list[str]) -> None:
        super().__init__(summary)
        self.lines = lines


class ExperimentItem(pytest.Item):
    def runtest(self) -> None:
        from rich.console import Console

        from paychaos.errors import InvalidInput
        from paychaos.experiment import load_experiment
        from paychaos.invariants import REGISTRY
        from paychaos.report import run_summary
        from paychaos.run import RunOptions, run_experiment
        from paychaos.rundir import RunDir

        config = self.config
        try:
            file = load_experiment(self.path, invariants=REGISTRY)
        except InvalidInput as exc:
            raise ExperimentFailed("invalid experiment", str(exc).splitlines()) from None
        options = RunOptions(
            out=Path(config.getoption("paychaos_out")),
            defects=tuple(config.getoption("paychaos_defect")),
            quick=bool(config.getoption("paychaos_quick")),
            quiet=True,
        )
        result = run_experiment(file, options, Console(quiet=True))
        folder = RunDir(result.run_dir)
        self.user_properties.append(("report", str(folder.report)))
        if int(result.exit_code) != 0:
            results = folder.read_results_model()
            raise ExperimentFailed(run_summary(results), _details(results, folder))

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ExperimentFailed):
            return "\n".join([str(excinfo.value), *excinfo.value.lines])
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"paychaos experiment {self.name}"


def _details(results: Results, folder: RunDir) -> list[str]:
    lines = []
    for verdict in results.invariants:
        if verdict.status == "holds":
            continue
        lines.append(f"  {verdict.invariant}: {verdict.status} ({verdict.count}) {verdict.reason}")
        for example in verdict.examples[:3]:
            brief = {k: v for k, v in example.items() if not isinstance(v, list | dict)}
            lines.append(f"    e.g. {brief}")
    lines.append(f"report: {folder.report}")
    return lines
