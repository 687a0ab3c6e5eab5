"""Sample runs (trimmed copies of real ones) copied into each test's tmp dir, so tests may write into them;
and the headless Chromium the *_in_chromium tests share (one per test module), with how they open a
report in it and check that it loaded cleanly."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.report.chromium import CHROMIUM, Chromium, Page

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = ("passing-hello", "failing-retry-new-key", "failing-drop-on-overload")
# One real run of paystack per incident its defects stage (see fixtures/README.md), by defect.
INCIDENTS = {
    "failover-on-timeout": "failing-failover-on-timeout",
    "notify-fire-and-forget": "failing-notify-fire-and-forget",
    "uncapped-promo": "failing-uncapped-promo",
    "credit-check-race": "failing-credit-check-race",
    "webhook-accepts-unsigned": "failing-webhook-accepts-unsigned",
    "webhook-not-idempotent": "failing-webhook-not-idempotent",
    "timeout-as-failure": "failing-timeout-as-failure",
}
SCREENSHOTS = Path(__file__).resolve().parents[3] / "reports" / "screenshots"  # git-ignored


def sample_results(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "results.json").read_text())
    return data


def make_not_exercised(run: Path) -> dict[str, Any]:
    """Turn a copied sample run into one that did not exercise what it requires, as the runner writes
    it: its fault f1 never acted (an HTTP fault that matched nothing) and no payment was voided."""
    from paychaos._results import not_exercised

    results: dict[str, Any] = json.loads((run / "results.json").read_text())
    coverage = [
        {"name": "operations", "description": "client operations sent", "value": 1049, "required": None,
         "met": None, "error": None},
        {"name": "voids", "description": "debit and payout keys cancelled before anything moved",
         "value": 0, "required": 1, "met": False, "error": None},
        {"name": "fault f1 acted", "description": "times the http fault f1 acted", "value": 0,
         "required": 1, "met": False, "error": None},
    ]  # fmt: skip
    results.update(coverage=coverage, verdict="not exercised", exit_code=3, error=not_exercised(coverage))
    (run / "results.json").write_text(json.dumps(results))
    return results


SETTLE_TIMEOUT = 30.0  # each sample's quick profile: settle: 30s
STILL_VIOLATED = (290, 284, 279, 277)  # a violated eventual invariant's first rounds, then its final count


def settle_record(results: dict[str, Any]) -> dict[str, Any]:
    """The settle record a run now writes, made to agree with a sample's verdicts: rounds every second
    after the heal; an eventual invariant that held counts 4, 2 before its last round, held at its
    converged_after; one violated stays violated to its deadline (settle: 30s)."""
    from paychaos.durations import parse_duration
    from paychaos.invariants import REGISTRY

    eventual = [
        v for v in results["invariants"] if v["invariant"] in REGISTRY and REGISTRY[v["invariant"]].eventual
    ]
    deadlines = {v["invariant"]: min(parse_duration(v["params"].get("within") or "60s"), SETTLE_TIMEOUT)
                 for v in eventual}  # fmt: skip
    rounds: dict[float, dict[str, int]] = {}
    for v in eventual:
        name = v["invariant"]
        if v["status"] == "holds":
            held = float(v["converged_after"]) - 0.01
            for count, at in ((4, held - 2), (2, held - 1), (0, held)):
                if at > 0:
                    rounds.setdefault(round(at, 3), {})[name] = count
        else:
            for i in range(int(deadlines[name]) + 1):
                count = STILL_VIOLATED[i] if i < len(STILL_VIOLATED) else v["count"]
                rounds.setdefault(round(0.05 + i, 3), {})[name] = count
    polls = [{"at": at, "violations": rounds[at]} for at in sorted(rounds)]
    healed_at = next(p["ended"] for p in results["phases"] if p["name"] == "heal")
    return {"healed_at": healed_at, "deadlines": deadlines, "polls": polls}


def as_run_now(run: Path) -> dict[str, Any]:
    """A copied sample run as this paychaos writes it: the target's currency (paystack's: CNY) and the
    settle phase's rounds (see :func:`settle_record`), which the samples' older paychaos did not record."""
    results: dict[str, Any] = json.loads((run / "results.json").read_text())
    results["target"]["currency"] = {"code": "CNY", "minor_unit": 2}
    results["settle"] = settle_record(results)
    (run / "results.json").write_text(json.dumps(results))
    return results


@pytest.fixture
def sample_run(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a sample run folder into tmp_path; return its path."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(FIXTURES / name, tmp_path / name))

    return copy


def make_interrupted_while_settling(run: Path) -> dict[str, Any]:
    """A copied sample run as the runner writes one stopped by Ctrl-C in its settle phase: the rounds it
    got to (the first five), every invariant never checked, exit code 130."""
    results = as_run_now(run)
    why = "never checked: interrupted (Ctrl-C or SIGTERM); every fault healed, everything stopped"
    invariants = [{**v, "status": "could_not_check", "count": 0, "examples": [], "reason": why, "checked": None,
                   "converged_after": None, "details": {}} for v in results["invariants"]]  # fmt: skip
    phases = [p for p in results["phases"] if p["name"] not in ("verify", "report")]
    phases[-1]["status"] = "failed"
    results["settle"]["polls"] = results["settle"]["polls"][:5]
    results.update(status="interrupted", verdict="interrupted", exit_code=130, invariants=invariants, phases=phases,
                   error="interrupted (Ctrl-C or SIGTERM); every fault healed, everything stopped", coverage=[])  # fmt: skip
    (run / "results.json").write_text(json.dumps(results))
    return results


# -- headless Chromium ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """Debian's Chromium, headless and offline; skipped (and said why) without it, unless
    PAYCHAOS_REQUIRE_CHROMIUM=1 (as in CI), which makes its absence a failure."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent; install Debian's chromium (apt-get install chromium) to run these"
        if os.environ.get("PAYCHAOS_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"Chromium is required here (PAYCHAOS_REQUIRE_CHROMIUM=1) but {reason}")
        pytest.skip(reason)
    with Chromium(tmp_path_factory.mktemp("chromium") / "profile") as chromium:
        yield chromium


def open_report(browser: Chromium, report: Path, shot: Path) -> Page:
    """Open ``report`` (closing the pages opened before), wait until its charts are drawn, and take a
    screenshot of the whole page into ``shot``, copied to reports/screenshots/ when that can be written."""
    for earlier in list(browser.pages):
        earlier.close()
    page = browser.open(report.as_uri())
    assert page.wait_for("document.body.dataset.ready !== 'false' && document.body.dataset.ready") == "true"
    page.screenshot(shot)
    assert shot.stat().st_size > 10_000
    if SCREENSHOTS.parent.is_dir() and os.access(SCREENSHOTS.parent, os.W_OK):
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / shot.name)
    return page


def assert_clean(page: Page, report: Path) -> None:
    """No console error, no failed request, and nothing fetched but the page itself."""
    assert page.console_errors == []
    assert page.failed_requests == []
    assert page.requested_urls == [report.as_uri()]  # nothing else: no script, style, font or image fetched
