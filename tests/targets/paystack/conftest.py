"""Starting paystack stacks for tests: a shared correct one, and fresh ones with defects or faults."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from paychaos.postgres import Server
from paychaos.system import Stack, load_target
from tests.conftest import ROOT
from tests.support.db import scalar
from tests.support.netfault import FaultyLink

PAYSTACK = load_target(ROOT / "targets" / "paystack" / "target.yaml")
_numbers = itertools.count()

# Faster reactions than production defaults, so eventual behaviour shows within seconds.
QUICK = {
    "reconciler": ["--interval", "0.2", "--grace", "1.5"],
    "notifier": ["--backoff-base", "0.05", "--backoff-max", "0.5", "--attempt-timeout", "1"],
}

StartStack = Callable[..., Stack]


def _start(
    postgres: Server,
    log_root: Path,
    defects: tuple[str, ...] = (),
    args: Mapping[str, list[str]] | None = None,
    links: Mapping[str, FaultyLink] | None = None,
) -> Stack:
    n = next(_numbers)
    merged = {name: [*QUICK.get(name, []), *(args or {}).get(name, [])] for name in PAYSTACK.services}
    stack = Stack(
        PAYSTACK, postgres, log_dir=log_root / f"stack{n}", defects=defects, ports="auto",
        args=merged, db_prefix=f"t{n}_",
    )  # fmt: skip
    for link, faulty in (links or {}).items():
        stack.route(link, faulty.start(stack.peer(link)))
    stack.start()
    return stack


def webhook_secret(stack: Stack) -> bytes:
    """The key this stack's notifier signs with and its merchant checks (fresh for every stack)."""
    return stack.shared_environment()["PAYSTACK_WEBHOOK_SECRET"].encode()


@pytest.fixture(scope="session")
def shared(postgres: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One correct paystack for tests that only read and write their own accounts and orders."""
    stack = _start(postgres, tmp_path_factory.mktemp("shared"))
    yield stack
    stack.stop()


@pytest.fixture
def paystack(postgres: Server, tmp_path: Path) -> Iterator[StartStack]:
    """Start a fresh paystack: ``paystack(defects=(...), args={...}, links={link: FaultyLink()})``."""
    started: list[Stack] = []
    faulty: list[FaultyLink] = []

    def start(**kwargs: object) -> Stack:
        links = kwargs.get("links") or {}
        faulty.extend(links.values())  # type: ignore[attr-defined]
        stack = _start(postgres, tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()
    for link in faulty:
        link.close()


@pytest.fixture
def faulty() -> FaultyLink:
    return FaultyLink()


def client(stack: Stack, service: str, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(base_url=stack.url(service), timeout=timeout)


def new_account(stack: Stack, balance: int = 1_000_000, credit_limit: int = 0) -> str:
    """A fresh bank account, so tests sharing a stack never touch each other's money."""
    account = f"test-{next(_numbers)}-{balance}-{credit_limit}"
    with client(stack, "bank") as bank:
        reply = bank.post("/accounts", json={"id": account, "balance": balance, "credit_limit": credit_limit})
        assert reply.status_code == 201, reply.text
    return account


def checkout(stack: Stack, account: str, amount: int = 1_500, **extra: Any) -> httpx.Response:
    with client(stack, "merchant", timeout=30) as merchant:
        return merchant.post("/checkout", json={"account": account, "amount": amount} | extra)


def order(stack: Stack, order_id: str) -> dict[str, Any]:
    with client(stack, "merchant") as merchant:
        return dict(merchant.get(f"/orders/{order_id}").json()["order"])


def order_state(stack: Stack, order_id: str) -> str:
    return str(order(stack, order_id)["state"])


def debits(stack: Stack, order_id: str) -> int:
    return int(
        scalar(
            stack.dsn("bank"),
            "SELECT count(*) FROM transactions WHERE kind = 'debit' AND status = 'posted' AND reference = $1",
            order_id,
        )
    )
