"""The locustfile paychaos runs: the only module that imports Locust (and with it gevent).

It runs in the Locust subprocess only, configured by the JSON file named in
``PAYCHAOS_LOAD_SPEC`` (written by :mod:`paychaos.load._locust`). Users run the
target's scenarios, picked by weight from a seeded random generator, and write
every operation to this process's history file. A scenario is a function of the
target's Python module (``load.module``) or steps described in ``target.yaml``
(compiled by :mod:`paychaos.load._steps`). The load shape follows the
experiment: constant, ramp, spike or stages (:func:`paychaos.load._shapes.users_at`).

In an open-loop load (``arrival_rate``) the shape starts ``max_users`` users at once, and
a dispatcher greenlet per process starts the iterations: at each arrival's intended time
(:func:`paychaos.load._arrivals.arrival_times`) it hands the arrival to a user waiting for
one, or drops it if every user is busy. Users wait for arrivals in ``wait_time``, where
Locust may stop them at once when the load ends; one in an iteration finishes it first.
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import math
import os
import socket
import time
from collections import deque
from pathlib import Path
from typing import Any

import gevent
import orjson
from gevent.event import AsyncResult
from locust import FastHttpUser, LoadTestShape, events, task
from locust.exception import StopUser

from paychaos.experiment import Load
from paychaos.load._arrivals import ArrivalTally, arrival_times
from paychaos.load._history import HistoryWriter
from paychaos.load._scenario import Context, OutcomeOf, PaymentOf, Reply
from paychaos.load._shapes import users_at
from paychaos.load._steps import Scenario, compile_load
from paychaos.system import LoadSpec

log = logging.getLogger("paychaos.load")

SPEC: dict[str, Any] = json.loads(Path(os.environ["PAYCHAOS_LOAD_SPEC"]).read_text())
LOAD = Load.model_validate(SPEC["load"])
NAMES = [name for name, weight in SPEC["scenarios"].items() if weight > 0]
WEIGHTS = [SPEC["scenarios"][name] for name in NAMES]
WAIT = LOAD.wait
_users = itertools.count(1)
_writer: HistoryWriter | None = None
_process = 0


def _scenarios() -> tuple[dict[str, Scenario], PaymentOf, OutcomeOf | None]:
    """The scenarios to run and the answer readers: from the module, from the steps, or both.

    A scenario with steps is the steps' (the module may hold a function of the same name for
    other targets); ``payment:`` reads every answer when the target declares it, else the
    module's ``payment_of`` and ``outcome_of`` do.
    """
    module = importlib.import_module(SPEC["module"]) if SPEC.get("module") else None
    spec = SPEC.get("target_load")
    declared = compile_load(LoadSpec.model_validate(spec)) if spec else None
    scenarios: dict[str, Scenario] = {
        **getattr(module, "SCENARIOS", {}),
        **(declared.scenarios if declared else {}),
    }
    missing = [name for name in NAMES if name not in scenarios]
    if missing:
        where = (f"neither the SCENARIOS of {SPEC['module']} nor target.yaml's steps define them" if module
                 else "target.yaml gives them no steps and names no load.module")  # fmt: skip
        raise RuntimeError(
            f"cannot run scenario(s) {', '.join(missing)}: {where}; give each steps in target.yaml, "
            "or a function in the SCENARIOS of load.module"
        )
    if declared and declared.payment_of:
        return scenarios, declared.payment_of, declared.outcome_of
    if module is None or not hasattr(module, "payment_of"):
        raise RuntimeError(
            "nothing reads the payment out of an answer: declare payment: in target.yaml's load "
            "section, or define payment_of in the scenario module"
        )
    return scenarios, module.payment_of, getattr(module, "outcome_of", None)


SCENARIOS, PAYMENT_OF, OUTCOME_OF = _scenarios()


def _history() -> HistoryWriter:
    global _writer
    if _writer is None:
        _writer = HistoryWriter(Path(SPEC["history"]) / f"load-{os.getpid()}.jsonl")
    return _writer


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    global _process
    runner = environment.runner
    _process = int(getattr(runner, "worker_index", 0) or 0)


def _mark_start(at: float) -> None:
    _history().write({"event": "start", "at": at, "pid": os.getpid(), "process": _process})
    _history().flush()


class _Dispatcher:
    """Starts this process's share of an open loop's arrivals, each at its intended time.

    An arrival goes to the user that has waited longest for one; when none is waiting it is
    dropped, never queued: a queue would start it late and hide how far behind the load fell.
    Every second of the load becomes one ``arrivals`` line of the history.
    """

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.idle: deque[AsyncResult] = deque()  # users waiting for an arrival, longest first
        self.tally: ArrivalTally | None = None

    def take(self) -> float:
        """Wait for an arrival; its intended start (epoch seconds)."""
        waiter: AsyncResult = AsyncResult()
        self.idle.append(waiter)
        try:
            return float(waiter.get())
        finally:
            if not waiter.ready():  # the user was stopped while waiting
                self.idle.remove(waiter)

    def run(self) -> None:
        # The arrivals' clock starts once this process's users are ready to take them (Locust
        # spawns them all at once here, in a few milliseconds); it is the load's start.
        ready_by = time.monotonic() + 10
        while time.monotonic() < ready_by and (
            not self.runner.target_user_count or len(self.idle) < self.runner.target_user_count
        ):
            gevent.sleep(0.005)
        t0 = time.time()
        _mark_start(t0)  # the same clock as the arrivals lines: their seconds start at t0 + n
        tally = self.tally = ArrivalTally(t0, _process, math.ceil(LOAD.total_duration))
        try:
            for offset in arrival_times(LOAD, share=1 / LOAD.senders):
                self._until(t0, offset)
                tally.add(offset, started=self._hand(t0 + offset))
            self._until(t0, LOAD.total_duration)
            self._write(tally.rest())
        except gevent.GreenletExit:  # stopped early (Ctrl-C, the run failed): the seconds so far
            self._write(tally.rest(time.time() - t0))
            raise

    def _until(self, t0: float, offset: float) -> None:
        """Sleep until ``t0 + offset`` (never less), writing each second's line as the second ends.

        Each wait is to an absolute time, so a late wake-up delays one arrival, not all after it.
        """
        assert self.tally is not None
        while True:
            now = time.time()
            self._write(self.tally.due(min(now - t0, offset)))
            if now >= t0 + offset:
                return
            next_second = t0 + math.floor(now - t0) + 1
            gevent.sleep(min(t0 + offset, next_second) - now)

    def _hand(self, intended: float) -> bool:
        if not self.idle:
            return False
        self.idle.popleft().set(intended)
        return True

    @staticmethod
    def _write(lines: list[dict[str, Any]]) -> None:
        for line in lines:
            _history().write(line)


_dispatcher: _Dispatcher | None = None
_dispatch: gevent.Greenlet | None = None


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    global _dispatcher, _dispatch
    if not type(environment.runner).__name__.startswith("Master"):
        if LOAD.open_loop:
            _dispatcher = _Dispatcher(environment.runner)
            _dispatch = gevent.spawn(_dispatcher.run)  # it marks the start when its users are ready
        else:
            _mark_start(time.time())

        def flusher() -> None:  # lines reach the file within a fraction of a second, even when idle
            while True:
                gevent.sleep(0.2)
                _history().flush()

        gevent.spawn(flusher)


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    if _dispatch is not None and not _dispatch.dead:
        _dispatch.kill(block=True)  # it writes the seconds so far


@events.quitting.add_listener
def _on_quit(environment: Any, **_: Any) -> None:
    if _writer is not None:
        _writer.close()


class PaychaosUser(FastHttpUser):
    network_timeout = LOAD.timeout
    connection_timeout = LOAD.timeout
    concurrency = 1  # a user does one thing at a time
    max_retries = 0  # a retry is the scenario's decision, and is recorded as its own operation

    def on_start(self) -> None:
        self._due: float | None = None  # open loop: the arrival taken, not started yet
        self.ctx = Context(
            seed=SPEC["seed"],
            process=_process,
            user=next(_users),
            transport=self._send,
            record=_history().write,
            payment_of=PAYMENT_OF,
            outcome_of=OUTCOME_OF,
        )

    def wait_time(self) -> float:
        if LOAD.open_loop:
            assert _dispatcher is not None, "the dispatcher starts with the test, before any user"
            # Waiting for an arrival here, rather than in the task, is waiting as far as Locust
            # knows: when the load ends, a user with nothing to do is stopped at once.
            self._due = _dispatcher.take()
            return 0.0
        if isinstance(WAIT, tuple):
            return self.ctx.random.uniform(*WAIT)
        return WAIT

    @task
    def scenario(self) -> None:
        if LOAD.open_loop:
            due, self._due = self._due, None
            if due is None:
                return  # a new user: it goes to wait for its first arrival
            self.ctx.begin(due)
        name = self.ctx.random.choices(NAMES, WEIGHTS)[0]
        try:
            SCENARIOS[name](self.ctx)
        except (StopUser, gevent.GreenletExit):
            raise
        except Exception:
            log.exception("scenario %s failed in the client itself", name)

    def _send(
        self,
        kind: str,
        method: str,
        path: str,
        json: Any,
        headers: dict[str, str] | None,
        data: bytes | None = None,
    ) -> Reply:
        # Without catch_response Locust reports the request to its own statistics by
        # status, which is what we want, and saves a wrapper object per request.
        if data is not None:
            response = self.client.request(method, path, data=data.decode(), headers=headers, name=kind)
        else:
            response = self.client.request(method, path, json=json, headers=headers, name=kind)
        status = int(response.status_code or 0)
        if status == 0:
            error = getattr(response, "error", None)
            # geventhttpclient wraps the cause (RetriesExceeded(..., original=…)); judge the cause.
            cause = getattr(error, "original", None) or error
            timed_out = isinstance(cause, gevent.Timeout | socket.timeout | TimeoutError)
            return Reply("timeout" if timed_out else "connection", 0, None, repr(cause))
        content = response.content
        try:
            parsed = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            parsed = None
        if 200 <= status < 300:
            return Reply("ok", status, parsed)
        message = parsed.get("error") if isinstance(parsed, dict) else None
        return Reply("failed", status, parsed, message)


class PaychaosShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        return users_at(LOAD, self.get_run_time())
