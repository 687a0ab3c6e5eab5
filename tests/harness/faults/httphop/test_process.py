"""The hop as a process: how it starts, what it refuses, and that stopping it loses no journal line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from paychaos.errors import InfrastructureError
from paychaos.faults._hop import HopClient, start_hop
from tests.harness.faults.httphop.conftest import Upstream
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def test_a_non_loopback_host_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "paychaos.faults.httphop", "--host", "0.0.0.0", "--port", "0",
         "--journal", str(tmp_path / "j.jsonl")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert "not a loopback address" in done.stderr


def test_sigterm_stops_it_cleanly_and_every_line_is_on_disk(tmp_path: Path, upstream: Upstream) -> None:
    journal = tmp_path / "journal.jsonl"
    hop = start_hop(log_dir=tmp_path, journal=journal)
    try:
        with HopClient(hop.url) as api:
            listen = api.create_link("l", "127.0.0.1:0", upstream.address)["listen"]
            api.add_rule("l", {"id": "busy", "match": {"path": "/busy*"}, "action": {"type": "abort"}})
            api.add_rule(
                "l", {"id": "slow", "match": {"path": "/slow"}, "action": {"type": "delay", "by": 60}}
            )
        with httpx.Client(base_url=f"http://{listen}") as client:
            for i in range(50):
                assert client.get(f"/busy/{i}").status_code == 503
    finally:
        hop.close()
    assert hop.returncode == 0
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["path"] for line in lines] == [f"/busy/{i}" for i in range(50)]


def test_an_action_cut_short_by_stopping_is_still_journalled(tmp_path: Path, upstream: Upstream) -> None:
    journal = tmp_path / "journal.jsonl"
    with start_hop(log_dir=tmp_path, journal=journal) as hop, HopClient(hop.url) as api:
        host, _, port = api.create_link("l", "127.0.0.1:0", upstream.address)["listen"].rpartition(":")
        api.add_rule("l", {"id": "slow", "action": {"type": "delay", "by": 60}})
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            holding = lambda: api.links()[0]["rules"][0]["stats"]["holding"] == 1  # noqa: E731
            wait_until(holding, timeout=5, what="the request to be held")
            hop.close()
    assert hop.returncode == 0
    (line,) = [json.loads(line) for line in journal.read_text().splitlines()]
    assert line["detail"] == "cut short: the link was deleted or the hop stopped"
    assert upstream.seen == []


def test_start_hop_reports_a_hop_that_cannot_start(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(InfrastructureError, match="did not start"):
        start_hop(log_dir=tmp_path, journal=tmp_path / "a-folder")
