"""The paychaos command, run as a user runs it: as a process, judged by its output and exit code."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT
from tests.support.db import scalar
from tests.support.wait import wait_until

PAYCHAOS = [sys.executable, "-m", "paychaos.cli"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAYCHAOS, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("paychaos, version ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stack", "up", "no/such/target.yaml"), "no/such/target.yaml: no such file"),
        (
            ("stack", "up", "--defect", "retry-new-keys"),
            "unknown defect 'retry-new-keys' for target 'paystack'",
        ),
        (("stack", "up", "--db", "mysql://root@127.0.0.1"), "expected a URL like postgresql://"),
        (("stack", "up", "--ports", "sometimes"), "Invalid value for '--ports'"),
    ],
)
def test_usage_mistakes_exit_2_with_a_message(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    result = run(*args, "--log-dir", str(tmp_path)) if args[-1] != "sometimes" else run(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_stack_up_serves_until_interrupted_and_leaves_nothing_running(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*PAYCHAOS, "stack", "up", "--ports", "auto", "--log-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("up."):
            break
    output = "".join(lines)
    urls = dict(re.findall(r"^\s*(\w+)\s+(http://127\.0\.0\.1:\d+)", output, re.MULTILINE))
    assert sorted(urls) == ["bank", "gateway", "merchant", "notifier", "reconciler"], output
    with urllib.request.urlopen(f"{urls['gateway']}/healthz") as reply:
        assert reply.status == 200
    dsn_file = tmp_path / "postgres.dsn"
    assert str(dsn_file) in output.replace("\n", "")
    assert dsn_file.stat().st_mode & 0o777 == 0o600
    assert scalar(dsn_file.read_text().strip(), "SELECT 1") == 1  # the password in it lets one in
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 6  # five services and PostgreSQL
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted; everything it started is stopped" in rest
    wait_until(
        lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), timeout=10
    )
    assert (tmp_path / "merchant.log").exists()


@pytest.mark.integration
def test_proxy_serve_speaks_toxiproxy_until_interrupted() -> None:
    proc = subprocess.Popen(
        [*PAYCHAOS, "proxy", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
    assert url, line
    with urllib.request.urlopen(f"{url.group(1)}/version") as reply:
        assert b"2.12.0" in reply.read()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0


@pytest.mark.integration
def test_proxy_serve_refuses_a_taken_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        result = run("proxy", "serve", "--port", str(sock.getsockname()[1]))
    assert result.returncode == 3
    assert "cannot serve on 127.0.0.1:" in result.stderr


def test_heal_with_nothing_to_heal(tmp_path: Path) -> None:
    result = run("heal", str(tmp_path))
    assert (result.returncode, result.stdout.strip()) == (0, "nothing to heal")


def test_heal_refuses_a_run_that_is_still_running_unless_forced(tmp_path: Path) -> None:
    from tests.harness.test_ownership import hold

    run_dir = tmp_path / "reports" / "live"
    live = hold(run_dir)
    try:
        refused = run("heal", str(run_dir))
        assert refused.returncode == 2
        assert f"{run_dir}: still running (pid {live.pid})" in refused.stderr
        assert f"paychaos heal --force {run_dir}" in refused.stderr
        everything = run("heal", cwd=tmp_path)  # every run under reports/: the live one is left alone
        assert everything.returncode == 0
        assert f"left alone  run: still running (pid {live.pid}): its faults are its own" in everything.stdout
        assert run("heal", "--force", cwd=tmp_path).returncode == 2  # --force only for runs named
        forced = run("heal", "--force", str(run_dir))
        assert (forced.returncode, forced.stdout.strip()) == (0, "nothing to heal")
    finally:
        live.kill()
        live.wait()


def test_report_on_a_folder_that_is_no_run_exits_2_and_names_the_runs_in_it(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "20261202-101500-hello").mkdir(parents=True)
    (reports / "20261202-101500-hello" / "experiment.yaml").write_text("name: hello\n")
    result = run("report", str(reports))
    assert result.returncode == 2, result.stderr
    assert "is no run folder" in result.stderr
    assert "experiment.yaml" in result.stderr
    assert "20261202-101500-hello" in result.stderr
    assert not (reports / "report.html").exists()  # nothing made up

    empty = run("report", str(tmp_path))  # not even a folder of runs
    assert empty.returncode == 2
    assert "holds" not in empty.stderr.split("results.json", 1)[1]
