"""walletpay as containers: the image built from this machine's Python runs, and the whole detection
matrix of targets/walletpay (a Compose project) comes out as expected.

Without a Docker engine (or Compose) these tests skip, saying why; where Docker is required
(CI: PAYCHAOS_REQUIRE_DOCKER=1) they fail instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paychaos_targets.walletpay import image as walletpay_image
from tests.conftest import ROOT
from tests.support.docker import engine_or_skip, unavailable

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.slow]


def _compose_works() -> bool:
    if shutil.which("docker-compose"):
        return True
    answer = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return answer.returncode == 0


@pytest.fixture(scope="module")
def image() -> str:
    engine_or_skip().close()
    if shutil.which("docker") is None:
        unavailable("the docker command is not installed")
    walletpay_image.build(quiet=True)  # does nothing when an image of this content is there
    return walletpay_image.IMAGE


def test_the_image_runs_walletpay_on_this_machines_python(image: str) -> None:
    code = "import asyncpg, aiohttp, ssl, paychaos_targets.walletpay.api, paychaos_targets.walletpay.worker"
    answer = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", image, "python", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    labels = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert walletpay_image.LABEL in labels


def test_a_build_of_the_same_content_is_skipped(image: str) -> None:
    before = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    walletpay_image.build(quiet=True)
    after = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert before == after


@pytest.mark.timeout(1800)
def test_the_walletpay_matrix_comes_out_as_expected(image: str, tmp_path: Path) -> None:
    """Both experiments pass on the correct stack; each defect fails its experiment on its invariants."""
    if not _compose_works():
        unavailable("neither docker-compose nor `docker compose` is installed")
    answer = subprocess.run(
        [
            sys.executable,
            "-m",
            "paychaos.cli",
            "matrix",
            str(ROOT / "targets" / "walletpay"),
            "--jobs",
            "2",
            "--out",
            str(tmp_path),
            "--markdown",
            str(tmp_path / "matrix.md"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1700,
        check=False,
    )
    assert answer.returncode == 0, f"{answer.stdout}\n{answer.stderr}"
    table = (tmp_path / "matrix.md").read_text()
    for row in ("double-capture", "fulfil-every-report", "lost-claim"):
        assert row in table
