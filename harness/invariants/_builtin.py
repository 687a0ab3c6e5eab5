"""The built-in invariants: each one set-based SQL over the evidence tables (harness/_evidence_tables.py).

A query's rows are the violations; each row carries its evidence (ledger
entries, payment states, the client operations involved) as JSON, ready for
the report. Client outcomes are three-valued: an operation that timed out or
lost its connection is *unknown*, never failed, and the checks that care
resolve it against the ledger rather than the client's view.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from paychaos.durations import Duration
from paychaos.invariants._base import MAX_EXAMPLES, Evidence, Verdict, found, invariant

# The client operations that concern an order, as evidence for an example.
_CLIENT_OPS = """(SELECT coalesce(json_agg(json_build_object(
        'id', c.id, 'kind', c.kind, 'outcome', c.outcome, 'status', c.status, 'started', c.started,
        'ended', c.ended, 'payment_id', c.payment_id, 'payment_state', c.payment_state)
        ORDER BY c.started), '[]')
    FROM history c WHERE c.order_id = {order})"""


class Eventually(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    within: Duration | None = Field(default=None, description="how long after the heal it may take to hold")


def _verdict(name: str, rows: list[dict[str, Any]], checked: int | None, summary: str) -> Verdict:
    if not rows:
        return Verdict(name, "holds", checked=checked)
    return Verdict(name, "violated", count=len(rows), examples=rows[:MAX_EXAMPLES], checked=checked,
                   reason=summary.format(n=len(rows)))  # fmt: skip


def _count(ev: Evidence, table: str, where: str = "true") -> int:
    return int(ev.sql(f"SELECT count(*) AS n FROM {table} WHERE {where}")[0]["n"])


@invariant("exactly_once_debit", needs=("debits", "refunds", "payments"), default=True)
def exactly_once_debit(ev: Evidence, params: Any) -> Verdict:
    """Never more than one net debit per order; exactly one for every payment that succeeded."""
    rows = ev.sql(f"""
        WITH net AS (
            SELECT d.order_id, count(*) - count(r.key) AS net_debits
            FROM debits d LEFT JOIN refunds r ON r.debit_key = d.key AND r.posted
            WHERE d.posted GROUP BY d.order_id HAVING count(*) - count(r.key) > 1
        )
        SELECT 'more than one net debit' AS problem, n.order_id, n.net_debits,
               (SELECT json_agg(json_build_object('key', d.key, 'payment_id', d.payment_id,
                       'account', d.account, 'amount', d.amount, 'at', d.at, 'refunded_by', r.key)
                       ORDER BY d.at)
                FROM debits d LEFT JOIN refunds r ON r.debit_key = d.key AND r.posted
                WHERE d.order_id = n.order_id AND d.posted) AS ledger,
               {_CLIENT_OPS.format(order="n.order_id")} AS client_operations
        FROM net n
        UNION ALL
        SELECT 'succeeded without a debit', p.order_id, 0, json_build_array(json_build_object(
                   'payment_id', p.payment_id, 'state', p.state, 'charged', p.charged)),
               {_CLIENT_OPS.format(order="p.order_id")}
        FROM payments p
        WHERE p.succeeded AND p.charged > 0
          AND NOT EXISTS (SELECT 1 FROM debits d WHERE d.payment_id = p.payment_id AND d.posted)
        ORDER BY 2""")
    return _verdict(
        "exactly_once_debit", rows, _count(ev, "debits", "posted"), "{n} order(s) debited wrongly"
    )


@invariant(
    "eventual_refund", params=Eventually, eventual=True, needs=("debits", "refunds", "payments"), default=True
)
def eventual_refund(ev: Evidence, params: Any) -> Verdict:
    """Every debit of a payment that did not succeed is refunded in full (unknowns read from the ledger)."""
    rows = ev.sql(f"""
        WITH given AS (SELECT debit_key, sum(amount) AS amount FROM refunds WHERE posted GROUP BY debit_key)
        SELECT d.order_id, d.key AS debit_key, d.payment_id, d.amount, coalesce(g.amount, 0) AS refunded,
               d.at AS debited_at, coalesce(p.state, 'no such payment') AS payment_state,
               p.updated_at AS payment_updated_at,
               {_CLIENT_OPS.format(order="d.order_id")} AS client_operations
        FROM debits d LEFT JOIN payments p ON p.payment_id = d.payment_id
        LEFT JOIN given g ON g.debit_key = d.key
        WHERE d.posted AND NOT coalesce(p.succeeded, false) AND coalesce(g.amount, 0) < d.amount
        ORDER BY d.at""")
    return _verdict("eventual_refund", rows, _count(ev, "debits", "posted"),
                    "{n} debit(s) of payments that did not succeed were not refunded in full")  # fmt: skip


@invariant(
    "merchant_notified",
    params=Eventually,
    eventual=True,
    needs=("payments", "notifications", "fulfilments"),
    default=True,
)
def merchant_notified(ev: Evidence, params: Any) -> Verdict:
    """Every succeeded payment is known to the merchant; duplicate deliveries change nothing."""
    rows = ev.sql(f"""
        SELECT 'succeeded, merchant never told' AS problem, p.order_id, p.payment_id, p.state,
               p.updated_at AS succeeded_at, NULL::bigint AS fulfilments,
               {_CLIENT_OPS.format(order="p.order_id")} AS client_operations
        FROM payments p
        WHERE p.succeeded AND NOT EXISTS (
            SELECT 1 FROM notifications n WHERE n.payment_id = p.payment_id AND n.outcome = 'succeeded')
        UNION ALL
        SELECT 'fulfilled more than once', f.order_id, NULL, NULL, min(f.at), count(*), '[]'::json
        FROM fulfilments f GROUP BY f.order_id HAVING count(*) > 1
        ORDER BY 2""")
    return _verdict("merchant_notified", rows, _count(ev, "payments", "succeeded"),
                    "{n} payment(s) not (or too often) acted on by the merchant")  # fmt: skip


@invariant("no_stuck_orders", params=Eventually, eventual=True, needs=("orders",), default=True)
def no_stuck_orders(ev: Evidence, params: Any) -> Verdict:
    """Every accepted order reaches a final state; none accepted by the shop vanishes."""
    rows = ev.sql(f"""
        SELECT 'not final' AS problem, o.order_id, o.state, o.created_at, o.updated_at,
               {_CLIENT_OPS.format(order="o.order_id")} AS client_operations
        FROM orders o WHERE NOT o.terminal
        UNION ALL
        SELECT 'accepted, then vanished', h.order_id, NULL, min(h.started), NULL,
               {_CLIENT_OPS.format(order="h.order_id")}
        FROM history h
        WHERE h.outcome = 'ok' AND h.order_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = h.order_id)
        GROUP BY h.order_id
        ORDER BY 2""")
    return _verdict("no_stuck_orders", rows, _count(ev, "orders"), "{n} order(s) stuck or lost")


@invariant("no_double_payout", needs=("payouts",), default=True)
def no_double_payout(ev: Evidence, params: Any) -> Verdict:
    """At most one payout per payout instruction, across all channels."""
    rows = ev.sql("""
        SELECT instruction, count(*) AS payouts, sum(amount) AS paid,
               json_agg(json_build_object('channel', channel, 'key', key, 'amount', amount, 'at', at)
                        ORDER BY at) AS ledger
        FROM payouts WHERE posted GROUP BY instruction HAVING count(*) > 1 ORDER BY instruction""")
    return _verdict(
        "no_double_payout", rows, _count(ev, "payouts", "posted"), "{n} instruction(s) paid more than once"
    )


@invariant("conservation", needs=("postings", "accounts"), default=True)
def conservation(ev: Evidence, params: Any) -> Verdict:
    """Money is neither created nor destroyed: postings sum to zero per transaction, balances match them."""
    # Where postings are ordered (seq), each balance_after must follow from the one before it.
    violators = """
        SELECT 'postings do not balance' AS problem, txn_id AS item, sum(amount) AS off_by
        FROM postings GROUP BY txn_id HAVING sum(amount) <> 0
        UNION ALL
        SELECT 'balance differs from its postings', a.id, a.balance - coalesce(p.total, 0)
        FROM accounts a LEFT JOIN (SELECT account, sum(amount) AS total FROM postings GROUP BY account) p
             ON p.account = a.id
        WHERE a.balance <> coalesce(p.total, 0)
        UNION ALL
        SELECT 'balance_after does not follow from the posting before', account || ' ' || txn_id,
               balance_after - amount - before
        FROM (SELECT account, txn_id, amount, balance_after,
                     lag(balance_after) OVER (PARTITION BY account ORDER BY seq) AS before
              FROM postings WHERE seq IS NOT NULL) p
        WHERE balance_after - amount <> before"""
    return found(ev, "conservation", violators, "v.problem, v.item, v.off_by", _count(ev, "accounts"),
                 "{n} imbalance(s) in the ledger")  # fmt: skip


@invariant("credit_limit", needs=("postings", "credit_lines"), default=True)
def credit_limit(ev: Evidence, params: Any) -> Verdict:
    """No account is ever past its credit line, at any posting."""
    rows = ev.sql("""
        SELECT p.account, c.credit_limit, min(p.balance_after) AS lowest_balance,
               count(*) AS postings_past_limit,
               json_agg(json_build_object('txn_id', p.txn_id, 'amount', p.amount,
                        'balance_after', p.balance_after, 'at', p.at) ORDER BY p.at) AS evidence
        FROM postings p JOIN credit_lines c ON c.account = p.account
        WHERE p.balance_after < -c.credit_limit
        GROUP BY p.account, c.credit_limit ORDER BY p.account""")
    return _verdict(
        "credit_limit", rows, _count(ev, "credit_lines"), "{n} account(s) went past their credit line"
    )


@invariant("amount_integrity", needs=("payments", "debits"), default=True)
def amount_integrity(ev: Evidence, params: Any) -> Verdict:
    """Charged = order amount - an allowed discount within the caps in force, and that is what was debited."""
    rows = ev.sql("""
        SELECT 'discount beyond the caps' AS problem, p.payment_id, p.order_id, p.amount, p.discount,
               p.charged, p.cap_percent, p.cap_amount,
               least(p.cap_amount, floor(p.amount * p.cap_percent / 100))::bigint AS allowed_discount,
               NULL::bigint AS debited
        FROM payments p
        WHERE p.discount < 0 OR p.charged <> p.amount - p.discount
           OR p.discount > least(p.cap_amount, floor(p.amount * p.cap_percent / 100))
        UNION ALL
        SELECT 'debited another amount', p.payment_id, p.order_id, p.amount, p.discount, p.charged,
               p.cap_percent, p.cap_amount, NULL, d.amount
        FROM payments p JOIN debits d ON d.payment_id = p.payment_id AND d.posted
        WHERE d.amount <> p.charged
        ORDER BY 1, 3""")
    return _verdict("amount_integrity", rows, _count(ev, "payments"), "{n} payment(s) charged a wrong amount")


class ReplayParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    conflicting: list[str] = Field(
        default=[],
        description="operation kinds that reuse a key with another body: must be refused (besides every "
        "keyed operation its scenario sent expecting a refusal)",
    )


@invariant("idempotent_replay", params=ReplayParams, default=True)
def idempotent_replay(ev: Evidence, params: Any) -> Verdict:
    """Retries under one idempotency key got one payment; a key reused for another request was refused."""
    rows = ev.sql(f"""
        WITH several AS MATERIALIZED (
            SELECT key FROM history WHERE outcome = 'ok' AND key IS NOT NULL AND payment_id IS NOT NULL
            GROUP BY key HAVING min(payment_id) <> max(payment_id)
        )
        SELECT 'one key, several payments' AS problem, s.key, x.order_id, x.payments,
               {_CLIENT_OPS.format(order="x.order_id")} AS client_operations
        FROM several s CROSS JOIN LATERAL (
            SELECT min(h.order_id) AS order_id, array_agg(DISTINCT h.payment_id) AS payments
            FROM history h WHERE h.key = s.key AND h.outcome = 'ok' AND h.payment_id IS NOT NULL) x
        UNION ALL
        SELECT 'reused key accepted', h.key, h.order_id, array_agg(h.payment_id),
               {_CLIENT_OPS.format(order="h.order_id")}
        FROM history h
        WHERE (h.kind = ANY($1::text[]) OR (h.refusal_expected AND h.key IS NOT NULL)) AND h.outcome = 'ok'
        GROUP BY h.key, h.order_id
        ORDER BY 2""", params.conflicting)  # fmt: skip
    return _verdict("idempotent_replay", rows, _count(ev, "history", "key IS NOT NULL"),
                    "{n} key(s) not honoured")  # fmt: skip
