"""walletpay's API and worker as real processes against a real PostgreSQL (the session's embedded one).

Each test gets a database of its own and starts the processes it needs, with the defects it
switches on; everything started is stopped at the end of the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from paychaos._process import free_port
from paychaos.postgres import Server
from tests.support import db
from tests.support.wait import wait_until

TOKEN = "test-token"


class Walletpay:
    def __init__(self, server: Server, logs: Path) -> None:
        name = f"walletpay_{uuid.uuid4().hex[:10]}"
        server.create_databases([name])
        self.dsn = server.dsn(name)
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.api_port = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _start(self, role: str, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        environment = {
            **os.environ,
            "WALLETPAY_DB": self.dsn,
            "WALLETPAY_PORT": str(port),
            "WALLETPAY_INTERNAL_TOKEN": TOKEN,
            **env,
        }
        log = (self.logs / f"{role}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "paychaos_targets.walletpay", role, *args],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{role} exited with {process.returncode}; see {log.name}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=30, what=f"{role} healthy")
        return process, port

    def start_api(self, *defects: str) -> subprocess.Popen[bytes]:
        process, self.api_port = self._start(
            "api", {"WALLETPAY_DEFECTS": ",".join(defects), "WALLETPAY_EVIDENCE": "1"}
        )
        return process

    def start_worker(self, *defects: str, api: str | None = None, **options: str) -> subprocess.Popen[bytes]:
        args = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
        process, _ = self._start(
            "worker",
            {"WALLETPAY_DEFECTS": ",".join(defects), "WALLETPAY_API_URL": api or self.api},
            *args,
        )
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    # --- the API, as a client sees it ------------------------------------------------------

    def charge(self, customer: str, amount: int, reference: str, key: str | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.api}/v1/charges",
            json={"customer": customer, "amount_cents": amount, "reference": reference},
            headers={"Idempotency-Key": key or f"order:{reference}"},
            timeout=10,
        )

    def status(self, charge_id: str) -> str:
        answer = httpx.get(f"{self.api}/v1/charges/{charge_id}", timeout=10)
        answer.raise_for_status()
        status: str = answer.json()["charge"]["status"]
        return status

    def wait_final(self, charge_id: str, timeout: float = 20) -> str:
        return wait_until(
            lambda: (s := self.status(charge_id)) not in ("queued", "processing") and s,
            timeout=timeout,
            what=f"charge {charge_id} final",
        )

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return db.query(self.dsn, sql, *args)

    def scalar(self, sql: str, *args: Any) -> Any:
        return db.scalar(self.dsn, sql, *args)

    def captures(self, charge_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT id, key, status FROM ledger_txns WHERE kind = 'capture' AND charge_id = $1 ORDER BY id",
            charge_id,
        )

    def books_balance(self) -> None:
        """Every transaction's postings sum to zero; every balance is the sum of its postings."""
        unbalanced = self.query("SELECT txn_id FROM postings GROUP BY txn_id HAVING sum(amount) <> 0")
        assert unbalanced == []
        drift = self.query(
            "SELECT a.id FROM accounts a LEFT JOIN postings p ON p.account = a.id "
            "GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(p.amount), 0)"
        )
        assert drift == []


@pytest.fixture
def walletpay(postgres: Server, tmp_path: Path) -> Iterator[Walletpay]:
    stack = Walletpay(postgres, tmp_path)
    try:
        yield stack
    finally:
        stack.stop()
