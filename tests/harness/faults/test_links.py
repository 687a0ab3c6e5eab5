"""Every link of paystack behind a proxy: the stack works unchanged, and a toxic on one link shows."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from paychaos.faults import (
    FaultInjector,
    FaultJournal,
    LinkProxies,
    ProcessFault,
    ProcessHandle,
    ToxicFault,
    start_backend,
)
from paychaos.postgres import Server
from paychaos.system import Stack, load_target
from tests.conftest import ROOT
from tests.support.db import scalar

pytestmark = pytest.mark.integration


def test_a_stack_behind_proxies_works_and_a_toxic_on_one_link_shows(postgres: Server, tmp_path: Path) -> None:
    target = load_target(ROOT / "targets" / "paystack")
    stack = Stack(target, postgres, log_dir=tmp_path / "logs", ports="auto", db_prefix="links_")
    with (
        start_backend(log_dir=tmp_path, env={"PATH": "/nonexistent"}, use_docker=False) as backend,
        backend.client() as api,
    ):
        proxies = LinkProxies(api, stack, target.links)
        try:
            with stack, httpx.Client(base_url=stack.url("merchant"), timeout=30) as merchant:
                assert stack.address("gateway_db") != stack.peer(
                    "gateway_db"
                )  # even databases go through a proxy
                assert "--bank-url" in stack.command("gateway")
                assert (
                    merchant.post("/checkout", json={"account": "cust-00001", "amount": 100}).status_code
                    == 200
                )

                with FaultInjector(FaultJournal(tmp_path / "faults.jsonl")) as faults:
                    faults.apply(ToxicFault(api, proxies.proxy("gateway_bank"), "latency", {"latency": 400}))
                    started = time.perf_counter()
                    slow = merchant.post("/checkout", json={"account": "cust-00002", "amount": 100})
                    assert time.perf_counter() - started >= 0.4
                    assert slow.json()["payment"]["state"] == "SUCCEEDED"
                    handle = ProcessHandle(
                        "bank", lambda: stack.pid("bank"), restart=lambda: stack.restart("bank")
                    )
                    faults.apply(ProcessFault(handle, "kill"))
                # leaving the block healed both: no latency, and the bank restarted
                assert api.toxics(proxies.proxy("gateway_bank")) == []
                fast = merchant.post("/checkout", json={"account": "cust-00003", "amount": 100})
                assert fast.json()["payment"]["state"] == "SUCCEEDED"
                assert (
                    scalar(stack.dsn("bank"), "SELECT count(*) FROM transactions WHERE kind = 'debit'") == 3
                )
        finally:
            proxies.close()
        assert api.proxies() == {}
