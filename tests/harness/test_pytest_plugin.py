"""`pytest --paychaos`: experiment files as test items, end to end with pytester."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAYSTACK = ROOT / "targets" / "paystack"

PASSING = f"""
name: tiny-steady
target: {{path: {PAYSTACK}}}
load: {{users: 3, duration: 3s, scenarios: {{pay: 1}}}}
invariants: [exactly_once_debit, conservation]
"""

FAILING = f"""
name: tiny-promo
target: {{path: {PAYSTACK}, defects: [uncapped-promo]}}
load: {{users: 3, duration: 4s, scenarios: {{pay: 1}}}}
faults:
  - {{at: 0s, config: promotion, set: {{percent: 20, applies_to: all}}}}
invariants: [amount_integrity]
"""


def test_without_the_option_no_yaml_is_collected(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", steady=PASSING)
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    assert "no tests collected" in result.stdout.str()


def test_only_experiments_are_collected(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", steady=PASSING, other="just: [a, list]\n")
    pytester.makefile(".yml", broken="name: [unclosed\n")
    result = pytester.runpytest_subprocess("--paychaos", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["steady.yaml::tiny-steady", "*1 test collected*"])


def test_an_experiment_that_does_not_load_fails_with_its_location(pytester: pytest.Pytester) -> None:
    # Not YAML at all (an unclosed flow mapping), and valid YAML that breaks the experiment's rules:
    # neither may vanish from the suite, or a CI gate shrinks unnoticed.
    pytester.makefile(".yaml", steady=PASSING, unclosed=f"name: half\ntarget: {{path: {PAYSTACK}\nload: x\n")
    pytester.makefile(".yml", wrong=f"name: wrong-key\ntarget: {{path: {PAYSTACK}}}\nlaod: {{users: 1}}\n")
    collected = pytester.runpytest_subprocess("--paychaos", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(["*3 tests collected*"])
    result = pytester.runpytest_subprocess("--paychaos", "-k", "not tiny-steady")
    result.assert_outcomes(failed=2, deselected=1)
    result.stdout.fnmatch_lines_random([
        "*unclosed.yaml:3:5: invalid YAML*",  # where the YAML breaks
        "*wrong.yml:3:1: (top level): unknown key 'laod'*did you mean 'load'?",
    ])  # fmt: skip


@pytest.mark.integration
@pytest.mark.slow
def test_experiments_pass_fail_and_report_through_pytest(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makefile(".yaml", steady=PASSING, promo=FAILING)
    junit = tmp_path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--paychaos", "--paychaos-out", str(tmp_path / "runs"), f"--junitxml={junit}", timeout=300
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*violated: amount_integrity*",
        "*amount_integrity: violated (*",
        "*report: *report.html*",
    ])  # fmt: skip
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"tiny-steady", "tiny-promo"}
    assert cases["tiny-promo"].find("failure") is not None
    assert cases["tiny-steady"].find("failure") is None

    only = pytester.runpytest_subprocess("--paychaos", "--paychaos-out", str(tmp_path / "runs"), "-k", "steady",
                                         timeout=300)  # fmt: skip
    only.assert_outcomes(passed=1, deselected=1)
