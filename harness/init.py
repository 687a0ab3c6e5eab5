"""``paychaos init DIR``: a new target to start from, written so that it validates at once.

It writes two files: ``DIR/target.yaml`` (one service, one link, one ``sql`` evidence source,
one scenario of YAML steps and a ``payment:`` reader, each commented) and
``DIR/experiments/first.yaml`` (a short load with one latency fault). The service's command and
the evidence queries are placeholders: the user edits them for their own stack, then runs
``paychaos validate`` and ``paychaos run``. docs/targets.md is the full reference.

>>> written = scaffold(Path("my-stack"))    # doctest: +SKIP
>>> [str(p) for p in written]               # doctest: +SKIP
['my-stack/target.yaml', 'my-stack/experiments/first.yaml']
"""

from __future__ import annotations

import re
from pathlib import Path

from paychaos.errors import InvalidInput

__all__ = ["EXPERIMENT", "TARGET", "scaffold", "target_name"]

TARGET = """\
# What paychaos knows about your payment stack. Nothing else is read: paychaos starts the
# services below, puts a fault proxy on each link, drives the load and reads the evidence.
# Every key is described in docs/targets.md of the paychaos repository.
# Check this file with:  paychaos validate experiments/first.yaml
name: @NAME@
description: >
  Your payment stack. Say in a sentence or two what it is and what it does with money.

# The PostgreSQL databases of your services. A run creates each one empty on a PostgreSQL of
# its own (or on --db), so your service must create its tables when it starts.
postgres:
  databases: [payments]

# Environment for every service and the load. {secret} is a random token made for each run,
# e.g. a webhook signing key your services share.
env:
  PAYMENTS_WEBHOOK_SECRET: "{secret}"

services:
  api:
    description: the payment API the load talks to
    # EDIT: the command that starts your service, run from this folder. It must listen on
    # {port} (a run picks a free port) and reach its database at {link.api_db.dsn}, which is
    # a fault proxy during a run. {python} is the interpreter paychaos runs on.
    command: ["{python}", -m, your_payment_api, --port, "{port}", --db, "{link.api_db.dsn}"]
    port: 8000            # the port `paychaos stack up` uses
    health: /healthz      # GET this answers 2xx once the service is ready
    start_timeout: 30s

# The connections to put a fault proxy on. An experiment's faults name them.
links:
  api_db: {from: api, to: postgres, database: payments, description: the API's database}

# Where the invariants find what happened. Each table below is one of paychaos's evidence
# tables, filled by one SELECT on your database that names the table's columns (AS …).
# Columns you leave out are NULL; a table you leave out turns off the invariants that need it.
evidence:
  sources:
    db: {kind: sql, database: payments, description: the API's own tables}
  tables:
    # EDIT each query for your schema. These assume two tables:
    #   payments(id, idempotency_key, order_id, account, amount, status, created_at, updated_at)
    #   ledger_entries(id, kind, idempotency_key, original_key, payment_id, order_id, account,
    #                  amount, status, created_at)
    payments:
      source: db
      # outcome is your status in paychaos's words: succeeded, failed, refunded or pending.
      # succeeded: the money was taken (also when it was refunded since).
      query: >
        SELECT id AS payment_id, idempotency_key AS key, order_id, account, amount,
               0 AS discount, amount AS charged, status AS state,
               CASE status WHEN 'captured' THEN 'succeeded' WHEN 'declined' THEN 'failed'
                           WHEN 'refunded' THEN 'refunded' ELSE 'pending' END AS outcome,
               status IN ('captured', 'refunded') AS succeeded,
               created_at, updated_at
        FROM payments
    debits:
      source: db
      # Every debit the ledger recorded, posted or not; status is posted, declined or voided.
      query: >
        SELECT idempotency_key AS key, payment_id, order_id, account, amount,
               status = 'posted' AS posted, status, id AS txn_id, created_at AS at
        FROM ledger_entries WHERE kind = 'debit'
    refunds:
      source: db
      # debit_key: the key of the debit the refund gives back.
      query: >
        SELECT idempotency_key AS key, original_key AS debit_key, order_id, account, amount,
               status = 'posted' AS posted, id AS txn_id, created_at AS at
        FROM ledger_entries WHERE kind = 'refund'

# The load: what each simulated customer does, as HTTP steps (no Python needed).
load:
  service: api            # the service the load sends its requests to
  # Values drawn afresh for every iteration; {order_id} and {idempotency_key} come free.
  values:
    amount: {min: 100, max: 50000}
    account: {pattern: "cust-{n:05d}", n: {min: 1, max: 1000}}
  # EDIT: where your answers carry the payment, for the history of every operation.
  payment:
    id: $.id
    state: $.status
    outcome: {succeeded: [captured], failed: [declined]}
  scenarios:
    pay:
      weight: 1
      description: create a payment, retry it under the same key while no answer comes, read it back
      steps:
        # EDIT: your API's requests.
        - request:
            method: POST
            path: /payments
            json: {order_id: "{order_id}", account: "{account}", amount: "{amount}"}
            headers: {Idempotency-Key: "{idempotency_key}"}
          extract: {payment_id: $.id}
          retry: {times: 2, while: [unknown]}
        - request: {kind: check, method: GET, path: "/payments/{payment_id}"}
"""

EXPERIMENT = """\
# A first experiment: ten customers pay for twenty seconds while the API's database link
# gains 200 ms of latency for ten of them. Every default invariant the target's evidence
# supports is checked. Run it with:  paychaos run experiments/first.yaml [--quick]
name: first
description: >
  Ten users pay for twenty seconds; from 5 s to 15 s every answer from the database is
  200 ms late. Payments get slower; none is lost, none is debited twice.
seed: 1
target: {path: ../target.yaml}
load: {users: 10, duration: 20s}
faults:
  - {at: 5s, duration: 10s, link: api_db, toxic: latency, latency: 200ms}
quick: {scale: 0.5, settle: 20s}   # what --quick does: times × 0.5, settling up to 20 s
"""

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


def target_name(folder: Path) -> str:
    """A target name made from the folder's: lower case, other characters as ``-``, a letter first.

    >>> target_name(Path("Acme Pay"))
    'acme-pay'
    """
    name = re.sub(r"[^a-z0-9_\-]+", "-", folder.resolve().name.lower()).strip("-")
    return name if _NAME.match(name) else f"target-{name}".rstrip("-")


def scaffold(folder: Path, *, force: bool = False) -> list[Path]:
    """Write ``folder/target.yaml`` and ``folder/experiments/first.yaml``; the paths written.

    ``folder`` may be missing or empty; with ``force`` it may hold anything, and the two files
    are overwritten. Raises :class:`InvalidInput` otherwise.
    """
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{folder} is a file; give a folder for the new target (it may not exist yet)")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise InvalidInput(
            f"{folder} is not empty; give a new or empty folder, or add --force to write "
            "target.yaml and experiments/first.yaml there (overwriting them if they exist)"
        )
    files = {
        folder / "target.yaml": TARGET.replace("@NAME@", target_name(folder)),
        folder / "experiments" / "first.yaml": EXPERIMENT,
    }
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {exc.filename}: {exc.strerror}; choose another folder") from exc
    return list(files)
