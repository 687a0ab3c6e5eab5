"""paychaos installs anywhere: the wheel built from the checkout, in a fresh virtualenv, far from the checkout.

One wheel is built (from a copy of the checkout, so no build/ or egg-info is written into it) and
installed into a new virtualenv without system site-packages; its dependencies come from pip's
configured index. Then, in an empty folder outside the checkout and with an environment that
points nowhere into it, the installed ``paychaos`` must do what the README's Install section
says: import under its own names only, ``init`` a target, ``validate`` it, print its schemas, and
find every file it reads at runtime (the wheel must hold them).

Building and installing need the package index (setuptools for the build, the dependencies for
the install; pip's cache makes both quick). If it cannot be reached the tests skip, saying so,
unless CI=true: there they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NoReturn

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]

WHEEL_NAME = "paychaos-0.1.0-py3-none-any.whl"
FOLDERS = {"harness": "paychaos", "targets": "paychaos_targets"}  # as setup.py maps them
# Files of the two folders the wheel leaves out: documentation, never read at runtime. Every
# other file there is shipped, so a new data file cannot be forgotten in the package data.
NOT_SHIPPED = {"targets/paystack/README.md", "targets/walletpay/README.md"}
PAYSTACK_SERVICES = ("bank", "gateway", "merchant", "notifier", "reconciler")
# What the code reads at runtime beside its modules, by path relative to its own file.
RUNTIME_FILES = [
    "paychaos/py.typed",
    "paychaos/report/results.schema.json",  # paychaos schema results, validating results.json
    "paychaos/load/locustfile.py",  # the Locust process's -f
    "paychaos_targets/py.typed",
    "paychaos_targets/paystack/target.yaml",  # the sample target (paychaos stack up, demo)
    *(f"paychaos_targets/paystack/{s}/schema.sql" for s in PAYSTACK_SERVICES),  # each service's tables
]
# The build and the install may take this long (seconds). With pip's cache, on 2 cores busy with
# other work (load 8), they took ~5 s and ~30 s, and the whole module ~45 s.
BUILD_TIMEOUT, INSTALL_TIMEOUT = 90, 150
# pip's words when it cannot reach the index.
UNREACHABLE = (
    "NewConnectionError", "Failed to establish a new connection", "Could not fetch URL",
    "ConnectTimeoutError", "ReadTimeoutError", "ProxyError", "Name or service not known",
    "Temporary failure in name resolution", "Network is unreachable", "No route to host",
)  # fmt: skip
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "reports", "*.egg-info", "__pycache__", "*.pyc", ".*_cache",
    ".hypothesis", ".paychaos",
)  # fmt: skip


@dataclass(frozen=True)
class Installed:
    source: Path  # the copy of the checkout the wheel was built from
    wheel: Path
    venv: Path
    work: Path  # an empty folder outside the checkout, the commands' current folder
    env: Mapping[str, str]  # no PYTHONPATH, no virtualenv, no PATH entry inside the checkout

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A command of the virtualenv (``python``, ``paychaos``), run in ``work``."""
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]], cwd=self.work, env=dict(self.env),
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unreachable(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the index must be reachable)")
    pytest.skip(reason)


def _pip(python: Path | str, args: list[str], *, what: str, timeout: float) -> None:
    """Run pip; skip (fail in CI) when the index cannot be reached, fail on any other error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    # In the environment, so that the pip installing the build requirements has them too.
    env |= {"PIP_DEFAULT_TIMEOUT": "20", "PIP_RETRIES": "2", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    command = [str(python), "-m", "pip", *args]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        _unreachable(f"{what}: pip took more than {timeout}s; the package index is unreachable or slow")
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    said = [line.strip() for line in output.splitlines() if any(word in line for word in UNREACHABLE)]
    if said:
        _unreachable(f"{what}: the package index cannot be reached (pip: {said[0][:300]})")
    pytest.fail(f"{what} failed (exit code {done.returncode}):\n{output[-4000:]}")


def _setuptools_builds() -> bool:
    """Whether this interpreter's setuptools meets pyproject.toml's build requirement (>= 77)."""
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= 77
    except (metadata.PackageNotFoundError, ValueError):
        return False


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT), f"{base} is inside the checkout; set another TMPDIR"
    # The build reads a copy of the checkout: setuptools writes build/ and *.egg-info beside the
    # sources, and a stale build/lib would put removed files in the wheel.
    source, dist = base / "source", base / "dist"
    shutil.copytree(ROOT, source, ignore=IGNORED, symlinks=True)
    # The dev virtualenv's setuptools builds at once where it is recent enough (no index needed);
    # otherwise pip fetches pyproject.toml's build requirements into an isolated environment.
    isolation = ["--no-build-isolation"] if _setuptools_builds() else []
    _pip(sys.executable, ["wheel", "--no-deps", *isolation, "-w", str(dist), str(source)],
         what="building the wheel", timeout=BUILD_TIMEOUT)  # fmt: skip
    wheel = dist / WHEEL_NAME
    assert wheel.is_file(), f"pip wheel wrote {sorted(p.name for p in dist.iterdir())}, not {WHEEL_NAME}"

    # This pip installs into the new virtualenv (--python): no pip of its own to set up, and no
    # byte-compiling of the ~80 dependencies (plotly's thousands of modules): half the time.
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False, clear=True).create(env_dir)
    _pip(sys.executable, ["--python", str(env_dir / "bin" / "python"), "install", "--quiet", "--no-compile",
                          str(wheel)], what="installing the wheel and its dependencies",
         timeout=INSTALL_TIMEOUT)  # fmt: skip

    work = base / "work"
    work.mkdir()
    inside = str(ROOT)
    path = [str(env_dir / "bin"), *(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                                    if p and not p.startswith(inside))]  # fmt: skip
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_")) and k not in ("VIRTUAL_ENV", "PWD", "OLDPWD")
           and inside not in v}  # fmt: skip
    env |= {"PATH": os.pathsep.join(path), "PYTHONNOUSERSITE": "1"}
    yield Installed(source, wheel, env_dir, work, env)
    shutil.rmtree(base, ignore_errors=True)  # ~200 MB, which pytest would keep for three sessions


def test_the_wheel_holds_the_two_import_names_and_every_file_read_at_runtime(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    tops = {name.split("/")[0] for name in names}
    assert tops == {"paychaos", "paychaos_targets", "paychaos-0.1.0.dist-info"}, tops
    assert not [n for n in names if n.startswith(("harness/", "targets/", "tests/"))]
    missing = [name for name in RUNTIME_FILES if name not in names]
    assert not missing, f"the wheel lacks files the code reads: {missing}"
    # Every file of the two folders (as built) is in the wheel under its import name, but the docs
    # listed: a data file in a folder without __init__.py, or of a kind package-data misses, fails.
    for folder, package in FOLDERS.items():
        for path in sorted((installed.source / folder).rglob("*")):
            shown = path.relative_to(installed.source).as_posix()
            if path.is_dir() or shown in NOT_SHIPPED:
                continue
            shipped = f"{package}/{path.relative_to(installed.source / folder).as_posix()}"
            assert shipped in names, f"{shown} is not in the wheel (as {shipped}): add it to the package data"
    metadata_text = zipfile.ZipFile(installed.wheel).read("paychaos-0.1.0.dist-info/METADATA").decode()
    assert "Provides-Extra: paystack" in metadata_text
    entry_points = zipfile.ZipFile(installed.wheel).read("paychaos-0.1.0.dist-info/entry_points.txt").decode()
    assert "paychaos = paychaos.cli:main" in entry_points


def test_only_the_paychaos_names_import_and_from_the_virtualenv(installed: Installed) -> None:
    for generic in ("harness", "targets"):
        done = installed.run("python", "-c", f"import {generic}")
        assert done.returncode != 0, f"import {generic} works outside the checkout: {done.stdout}"
        assert f"ModuleNotFoundError: No module named '{generic}'" in done.stderr, done.stderr
    show = "import paychaos, paychaos_targets.paystack; print(paychaos.__file__, paychaos_targets.__file__)"
    done = installed.run("python", "-c", show)
    assert done.returncode == 0, done.stderr
    for file in done.stdout.split():
        assert Path(file).is_relative_to(installed.venv), f"imported {file}, not the installed package"


def test_paychaos_version_and_schemas(installed: Installed) -> None:
    done = installed.run("paychaos", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "paychaos, version 0.1.0"
    for args, title in [((), "paychaos experiment"), (("target",), "paychaos target"),
                        (("--results",), None)]:  # fmt: skip
        done = installed.run("paychaos", "schema", *args)
        assert done.returncode == 0, f"paychaos schema {' '.join(args)}: {done.stderr}"
        assert '"$schema": "https://json-schema.org/draft/2020-12/schema"' in done.stdout
        assert title is None or f'"title": "{title}"' in done.stdout


def test_init_then_validate_as_init_says(installed: Installed) -> None:
    done = installed.run("paychaos", "init", "myshop")
    assert done.returncode == 0, done.stderr
    assert (installed.work / "myshop" / "target.yaml").is_file()
    assert (installed.work / "myshop" / "experiments" / "first.yaml").is_file()
    # init's last lines are the next steps; the validate one is run as written.
    (step,) = [line.split(". ", 1)[1] for line in done.stdout.splitlines() if "paychaos validate" in line]
    assert step == "paychaos validate myshop/experiments/first.yaml"
    done = installed.run(*step.split())
    assert done.returncode == 0, f"{step}:\n{done.stdout}{done.stderr}"
    assert "myshop/experiments/first.yaml: ok (first against myshop)" in done.stdout


def test_the_installed_sample_stack_finds_its_files(installed: Installed) -> None:
    # Each file is read where the installed code looks for it, and the README's first experiment
    # validates against the installed sample target (its scenario module imported from there).
    check = """
from importlib import resources
from paychaos.cli import SAMPLE_TARGET
from paychaos.load._locust import LOCUSTFILE
from paychaos.report import results_schema
from paychaos_targets.paystack import SERVICES
assert LOCUSTFILE.is_file(), LOCUSTFILE
assert results_schema()["$id"].endswith("results-1.json")
for service in SERVICES:
    assert "CREATE" in resources.files(f"paychaos_targets.paystack.{service}").joinpath("schema.sql").read_text()
print(SAMPLE_TARGET)
"""
    done = installed.run("python", "-c", check)
    assert done.returncode == 0, done.stderr
    target = Path(done.stdout.strip())
    assert target.is_file()
    assert target.is_relative_to(installed.venv)
    hello = (ROOT / "experiments" / "hello.yaml").read_text()
    assert "target: {path: ../targets/paystack}" in hello
    (installed.work / "hello.yaml").write_text(hello.replace("../targets/paystack", str(target)))
    done = installed.run("paychaos", "validate", "hello.yaml")
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"
    assert "hello.yaml: ok (hello against paystack)" in done.stdout


def test_the_readme_install_section_gives_these_commands() -> None:
    (section,) = re.findall(r"\n## Install\n(.*?)\n## ", (ROOT / "README.md").read_text(), re.DOTALL)
    for command in [
        "python -m pip wheel --no-deps -w dist .",
        f"python -m pip install dist/{WHEEL_NAME}",
        f"python -m pip install 'dist/{WHEEL_NAME}[paystack]'",
        'python -m pip install "paychaos[paystack] @ git+https://',
        "paychaos --version",
        "paychaos init myshop",
        "paychaos validate myshop/experiments/first.yaml",
    ]:
        assert command in section, command
