"""The README's examples stay true: its experiment validates, its commands exist, its sample output is
what a run prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


# -- the sample output: what `make demo` prints, kept so by running hello --------------------------

_SAMPLE = re.compile(r"checks every invariant:\n\n```\n(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_REPORT = re.compile(r"^report: \S*/(\d{8}-\d{6}-[\w.-]+)/report\.html$")


def sample_output() -> str:
    found = _SAMPLE.search(README)
    assert found, "the README's sample output (after 'checks every invariant:') is gone"
    return found.group(1)


def shape(line: str) -> str:
    """A line with what differs between runs masked: numbers (counts, seconds, pids), the report's
    folder, the width of aligned columns; indented or not."""
    line = _REPORT.sub(r"report: PATH/\1/report.html", line.rstrip())
    masked = " ".join(_NUMBER.sub("N", line).split())
    return ("  " if line.startswith(" ") else "") + masked


def _progress(line: str) -> bool:
    """The load's progress line (every 5 s): how many there are depends on timing."""
    return line.lstrip().startswith("t=")


def sample_differences(sample: str, printed: str) -> list[str]:
    """How the README's sample differs from what a run printed, line shape by line shape; [] if not.

    In the sample, a line ``  …`` stands for one or more indented lines, and a line ending in ``…``
    for a line that starts the same way. Progress lines are compared apart: each shown must have
    the shape of one printed (their number depends on timing).
    """
    want = [shape(line) for line in sample.splitlines() if line.strip() and not _progress(line)]
    got = [shape(line) for line in printed.splitlines() if line.strip() and not _progress(line)]
    progress = {shape(line) for line in printed.splitlines() if _progress(line)}
    problems = [f"progress line not printed so: {line}" for line in sample.splitlines()
                if _progress(line) and shape(line) not in progress]  # fmt: skip
    if not [line for line in sample.splitlines() if _progress(line)] and progress:
        problems.append("the sample shows no progress line; a run prints them")

    def fits(w: int, g: int) -> bool:  # want[w:] matches got[g:]
        if w == len(want):
            return g == len(got)
        if want[w] == "  …":  # one or more indented lines
            return any(fits(w + 1, end) for end in range(g + 1, len(got) + 1)
                       if all(line.startswith("  ") for line in got[g:end]))  # fmt: skip
        if g == len(got):
            return False
        if want[w].endswith("…"):
            return got[g].startswith(want[w].rstrip("…").rstrip()) and fits(w + 1, g + 1)
        return want[w] == got[g] and fits(w + 1, g + 1)

    if not fits(0, 0):
        # name the first line that differs, for the message
        for i, (w, g) in enumerate(zip(want, got, strict=False)):
            if w != g and not w.endswith("…"):
                problems.append(f"line {i + 1}: the README shows {w!r}, a run prints {g!r}")
                break
        else:
            problems.append(f"the README shows {len(want)} lines, a run prints {len(got)}")
    return problems


PRINTED = """\
▸ prepare
▸ target up  paystack, defects: none
  Toxiproxy backend: embedded (paychaos's own server (pid 27731))
▸ steady state
▸ load  10 users, 10s
  t=  0.1s of 10s (  10s left)     0.0 op/s  errors   0.0%  p99      0ms  operations 0  faults: none
     2.5s  applied gateway_bank: toxic=latency, stream=downstream, toxicity=1.0, latency=300ms
  t=  5.1s of 10s (   5s left)   143.0 op/s  errors   0.0%  p99    331ms  operations 717  faults: gateway_bank: toxic=latency, stream=downstream, toxicity=1.0, latency=300ms
     7.6s  healed gateway_bank: toxic=latency, stream=downstream, toxicity=1.0, latency=300ms
▸ heal
▸ settle  up to 20s
▸ verify
  exactly_once_debit     holds
  eventual_refund        holds
  merchant_notified      holds
  clients_told_the_truth holds
  coverage: operations 1310, unknown_outcomes 0, forged_requests 234, payments_succeeded 769, payments_failed 84
  evidence saved in evidence/: 14 tables, 12,664 rows, 0.4 MB, in 0.1s
▸ report
PASSED hello: 17 invariant(s) held
report: /tmp/x/20261202-024822-hello/report.html
"""  # what `paychaos run experiments/hello.yaml --quick` printed (shortened), for the matcher's own tests


def test_the_sample_matcher_masks_numbers_and_paths_but_not_words() -> None:
    sample = PRINTED.replace("(pid 27731)", "(pid 4242)").replace("12,664 rows", "812 rows")
    sample = sample.replace("/tmp/x/20261202-024822-hello", "reports/20261201-173000-hello")
    sample = sample.replace("  merchant_notified      holds\n", "  …\n")
    sample = sample.replace("payments_succeeded 769, payments_failed 84", "payments_succeeded 769, …")
    assert sample_differences(sample, PRINTED) == []
    wrong = sample.replace("▸ prepare\n▸ target up", "▸ target up")
    assert sample_differences(wrong, PRINTED) == [
        "line 1: the README shows '▸ target up paystack, defects: none', a run prints '▸ prepare'"]  # fmt: skip
    assert sample_differences(sample.replace("  evidence saved", "  proof saved"), PRINTED)
    assert sample_differences(sample.replace("faults: none", "faults: nothing"), PRINTED) == [
        "progress line not printed so: "
        "  t=  0.1s of 10s (  10s left)     0.0 op/s  errors   0.0%  p99      0ms  operations 0  faults: nothing"]  # fmt: skip
    missing = "\n".join(line for line in sample.splitlines() if "evidence saved" not in line)
    assert sample_differences(missing, PRINTED) != []


@pytest.mark.slow
@pytest.mark.integration
def test_the_sample_output_is_what_a_run_prints(tmp_path: Path) -> None:
    """The README's sample of `make demo` (hello.yaml) against a real run of it, --quick."""
    done = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "run", "experiments/hello.yaml", "--quick", "--out",
         str(tmp_path / "reports")],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert sample_differences(sample_output(), done.stdout) == [], done.stdout
