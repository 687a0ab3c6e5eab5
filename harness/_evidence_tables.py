"""The evidence schema: the tables every built-in invariant reads, whatever the target.

A target maps its own data onto these tables in its ``target.yaml``
(``evidence.tables``: a query per table, against one of its sources). Before
each check the harness copies them into an evidence database beside the
target's, along with the run's history and fault journal, so invariants are
plain set-based SQL and know nothing of the target's internals.

Columns a target leaves out are NULL; a table a target does not provide makes
the invariants that need it "could not check", never "holds".
"""

from __future__ import annotations

# table -> (column, SQL type, meaning)
TABLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "debits": (
        ("key", "text", "the idempotency key the bank holds the debit under"),
        ("payment_id", "text", "the payment it was made for"),
        ("order_id", "text", "the order it was made for"),
        ("account", "text", "the account debited"),
        ("amount", "bigint", "minor units"),
        ("posted", "boolean", "money moved (false: declined or voided)"),
        ("at", "timestamptz", "when the bank recorded it"),
    ),
    "refunds": (
        ("key", "text", "the refund's own key"),
        ("debit_key", "text", "the debit it gives back"),
        ("order_id", "text", ""),
        ("amount", "bigint", ""),
        ("posted", "boolean", ""),
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
        ("at", "timestamptz", ""),
    ),
    "payments": (
        ("payment_id", "text", ""),
        ("key", "text", "the client's idempotency key"),
        ("order_id", "text", ""),
        ("amount", "bigint", "the order amount"),
        ("discount", "bigint", ""),
        ("charged", "bigint", "what the customer is to be debited"),
        ("cap_percent", "numeric", "the discount cap in force, percent"),
        ("cap_amount", "bigint", "the discount cap in force, minor units"),
        ("state", "text", "the target's own word"),
        ("succeeded", "boolean", "the payment went through (perhaps refunded since)"),
        ("created_at", "timestamptz", ""),
        ("updated_at", "timestamptz", ""),
    ),
    "orders": (
        ("order_id", "text", ""),
        ("state", "text", "the target's own word"),
        ("terminal", "boolean", "the order will not change any more by itself"),
        ("created_at", "timestamptz", ""),
        ("updated_at", "timestamptz", ""),
    ),
    "notifications": (
        ("order_id", "text", ""),
        ("payment_id", "text", ""),
        ("outcome", "text", "succeeded, failed or refunded"),
        ("first", "boolean", "the first delivery of this notification"),
        ("received_at", "timestamptz", ""),
    ),
    "fulfilments": (
        ("order_id", "text", "goods shipped (or credited) for this order"),
        ("at", "timestamptz", ""),
    ),
    "payouts": (
        ("instruction", "text", "the payout instruction"),
        ("channel", "text", ""),
        ("key", "text", ""),
        ("amount", "bigint", ""),
        ("posted", "boolean", "money left through this channel"),
        ("at", "timestamptz", ""),
    ),
}

# Created after each load, for the joins and per-example lookups the invariants make.
INDEXES: tuple[tuple[str, str], ...] = (
    ("debits", "payment_id"),
    ("debits", "key"),
    ("debits", "order_id"),
    ("refunds", "debit_key"),
    ("payments", "payment_id"),
    ("notifications", "payment_id"),
    ("history", "order_id"),
    ("history", "key"),
    ("postings", "account"),
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
