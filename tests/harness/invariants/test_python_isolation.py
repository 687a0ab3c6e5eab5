"""A `python` invariant runs in a process of its own: whatever its code does, the run gets a verdict."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from paychaos.invariants._child import stopped_on_error
from tests.harness.invariants.conftest import Planted
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

HOSTILE = "tests.harness.invariants.hostile_checks"


def _check(planted: Planted, function: str, **params: object) -> tuple[str, str]:
    verdict = planted.check("python", function=f"{HOSTILE}:{function}", **params)
    return verdict.status, verdict.reason


def test_rows_returned_are_the_violations(planted: Planted) -> None:
    planted.sql("INSERT INTO accounts (id, balance) VALUES ('a', -5), ('b', 10);")
    verdict = planted.check(
        "python", function="tests.harness.invariants.custom_check:few_accounts", params={"most": 1}
    )
    assert (verdict.invariant, verdict.status, verdict.count) == (
        "python: tests.harness.invariants.custom_check:few_accounts",
        "violated",
        1,
    )
    assert verdict.examples == [{"accounts": 2, "most": 1}]
    assert planted.check(
        "python", function="tests.harness.invariants.custom_check:few_accounts", params={"most": 2}
    ).status == "holds"  # fmt: skip


def test_a_verdict_returned_comes_back_whole_with_dates_and_decimals_as_text(planted: Planted) -> None:
    planted.sql("INSERT INTO accounts (id, balance) VALUES ('a', -5), ('b', 10);")
    verdict = planted.check("python", function=f"{HOSTILE}:balances", params={"least": 0})
    assert (verdict.invariant, verdict.status, verdict.count, verdict.reason) == (
        "balances", "violated", 1, "below the floor")  # fmt: skip
    (example,) = verdict.examples
    assert (example["id"], example["balance"]) == ("a", "-5")
    assert example["at"].startswith("20")  # a timestamptz, written as text
    assert planted.check("python", function=f"{HOSTILE}:balances", params={"least": -10}).checked == 1


def test_exit_0_is_could_not_check_never_a_pass(planted: Planted) -> None:
    status, reason = _check(planted, "exits_0")
    assert status == "could_not_check"
    assert reason.startswith("the invariant's code called exit(0); an invariant returns its violations")


def test_os_exit_0_is_could_not_check(planted: Planted) -> None:
    status, reason = _check(planted, "os_exits_0")
    assert status == "could_not_check"
    assert reason.startswith("its process exited (code 0) without returning a verdict, e.g. with os._exit(0)")
    assert "its output is in logs/invariant-tests.harness.invariants.hostile_checks.os_exits_0.log" in reason


def test_an_exception_says_what_and_where(planted: Planted, tmp_path: Path) -> None:
    status, reason = _check(planted, "raises")
    assert status == "could_not_check"
    assert reason.startswith(
        "raised ValueError: the ledger is haunted "
        '(at hostile_checks.py:24 in raises: raise ValueError("the ledger is haunted")); '
        "the traceback is in logs/invariant-tests.harness.invariants.hostile_checks.raises.log"
    )
    log = (tmp_path / "logs" / "invariant-tests.harness.invariants.hostile_checks.raises.log").read_text()
    assert "Traceback (most recent call last)" in log


def test_a_loop_is_killed_at_its_time_limit_with_what_it_started(planted: Planted, tmp_path: Path) -> None:
    helper = tmp_path / "helper.pid"
    started = time.monotonic()
    status, reason = _check(planted, "loops", params={"helper": str(helper)}, timeout="2s")
    assert time.monotonic() - started < 2 + 1 + 3  # the limit, the SIGTERM grace, some slack
    assert status == "could_not_check"
    assert reason.startswith(
        "ran past its 2s limit; killed. Make it faster, or give it longer with `timeout`"
    )
    wait_until(
        lambda: _gone(int(helper.read_text())), timeout=5, what="the helper's end"
    )  # its group went too


def test_a_crash_is_could_not_check(planted: Planted) -> None:
    status, reason = _check(planted, "kills_itself")
    assert status == "could_not_check"
    assert reason.startswith("its process was killed by SIGKILL (out of memory, or it killed itself?)")


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "tests.harness.invariants.no_such_module:check",
            "cannot import tests.harness.invariants.no_such_module:check: ModuleNotFoundError: "
            "No module named 'tests.harness.invariants.no_such_module'",
        ),
        (
            "tests.harness.invariants.custom_check:no_such_function",
            "cannot import tests.harness.invariants.custom_check:no_such_function: AttributeError: module "
            "'tests.harness.invariants.custom_check' has no attribute 'no_such_function'",
        ),
    ],
)
def test_an_import_failure_says_how_to_fix_it(planted: Planted, function: str, expected: str) -> None:
    verdict = planted.check("python", function=function)
    assert verdict.status == "could_not_check"
    assert verdict.reason.startswith(expected)
    assert "make sure the module is importable where paychaos runs" in verdict.reason


def test_what_is_not_rows_or_not_json_is_could_not_check(planted: Planted) -> None:
    status, reason = _check(planted, "returns_an_object")
    assert status == "could_not_check"
    assert reason.startswith("returned object <object object at")
    assert reason.endswith(
        "neither a Verdict nor a list of violations (dicts, column → value); return [] when it holds"
    )
    status, reason = _check(planted, "returns_rows_of_objects")
    assert status == "could_not_check"
    assert reason.startswith("returned what cannot be written as JSON (object <object object at")
    status, reason = _check(planted, "returns_a_malformed_verdict")  # it would cost the run results.json
    assert status == "could_not_check"
    assert reason.startswith("returned a malformed Verdict (count: ")


def test_an_interrupted_run_kills_the_child_at_once(planted: Planted, tmp_path: Path) -> None:
    started = tmp_path / "started.pid"
    seen: dict[str, Any] = {}

    def interrupted_while_checking() -> None:
        with ThreadPoolExecutor(1) as pool, stopped_on_error():
            seen["verdict"] = pool.submit(
                _check, planted, "loops", params={"started": str(started)}, timeout="2m"
            )
            seen["pid"] = int(wait_until(lambda: started.exists() and started.read_text(), timeout=30))
            seen["at"] = time.monotonic()
            raise KeyboardInterrupt  # what Ctrl-C or SIGTERM raises in the runner's thread

    with pytest.raises(KeyboardInterrupt):
        interrupted_while_checking()
    assert time.monotonic() - seen["at"] < 5
    assert seen["verdict"].result() == (
        "could_not_check",
        "stopped: the run was interrupted (Ctrl-C or SIGTERM)",
    )
    assert _gone(seen["pid"])


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
