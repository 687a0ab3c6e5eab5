"""The evidence schema: the tables every built-in invariant reads, whatever the target.

A target maps its own data onto these tables in its ``target.yaml``
(``evidence.tables``: a query per table, against one of its sources). Before
each check the harness copies them into an evidence database beside the
target's, along with the run's history and fault journal, so invariants are
plain set-based SQL and know nothing of the target's internals.

Columns a target leaves out are NULL; a table a target does not provide makes
the invariants that need it "could not check", never "holds".

States are the target's own words (``state``), and also one of paychaos's
words (``outcome``), so cross-service checks can compare them:

- a payment's outcome: ``succeeded`` (the money is taken), ``failed`` (it never
  was, or it was given back because the payment did not go through),
  ``refunded`` (taken, then refunded on request), ``pending`` (not final);
- an order's: ``paid``, ``failed``, ``refunded``, ``pending``;
- a payout request's: ``paid``, ``failed``, ``pending``;
- a ledger entry's ``status``: ``posted`` (money moved), ``declined`` (refused,
  nothing moved), ``voided`` (the key was cancelled before anything moved).
"""

from __future__ import annotations

from dataclasses import dataclass

# table -> (column, SQL type, meaning)
TABLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "debits": (
        ("key", "text", "the idempotency key the bank holds the debit under"),
        ("payment_id", "text", "the payment it was made for"),
        ("order_id", "text", "the order it was made for"),
        ("account", "text", "the account debited"),
        ("amount", "bigint", "minor units"),
        ("posted", "boolean", "money moved (false: declined or voided)"),
        ("status", "text", "posted, declined or voided"),
        ("txn_id", "text", "the ledger transaction whose postings moved the money"),
        ("at", "timestamptz", "when the bank recorded it"),
    ),
    "refunds": (
        ("key", "text", "the refund's own key"),
        ("debit_key", "text", "the debit it gives back"),
        ("order_id", "text", ""),
        ("account", "text", "the account credited"),
        ("amount", "bigint", ""),
        ("posted", "boolean", ""),
        ("txn_id", "text", "the ledger transaction whose postings moved the money"),
        ("at", "timestamptz", ""),
    ),
    "accounts": (
        ("id", "text", ""),
        ("balance", "bigint", "current balance"),
    ),
    "credit_lines": (
        ("account", "text", "an account whose balance must never fall below -credit_limit"),
        ("credit_limit", "bigint", ""),
    ),
    "postings": (
        ("txn_id", "text", "the transaction the posting belongs to"),
        ("account", "text", ""),
        ("amount", "bigint", "signed: negative leaves the account"),
        ("balance_after", "bigint", "the account's balance right after this posting"),
        ("seq", "bigint", "the posting's place in its account's history (e.g. the posting id), if known"),
        ("at", "timestamptz", ""),
    ),
    "payments": (
        ("payment_id", "text", ""),
        ("key", "text", "the client's idempotency key"),
        ("order_id", "text", ""),
        ("account", "text", "the account to be debited"),
        ("amount", "bigint", "the order amount"),
        ("discount", "bigint", ""),
        ("charged", "bigint", "what the customer is to be debited"),
        ("cap_percent", "numeric", "the discount cap in force, percent"),
        ("cap_amount", "bigint", "the discount cap in force, minor units"),
        ("state", "text", "the target's own word"),
        ("outcome", "text", "succeeded, failed, refunded or pending (see above)"),
        ("succeeded", "boolean", "the payment went through (perhaps refunded since)"),
        (
            "expires_at",
            "timestamptz",
            "its deadline: a debit landing later may be refunded and the payment failed",
        ),
        ("created_at", "timestamptz", ""),
        ("updated_at", "timestamptz", ""),
    ),
    "orders": (
        ("order_id", "text", ""),
        ("account", "text", "the paying account"),
        ("amount", "bigint", ""),
        ("payment_id", "text", "the payment the shop holds for it, if any"),
        ("state", "text", "the target's own word"),
        ("outcome", "text", "paid, failed, refunded or pending (see above)"),
        ("terminal", "boolean", "the order will not change any more by itself"),
        ("created_at", "timestamptz", ""),
        ("updated_at", "timestamptz", ""),
    ),
    "notifications": (
        ("event_id", "text", "the notification's own id (a redelivery has the same)"),
        ("order_id", "text", ""),
        ("payment_id", "text", ""),
        ("outcome", "text", "succeeded, failed or refunded"),
        ("first", "boolean", "the first delivery of this notification"),
        ("received_at", "timestamptz", ""),
    ),
    "deliveries": (
        ("event_id", "text", "a notification the stack sent (the receiver sees the same id)"),
        ("order_id", "text", ""),
        ("payment_id", "text", ""),
        ("acknowledged", "boolean", "the receiver confirmed it (a 2xx); the sender stopped trying"),
        ("attempts", "int", ""),
        ("last_error", "text", "why the last attempt failed, if it did"),
        ("created_at", "timestamptz", ""),
    ),
    "fulfilments": (
        ("order_id", "text", "goods shipped (or credited) for this order"),
        ("at", "timestamptz", ""),
    ),
    "payouts": (
        ("instruction", "text", "the payout instruction"),
        ("channel", "text", ""),
        ("key", "text", ""),
        ("account", "text", "the account paid from"),
        ("amount", "bigint", ""),
        ("posted", "boolean", "money left through this channel"),
        ("status", "text", "posted, declined or voided"),
        ("txn_id", "text", "the ledger transaction whose postings moved the money"),
        ("at", "timestamptz", ""),
    ),
    "payout_requests": (
        ("instruction", "text", "the payout instruction, as the ledger's payouts name it"),
        ("key", "text", "the client's idempotency key (ties the request to the client operations)"),
        ("account", "text", "the account to pay from"),
        ("amount", "bigint", ""),
        ("state", "text", "the target's own word"),
        ("outcome", "text", "paid, failed or pending (see above)"),
        ("channel", "text", "the channel that paid, or was last tried"),
        ("created_at", "timestamptz", ""),
        ("updated_at", "timestamptz", ""),
    ),
    "payout_attempts": (
        ("instruction", "text", "the payout instruction, as payout_requests name it"),
        ("channel", "text", "the channel tried"),
        ("action", "text", "what the payment service did there, in its own word (send, settle, …)"),
        ("outcome", "text", "what came of it, in its own word (paid, timeout, declined, …)"),
        ("at", "timestamptz", ""),
    ),
}

# Created after each load, for the joins and per-example lookups the invariants make.
INDEXES: tuple[tuple[str, str], ...] = (
    ("debits", "payment_id"),
    ("debits", "key"),
    ("debits", "order_id"),
    ("debits", "txn_id"),
    ("refunds", "debit_key"),
    ("refunds", "txn_id"),
    ("postings", "txn_id"),
    ("payouts", "instruction"),
    ("payments", "order_id"),
    ("orders", "order_id"),
    ("payments", "payment_id"),
    ("notifications", "payment_id"),
    ("history", "order_id"),
    ("history", "key"),
    ("postings", "account"),
    ("deliveries", "event_id"),
    ("notifications", "event_id"),
    # the story of a violator's order in its example (harness/invariants/_violations.py)
    ("history", "payment_id"),
    ("deliveries", "order_id"),
    ("notifications", "order_id"),
    ("fulfilments", "order_id"),
    ("payout_requests", "instruction"),
    ("payout_attempts", "instruction"),
)

# Loaded by the harness itself, from the run's own journals.
RUN_TABLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "history": (
        ("id", "text", "operation id"),
        ("kind", "text", ""),
        ("order_id", "text", ""),
        ("key", "text", "idempotency key"),
        ("amount", "bigint", ""),
        ("started", "timestamptz", ""),
        ("ended", "timestamptz", ""),
        ("outcome", "text", "ok, failed, timeout or connection (the last two: unknown)"),
        ("status", "int", "HTTP status, if an answer came"),
        ("payment_id", "text", ""),
        ("payment_state", "text", ""),
        ("expected", "boolean", "a refusal the scenario provoked on purpose"),
        (
            "forged",
            "boolean",
            "a request the scenario made inauthentic on purpose (e.g. an unsigned webhook)",
        ),
        ("refusal_expected", "boolean", "the scenario sent it to be refused (a key reused for another body)"),
        (
            "told",
            "text",
            "what the answer told the client as final: succeeded, failed, or NULL (nothing final)",
        ),
        (
            "intended",
            "timestamptz",
            "open-loop load: when the iteration this operation began was due to start (its latency "
            "counts from here, so waiting for a free user is not hidden); NULL otherwise",
        ),
    ),
    "faults": (
        ("id", "text", ""),
        ("kind", "text", ""),
        ("target", "text", ""),
        ("action", "text", ""),
        ("applied", "timestamptz", ""),
        ("healed", "timestamptz", ""),
    ),
}


@dataclass(frozen=True)
class Counter:
    """A coverage count paychaos takes from the evidence tables after a run (harness/invariants/_coverage)."""

    name: str
    description: str
    needs: tuple[str, ...]  # evidence tables it reads (the history is always there)
    query: str  # one row, one column: the count


COUNTERS: dict[str, Counter] = {
    c.name: c
    for c in (
        Counter("operations", "client operations sent", (), "SELECT count(*) FROM history"),
        Counter("unknown_outcomes", "client operations that got no answer (timeout or lost connection)", (),
                "SELECT count(*) FROM history WHERE outcome IN ('timeout', 'connection')"),
        Counter("forged_requests", "requests the load made inauthentic on purpose (forged notifications)", (),
                "SELECT count(*) FROM history WHERE forged"),
        Counter("payments_succeeded", "payments that went through", ("payments",),
                "SELECT count(*) FROM payments WHERE succeeded"),
        Counter("payments_failed", "payments that ended failed", ("payments",),
                "SELECT count(*) FROM payments WHERE outcome = 'failed'"),
        Counter("payments_refunded", "payments refunded on request", ("payments",),
                "SELECT count(*) FROM payments WHERE outcome = 'refunded'"),
        Counter("declines", "debits the bank declined (no funds, past a credit line)", ("debits",),
                "SELECT count(*) FROM debits WHERE status = 'declined'"),
        Counter("voids", "debit and payout keys cancelled before anything moved", ("debits", "payouts"),
                "SELECT (SELECT count(*) FROM debits WHERE status = 'voided')"
                " + (SELECT count(*) FROM payouts WHERE status = 'voided')"),
        Counter("refunds", "refunds posted", ("refunds",), "SELECT count(*) FROM refunds WHERE posted"),
        Counter("payouts_paid", "payout requests paid", ("payout_requests",),
                "SELECT count(*) FROM payout_requests WHERE outcome = 'paid'"),
        Counter("payouts_failed", "payout requests that ended failed", ("payout_requests",),
                "SELECT count(*) FROM payout_requests WHERE outcome = 'failed'"),
        Counter("duplicate_notifications", "notifications the shop received more than once",
                ("notifications",),
                "SELECT count(*) FROM notifications WHERE NOT first"),
    )
}  # fmt: skip
