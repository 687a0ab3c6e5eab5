"""The harness's side of the HTTP fault hop: starting its process, and the client for its API.

>>> hop = start_hop(log_dir=run / "logs", journal=run / "httphop.jsonl")     # doctest: +SKIP
>>> with HopClient(hop.url) as api:
...     api.create_link("gateway_bank", "127.0.0.1:0", "127.0.0.1:8103")["listen"]
...     api.add_rule("gateway_bank", {"id": "f1", "action": {"type": "lose_response"}, "seed": 7})
'127.0.0.1:40123'
>>> hop.close()

The hop is a child process, not a thread: its data path gets its own interpreter (and core)
instead of competing with the harness for the GIL, and a run that dies takes it along
(parent-death signal), or the next ``paychaos heal`` stops it (it is in the run's ledger).
"""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from paychaos._ownership import record_process
from paychaos._process import parent_death_signal, stop_child, tail
from paychaos.errors import InfrastructureError
from paychaos.faults._api_client import ApiRefused, JsonApiClient

_READY = "httphop listening on "


class HopError(ApiRefused):
    """The hop's API refused a request; ``status`` is its HTTP status, the message is the hop's."""


class HopClient(JsonApiClient):
    """A synchronous client for one hop's control API."""

    name = "the HTTP hop"
    refused = HopError

    def reachable(self) -> bool:
        try:
            reply = self._http.get("/version")
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    def version(self) -> dict[str, Any]:
        return dict(self._call("GET", "/version"))

    def links(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/links"))

    def create_link(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        """Start relaying ``listen`` → ``upstream``; the answer's ``listen`` has the real port."""
        return dict(self._call("POST", "/links", {"name": name, "listen": listen, "upstream": upstream}))

    def delete_link(self, name: str) -> bool:
        """Stop relaying (listener and connections closed); False if there was no such link."""
        return self._delete(f"/links/{name}")

    def add_rule(self, link: str, rule: dict[str, Any]) -> dict[str, Any]:
        """Add a rule at the end of the link's rules; the answer shows it as the hop will apply it."""
        return dict(self._call("POST", f"/links/{link}/rules", rule))

    def remove_rule(self, link: str, rule_id: str) -> bool:
        """Remove a rule, releasing what it holds; False if it (or its link) was already gone."""
        return self._delete(f"/links/{link}/rules/{rule_id}")

    def _delete(self, path: str) -> bool:
        try:
            self._call("DELETE", path)
        except HopError as exc:
            if exc.status == 404:
                return False
            raise
        return True


class Hop:
    """A running hop process; ``close()`` stops it (SIGTERM, then SIGKILL after 5 s)."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, *, log: Path, journal: Path) -> None:
        self.process = process
        self.url = url
        self.log = log
        self.journal = journal

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def close(self) -> None:
        """Stop the hop; every journal line it wrote is on disk once this returns. Idempotent."""
        process = self.process
        stop_child(process)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Hop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_hop(*, log_dir: Path, journal: Path, within: float = 15) -> Hop:
    """Start a hop process on a free loopback port; its stderr goes to ``log_dir/httphop.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "httphop.log"
    command = [sys.executable, "-m", "paychaos.faults.httphop", "--port", "0", "--journal", str(journal)]
    with open(log, "ab") as err:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            start_new_session=True, preexec_fn=parent_death_signal(signal.SIGTERM),
        )  # fmt: skip
    record_process("httphop", "httphop", process.pid)
    hop = Hop(process, "", log=log, journal=journal)
    try:
        line = _first_line(process, within)
        if not line.startswith(_READY):
            raise InfrastructureError(
                f"the HTTP hop did not start (exit {process.poll()}): {line or tail(log)}; see {log}"
            )
        hop.url = line[len(_READY) :].strip()
        with HopClient(hop.url, timeout=2) as client:
            if not client.reachable():
                raise InfrastructureError(
                    f"the HTTP hop said it listens on {hop.url} but does not answer; see {log}"
                )
    except BaseException:
        hop.close()
        raise
    return hop


def _first_line(process: subprocess.Popen[bytes], within: float) -> str:
    """The child's first line of output, waiting at most ``within`` seconds for it."""
    assert process.stdout is not None
    deadline = time.monotonic() + within
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise InfrastructureError(f"the HTTP hop printed nothing within {within:g}s")
            if not selector.select(left):
                continue
            chunk = process.stdout.read1(4096)  # type: ignore[attr-defined]
            if not chunk:
                break  # it exited
            buffer += chunk
    return buffer.decode(errors="replace").partition("\n")[0].strip()
