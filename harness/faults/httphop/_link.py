"""A link: one listener in front of one upstream, its rules in order, and what those rules hold.

Holding is how every waiting action is built (a delay, a reorder, a connection kept silent): a
future the rule keeps until a timer, a later request or the rule's deletion resolves it. Deleting
a rule resolves all of them at once with ``"released"``, which is how "deleting a rule releases
whatever it holds" is kept: a held request is forwarded, a silent connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Literal

from paychaos.faults.httphop._http import Request
from paychaos.faults.httphop._journal import Journal
from paychaos.faults.httphop._rules import Rule, Selection, decide

if TYPE_CHECKING:
    from paychaos.faults.httphop._relay import ClientConnection

#: Why a hold ended: its time ran out, enough later requests went upstream, or the rule was deleted.
Outcome = Literal["elapsed", "overtaken", "released"]


class RuleState:
    """A rule on a link: the rule, its selection state, what it has done, and what it holds now."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.selection = Selection(rule.select, rule.seed)
        self.acted = 0
        self._holds: set[asyncio.Future[Outcome]] = set()
        self._released = False

    def hold(self, seconds: float | None) -> asyncio.Future[Outcome]:
        """A future resolved after ``seconds`` (never, if None) or when the rule is deleted."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        if self._released:
            future.set_result("released")
            return future
        timer = loop.call_later(seconds, _resolve, future, "elapsed") if seconds is not None else None
        self._holds.add(future)

        def forget(done: asyncio.Future[Outcome]) -> None:
            self._holds.discard(done)
            if timer is not None:
                timer.cancel()

        future.add_done_callback(forget)
        return future

    def release(self) -> None:
        """End every hold now; later holds end at once too (the rule is gone)."""
        self._released = True
        for future in list(self._holds):
            _resolve(future, "released")

    def to_json(self, *, stats: bool = False) -> dict[str, Any]:
        out = self.rule.to_json()
        if stats:
            out["stats"] = {"matched": self.selection.seen, "acted": self.acted, "holding": len(self._holds)}
        return out


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


class Link:
    """One hop link: ``listen`` → (rules) → ``upstream``."""

    def __init__(self, name: str, upstream: tuple[str, int], journal: Journal) -> None:
        self.name = name
        self.upstream = upstream
        self.journal = journal
        self.listen = ""
        self.rules: dict[str, RuleState] = {}
        self.connections: set[ClientConnection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._forwarded = 0
        self._waiting: list[tuple[int, asyncio.Future[Outcome]]] = []

    @property
    def upstream_text(self) -> str:
        host, port = self.upstream
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def open(self, sock: socket.socket) -> None:
        from paychaos.faults.httphop._relay import ClientConnection  # the relay needs Link too

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ClientConnection(self), sock=sock, backlog=1024)
        host, port = sock.getsockname()[:2]
        self.listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def decide(self, request: Request) -> RuleState | None:
        return decide(self.rules.values(), request) if self.rules else None

    def note_forwarded(self) -> None:
        """A request went upstream: release the reordered requests it was the last one awaited for."""
        self._forwarded += 1
        if self._waiting:
            count = self._forwarded
            keep = []
            for target, future in self._waiting:
                if future.done():
                    continue
                if target <= count:
                    _resolve(future, "overtaken")
                else:
                    keep.append((target, future))
            self._waiting = keep

    def after_forwarded(self, later: int, future: asyncio.Future[Outcome]) -> None:
        """Resolve ``future`` with "overtaken" once ``later`` more requests have gone upstream."""
        self._waiting.append((self._forwarded + later, future))

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work that outlives the request (a duplicate's copies); cancelled if the link closes."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def remove_rule(self, rule_id: str) -> bool:
        state = self.rules.pop(rule_id, None)
        if state is None:
            return False
        state.release()
        return True

    async def close(self) -> None:
        """Stop listening, end every connection and background task, release every hold."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for state in self.rules.values():
            state.release()
        for conn in list(self.connections):
            conn.abort()
        tasks = [c.task for c in self.connections if c.task is not None] + list(self._tasks)
        for task in self._tasks:
            task.cancel()
        if tasks:
            # Their `finally` blocks write the journal lines of actions cut short.
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    def to_json(self, *, stats: bool = False) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream_text,
                "rules": [state.to_json(stats=stats) for state in self.rules.values()]}  # fmt: skip
