"""Hostile and absurd input never crashes or hangs paychaos: it is refused, located, with exit 2.

The corpus in ``hostile/`` (written by ``hostile/generate.py``) goes through ``paychaos validate``
one file at a time in this process, and all at once in a real ``paychaos`` process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from paychaos._yaml import MAX_BYTES
from paychaos.cli import main
from paychaos.errors import InvalidInput
from paychaos.run._plan import _claim_run_id as _run_id
from tests.conftest import ROOT
from tests.harness.experiment.hostile import generate

HOSTILE = Path(__file__).with_name("hostile")
CORPUS = sorted(HOSTILE.glob("*.yaml"))
PAYSTACK = ROOT / "targets" / "paystack"
# file:line:col: at the start of every line of a refusal, but the summary of problems left out
LOCATED = re.compile(r"^(?:\S+:\d+:\d+: |… and [\d,]+ more problems$)")


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    code = main(["validate", str(path)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    return code, out + err, elapsed


def test_the_corpus_is_large_and_what_generate_writes() -> None:
    wanted = generate.corpus()
    on_disk = {
        str(p.relative_to(HOSTILE)) for p in [*HOSTILE.glob("*.yaml"), *HOSTILE.glob("targets/*.yaml")]
    }
    assert on_disk == set(wanted), "run tests/harness/experiment/hostile/generate.py"
    assert all((HOSTILE / name).read_bytes() == data for name, data in wanted.items())
    assert len(CORPUS) >= 100


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_validate_answers_every_hostile_file_quickly_with_0_or_2(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output, elapsed = _validate(path, capsys)  # anything but PaychaosError escapes main: a failure
    assert "Traceback" not in output
    assert code == (0 if path.name.startswith("ok-") else 2), output
    assert elapsed < 5, f"{path.name} took {elapsed:.1f}s"
    if code == 2:
        lines = output.removeprefix("paychaos: ").splitlines()
        assert all(LOCATED.match(line) for line in lines), output


@pytest.mark.slow
def test_the_paychaos_process_answers_the_whole_corpus_at_once() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "validate", *map(str, CORPUS)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.count(": ok (") == sum(p.name.startswith("ok-") for p in CORPUS)


# -- files too large to keep in the corpus ------------------------------------------------------


def _experiment(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(f"name: big\ntarget: {{path: {PAYSTACK}}}\nload: {{users: 2, duration: 10s}}\n{body}")
    return path


def test_a_50_mb_file_of_faults_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fault = "  - {at: 2s, duration: 3s, link: gateway_bank, toxic: latency, latency: 100ms}\n"
    path = _experiment(tmp_path, "faults:\n" + fault * (50 * 1024 * 1024 // len(fault)))
    code, output, elapsed = _validate(path, capsys)
    assert code == 2
    assert re.search(
        r"x\.yaml:1:1: the file is 52,428,\d{3} bytes; paychaos reads YAML files of at most 1 MiB", output
    )
    assert elapsed < 5


def test_a_file_just_under_the_size_limit_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _experiment(tmp_path, "description: " + "word " * (MAX_BYTES // 5 - 50) + "\n")
    assert MAX_BYTES - 300 < path.stat().st_size <= MAX_BYTES
    code, output, elapsed = _validate(path, capsys)
    assert code == 0, output
    assert elapsed < 5


def test_an_endless_experiment_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, output, _ = _validate(Path("/dev/zero"), capsys)
    assert code == 2
    assert "/dev/zero:1:1: the file is more than 1 MiB" in output


# -- the run folder -----------------------------------------------------------------------------
# (These test how a run claims its folder: harness/run/_plan.py.)


def test_runs_started_together_each_get_a_folder_of_their_own(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: _run_id(tmp_path, "same"), range(24)))
    assert len(set(ids)) == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ids)


@pytest.mark.parametrize(
    ("out", "name", "message"),
    [
        ("/proc", "x", r"^/proc/\d{8}-\d{6}-x: cannot create the run folder: "),
        (
            "a-file/runs",
            "x",
            r"a-file/runs/\d{8}-\d{6}-x: cannot create the run folder: Not a directory; "
            r"set report.out \(or --out\) to a folder you can write to$",
        ),
        (".", "n" * 300, r"^\d{8}-\d{6}-n+: cannot create the run folder: File name too long"),
    ],
)
def test_a_run_folder_that_cannot_be_made_is_an_invalid_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, name: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("in the way")
    with pytest.raises(InvalidInput, match=message):
        _run_id(Path(out), name)


def test_run_with_an_unusable_out_exits_2_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    in_the_way = tmp_path / "reports"
    in_the_way.write_text("a file, not a folder")
    code = main(["run", str(ROOT / "experiments" / "hello.yaml"), "--out", str(in_the_way), "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2
    assert f"paychaos: {in_the_way}/" in err
    assert "cannot create the run folder: Not a directory" in err
