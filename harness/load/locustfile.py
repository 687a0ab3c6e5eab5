"""The locustfile paychaos runs: the only module that imports Locust (and with it gevent).

It runs in the Locust subprocess only, configured by the JSON file named in
``PAYCHAOS_LOAD_SPEC`` (written by :mod:`harness.load._locust`). Users run the
target's scenarios, picked by weight from a seeded random generator, and write
every operation to this process's history file. The load shape follows the
experiment: constant, ramp, spike or stages (:func:`harness.load._shapes.users_at`).
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import gevent
import orjson
from locust import FastHttpUser, LoadTestShape, events, task
from locust.exception import StopUser

from harness.experiment import Load
from harness.load._history import HistoryWriter
from harness.load._scenario import Context, Reply
from harness.load._shapes import users_at

log = logging.getLogger("paychaos.load")

SPEC: dict[str, Any] = json.loads(Path(os.environ["PAYCHAOS_LOAD_SPEC"]).read_text())
LOAD = Load.model_validate(SPEC["load"])
MODULE = importlib.import_module(SPEC["module"])
NAMES = [name for name, weight in SPEC["scenarios"].items() if weight > 0]
WEIGHTS = [SPEC["scenarios"][name] for name in NAMES]
WAIT = LOAD.wait
_users = itertools.count(1)
_writer: HistoryWriter | None = None
_process = 0


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


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if not type(environment.runner).__name__.startswith("Master"):
        _history().write({"event": "start", "at": time.time(), "pid": os.getpid(), "process": _process})
        _history().flush()

        def flusher() -> None:  # lines reach the file within a fraction of a second, even when idle
            while True:
                gevent.sleep(0.2)
                _history().flush()

        gevent.spawn(flusher)


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
        self.ctx = Context(
            seed=SPEC["seed"],
            process=_process,
            user=next(_users),
            transport=self._send,
            record=_history().write,
            payment_of=MODULE.payment_of,
            outcome_of=getattr(MODULE, "outcome_of", None),
        )

    def wait_time(self) -> float:
        if isinstance(WAIT, tuple):
            return self.ctx.random.uniform(*WAIT)
        return WAIT

    @task
    def scenario(self) -> None:
        name = self.ctx.random.choices(NAMES, WEIGHTS)[0]
        try:
            MODULE.SCENARIOS[name](self.ctx)
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
