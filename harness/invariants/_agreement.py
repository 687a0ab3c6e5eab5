"""Invariants that follow the money and the state across services, after the run has settled.

Each service keeps its own records: the shop its orders and what it shipped, the
payment service its payments and payouts, the ledger the money that moved. A
bug in any one of them shows up as two records that disagree, whatever the bug
was: a refund short of the debit, a paid order never shipped, a payout marked
paid while its outcome was unknown, an order shipped on a forged notification.
So these checks do not look for known bugs; they hold every pair of records
against each other and report each disagreement with both sides as evidence.

Outcomes are compared in paychaos's words (``outcome`` columns, see
harness/_evidence_tables.py), never in the target's own.
"""

from __future__ import annotations

from typing import Any

from paychaos.invariants._base import Evidence, Verdict, found, invariant
from paychaos.invariants._builtin import _CLIENT_OPS, Eventually


def _count(ev: Evidence, table: str, where: str = "true") -> int:
    return int(ev.sql(f"SELECT count(*) AS n FROM {table} WHERE {where}")[0]["n"])


# A ledger entry's postings on its own account: what really moved, whatever the entry says.
_MOVED = (
    "coalesce((SELECT sum(m.amount) FROM postings m WHERE m.txn_id = {txn} AND m.account = {account}), 0)"
)

_DEBITS_OF_PAYMENT = """(SELECT coalesce(json_agg(json_build_object(
        'key', d.key, 'account', d.account, 'amount', d.amount, 'status', d.status, 'at', d.at,
        'refunds', (SELECT coalesce(json_agg(json_build_object('key', r.key, 'account', r.account,
                    'amount', r.amount, 'at', r.at) ORDER BY r.at), '[]')
                    FROM refunds r WHERE r.debit_key = d.key AND r.posted))
        ORDER BY d.at), '[]')
    FROM debits d WHERE d.payment_id = {payment})"""

_PAYMENTS_OF_ORDER = """(SELECT coalesce(json_agg(json_build_object(
        'payment_id', p.payment_id, 'state', p.state, 'outcome', p.outcome, 'charged', p.charged,
        'updated_at', p.updated_at) ORDER BY p.created_at), '[]')
    FROM payments p WHERE p.order_id = {order})"""

_NOTIFICATIONS_OF_ORDER = """(SELECT coalesce(json_agg(json_build_object(
        'event_id', n.event_id, 'payment_id', n.payment_id, 'outcome', n.outcome, 'first', n.first,
        'received_at', n.received_at) ORDER BY n.received_at), '[]')
    FROM notifications n WHERE n.order_id = {order})"""


@invariant(
    "refund_integrity",
    params=Eventually,
    eventual=True,
    needs=("debits", "refunds", "payments"),
    default=True,
)
def refund_integrity(ev: Evidence, params: Any) -> Verdict:
    """Every refund gives back a debit, to the account debited, never more than it; refunded means in full."""
    postings = ev.provided("postings")
    moved = _MOVED.format(txn="r.txn_id", account="d.account")
    violators = f"""
        WITH given AS (
            SELECT debit_key, sum(amount) AS refunded, count(*) AS refunds FROM refunds
            WHERE posted GROUP BY debit_key
        )
        SELECT 'refund of no posted debit' AS problem, r.key AS item, r.debit_key, r.amount AS refunded,
               NULL::bigint AS debited, r.account AS credited, NULL::text AS debited_account
        FROM refunds r
        WHERE r.posted AND NOT EXISTS (SELECT 1 FROM debits d WHERE d.key = r.debit_key AND d.posted)
        UNION ALL
        SELECT 'refunded to another account', r.key, r.debit_key, r.amount, d.amount, r.account, d.account
        FROM refunds r JOIN debits d ON d.key = r.debit_key AND d.posted
        WHERE r.posted AND r.account IS NOT NULL AND d.account IS NOT NULL AND r.account <> d.account
        UNION ALL
        SELECT 'the ledger did not give the refund back to the debited account', r.key, r.debit_key,
               r.amount, d.amount, d.account, d.account
        FROM refunds r JOIN debits d ON d.key = r.debit_key AND d.posted
        WHERE r.posted AND {postings} AND r.txn_id IS NOT NULL AND {moved} <> r.amount
        UNION ALL
        SELECT 'refunds exceed the debit', g.debit_key, g.debit_key, g.refunded, d.amount, NULL, d.account
        FROM given g JOIN debits d ON d.key = g.debit_key AND d.posted
        WHERE g.refunded > d.amount
        UNION ALL
        SELECT 'refunded payment not given back in full', d.key, d.key, coalesce(g.refunded, 0), d.amount,
               NULL, d.account
        FROM payments p JOIN debits d ON d.payment_id = p.payment_id AND d.posted
        LEFT JOIN given g ON g.debit_key = d.key
        WHERE p.outcome = 'refunded' AND coalesce(g.refunded, 0) <> d.amount"""
    examples = """v.problem, v.item, v.debit_key, v.refunded, v.debited, v.credited, v.debited_account,
        (SELECT json_build_object('payment_id', p.payment_id, 'order_id', p.order_id, 'state', p.state,
                'charged', p.charged)
         FROM debits d JOIN payments p ON p.payment_id = d.payment_id WHERE d.key = v.debit_key LIMIT 1)
            AS payment,
        (SELECT coalesce(json_agg(json_build_object('txn_id', m.txn_id, 'account', m.account,
                'amount', m.amount) ORDER BY m.txn_id), '[]')
         FROM refunds r JOIN postings m ON m.txn_id = r.txn_id WHERE r.debit_key = v.debit_key)
            AS refund_postings"""
    return found(ev, "refund_integrity", violators, examples, _count(ev, "refunds", "posted"),
                  "{n} refund(s) wrong in amount or account")  # fmt: skip


@invariant(
    "payments_match_ledger",
    params=Eventually,
    eventual=True,
    needs=("payments", "debits", "refunds"),
    default=True,
)
def payments_match_ledger(ev: Evidence, params: Any) -> Verdict:
    """A payment that succeeded holds exactly one debit of what it charged; a failed or refunded one, none.

    A payment whose debit the bank took before the payment's deadline (``expires_at``) did go
    through: failing it, even with the money given back, tells the customer something untrue.
    """
    postings = ev.provided("postings")
    moved = _MOVED.format(txn="d.txn_id", account="d.account")
    violators = f"""
        WITH given AS (
            SELECT debit_key, sum(amount) AS refunded FROM refunds WHERE posted GROUP BY debit_key
        ), held AS (
            SELECT d.payment_id, count(*) FILTER (WHERE coalesce(g.refunded, 0) < d.amount) AS debits,
                   sum(d.amount - coalesce(g.refunded, 0)) AS amount
            FROM debits d LEFT JOIN given g ON g.debit_key = d.key
            WHERE d.posted GROUP BY d.payment_id
        )
        SELECT CASE WHEN p.outcome NOT IN ('succeeded', 'failed', 'refunded')
                        THEN 'payment not final after the settle'
                    WHEN p.outcome = 'succeeded' THEN 'succeeded, but the ledger holds another debit'
                    ELSE p.outcome || ', but the ledger still holds money for it' END AS problem,
               p.payment_id, p.order_id, p.state, p.outcome, p.charged,
               coalesce(h.debits, 0) AS debits_held, coalesce(h.amount, 0) AS amount_held,
               NULL::text AS debit_key
        FROM payments p LEFT JOIN held h ON h.payment_id = p.payment_id
        WHERE CASE WHEN p.outcome = 'succeeded'
                       THEN coalesce(h.amount, 0) <> p.charged OR (p.charged > 0 AND h.debits <> 1)
                   WHEN p.outcome IN ('failed', 'refunded') THEN coalesce(h.amount, 0) <> 0
                   ELSE true END
        UNION ALL
        SELECT 'failed, though the bank took the money before its deadline', p.payment_id, p.order_id,
               p.state, p.outcome, p.charged, 1, d.amount, d.key
        FROM payments p JOIN debits d ON d.payment_id = p.payment_id AND d.posted
        WHERE p.outcome = 'failed' AND p.expires_at IS NOT NULL AND d.at <= p.expires_at
        UNION ALL
        SELECT 'the ledger moved other money than the debit says', d.payment_id, d.order_id, d.status,
               NULL, d.amount, 1, -{moved}, d.key
        FROM debits d
        WHERE {postings} AND d.txn_id IS NOT NULL
          AND CASE WHEN d.posted THEN {moved} <> -d.amount ELSE {moved} <> 0 END"""
    examples = f"""v.problem, v.payment_id, v.order_id, v.state, v.outcome, v.charged, v.debits_held,
        v.amount_held, v.debit_key, {_DEBITS_OF_PAYMENT.format(payment="v.payment_id")} AS ledger,
        {_CLIENT_OPS.format(order="v.order_id")} AS client_operations"""
    return found(ev, "payments_match_ledger", violators, examples, _count(ev, "payments"),
                  "{n} payment(s) whose state the ledger contradicts")  # fmt: skip


@invariant(
    "orders_match_payments", params=Eventually, eventual=True, needs=("orders", "payments"), default=True
)
def orders_match_payments(ev: Evidence, params: Any) -> Verdict:
    """An order is paid exactly when its payment succeeded, failed when none did, refunded when it was."""
    violators = """
        WITH per_order AS (
            SELECT order_id, bool_or(outcome = 'succeeded') AS succeeded,
                   bool_or(outcome = 'refunded') AS refunded,
                   bool_or(outcome NOT IN ('succeeded', 'failed', 'refunded')) AS pending
            FROM payments GROUP BY order_id
        )
        SELECT CASE o.outcome
                   WHEN 'paid' THEN CASE WHEN coalesce(x.refunded, false)
                                         THEN 'paid at the shop, refunded at the payment service'
                                         ELSE 'paid at the shop, no payment of it succeeded' END
                   WHEN 'failed' THEN 'failed at the shop, a payment of it went through'
                   ELSE 'refunded at the shop, no payment of it was refunded' END AS problem,
               o.order_id, o.state, o.outcome, o.payment_id
        FROM orders o LEFT JOIN per_order x ON x.order_id = o.order_id
        WHERE (o.outcome = 'paid' AND NOT coalesce(x.succeeded, false))
           OR (o.outcome = 'failed' AND (coalesce(x.succeeded, false) OR coalesce(x.refunded, false)))
           OR (o.outcome = 'refunded' AND NOT coalesce(x.refunded, false))
        UNION ALL
        SELECT 'paid at the shop by a payment that did not succeed', o.order_id, o.state, o.outcome,
               o.payment_id
        FROM orders o LEFT JOIN payments p ON p.payment_id = o.payment_id
        WHERE o.outcome = 'paid' AND o.payment_id IS NOT NULL AND coalesce(p.outcome, '') <> 'succeeded'
          AND EXISTS (SELECT 1 FROM payments q WHERE q.order_id = o.order_id AND q.outcome = 'succeeded')
        UNION ALL
        SELECT 'succeeded at the payment service, the shop has no such order', p.order_id, NULL, NULL,
               p.payment_id
        FROM payments p
        WHERE p.outcome IN ('succeeded', 'refunded')
          AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = p.order_id)"""
    examples = f"""v.problem, v.order_id, v.state AS order_state, v.outcome AS order_outcome,
        v.payment_id AS order_payment_id, {_PAYMENTS_OF_ORDER.format(order="v.order_id")} AS payments,
        {_NOTIFICATIONS_OF_ORDER.format(order="v.order_id")} AS notifications,
        {_CLIENT_OPS.format(order="v.order_id")} AS client_operations"""
    return found(ev, "orders_match_payments", violators, examples, _count(ev, "orders"),
                  "{n} order(s) whose state their payment contradicts")  # fmt: skip


@invariant(
    "payouts_match_ledger",
    params=Eventually,
    eventual=True,
    needs=("payout_requests", "payouts"),
    default=True,
)
def payouts_match_ledger(ev: Evidence, params: Any) -> Verdict:
    """A payout marked paid left exactly once, for its amount; one marked failed never left at all."""
    postings = ev.provided("postings")
    moved = _MOVED.format(txn="t.txn_id", account="t.account")
    violators = f"""
        WITH paid AS (
            SELECT instruction, count(*) AS payouts, sum(amount) AS amount FROM payouts WHERE posted
            GROUP BY instruction
        )
        SELECT CASE WHEN q.outcome NOT IN ('paid', 'failed') THEN 'payout not final after the settle'
                    WHEN q.outcome = 'paid' THEN 'marked paid, but the ledger paid it ' ||
                         coalesce(x.payouts, 0) || ' time(s)'
                    ELSE 'marked failed, but the ledger paid it' END AS problem,
               q.instruction, q.state, q.outcome, q.amount, coalesce(x.payouts, 0) AS payouts,
               coalesce(x.amount, 0) AS paid
        FROM payout_requests q LEFT JOIN paid x ON x.instruction = q.instruction
        WHERE CASE WHEN q.outcome = 'paid' THEN coalesce(x.payouts, 0) <> 1 OR x.amount <> q.amount
                   WHEN q.outcome = 'failed' THEN coalesce(x.payouts, 0) <> 0
                   ELSE true END
        UNION ALL
        SELECT 'paid out with no payout request', x.instruction, NULL, NULL, NULL, x.payouts, x.amount
        FROM paid x WHERE NOT EXISTS (SELECT 1 FROM payout_requests q WHERE q.instruction = x.instruction)
        UNION ALL
        SELECT 'the ledger moved other money than the payout says', t.instruction, t.status, NULL, t.amount,
               1, -{moved}
        FROM payouts t
        WHERE {postings} AND t.txn_id IS NOT NULL
          AND CASE WHEN t.posted THEN {moved} <> -t.amount ELSE {moved} <> 0 END"""
    examples = """v.problem, v.instruction, v.state, v.outcome, v.amount, v.payouts, v.paid,
        (SELECT coalesce(json_agg(json_build_object('channel', t.channel, 'key', t.key, 'status', t.status,
                'amount', t.amount, 'at', t.at) ORDER BY t.at), '[]')
         FROM payouts t WHERE t.instruction = v.instruction) AS ledger,
        (SELECT json_build_object('state', q.state, 'channel', q.channel, 'amount', q.amount,
                'updated_at', q.updated_at)
         FROM payout_requests q WHERE q.instruction = v.instruction LIMIT 1) AS request"""
    return found(ev, "payouts_match_ledger", violators, examples, _count(ev, "payout_requests"),
                  "{n} payout(s) whose state the ledger contradicts")  # fmt: skip


@invariant(
    "fulfilled_once",
    params=Eventually,
    eventual=True,
    needs=("payments", "fulfilments"),
    default=True,
)
def fulfilled_once(ev: Evidence, params: Any) -> Verdict:
    """Every order whose payment succeeded is fulfilled exactly once; no order is fulfilled unpaid."""
    violators = """
        WITH paid AS (
            SELECT order_id, bool_or(outcome = 'succeeded') AS succeeded,
                   bool_or(outcome IN ('succeeded', 'refunded')) AS went_through
            FROM payments GROUP BY order_id
        ), shipped AS (
            SELECT order_id, count(*) AS times FROM fulfilments GROUP BY order_id
        )
        SELECT CASE WHEN NOT coalesce(p.went_through, false)
                        THEN 'fulfilled, but no payment of it went through'
                    WHEN coalesce(s.times, 0) = 0 THEN 'paid, never fulfilled'
                    ELSE 'fulfilled more than once' END AS problem,
               coalesce(p.order_id, s.order_id) AS order_id, coalesce(s.times, 0) AS fulfilments
        FROM paid p FULL JOIN shipped s ON s.order_id = p.order_id
        WHERE (coalesce(p.succeeded, false) AND coalesce(s.times, 0) <> 1)
           OR (coalesce(p.went_through, false) AND coalesce(s.times, 0) > 1)
           OR (NOT coalesce(p.went_through, false) AND coalesce(s.times, 0) > 0)"""
    examples = f"""v.problem, v.order_id, v.fulfilments,
        (SELECT coalesce(json_agg(f.at ORDER BY f.at), '[]') FROM fulfilments f WHERE f.order_id = v.order_id)
            AS fulfilled_at,
        {_PAYMENTS_OF_ORDER.format(order="v.order_id")} AS payments,
        {_NOTIFICATIONS_OF_ORDER.format(order="v.order_id")} AS notifications,
        {_CLIENT_OPS.format(order="v.order_id")} AS client_operations"""
    return found(ev, "fulfilled_once", violators, examples, _count(ev, "payments", "succeeded"),
                  "{n} order(s) fulfilled wrongly")  # fmt: skip


@invariant(
    "webhook_authenticity",
    params=Eventually,
    eventual=True,
    needs=("notifications", "payments", "orders", "fulfilments"),
    default=True,
)
def webhook_authenticity(ev: Evidence, params: Any) -> Verdict:
    """The shop acts only on true notifications: it accepted no forged one; no forgery changed an order."""
    violators = """
        WITH forged AS (
            SELECT order_id, payment_id FROM history WHERE forged AND order_id IS NOT NULL
        ), went_through AS (
            SELECT DISTINCT order_id FROM payments WHERE outcome IN ('succeeded', 'refunded')
        )
        SELECT CASE WHEN p.payment_id IS NULL
                        THEN 'accepted a notification about a payment that does not exist'
                    WHEN p.order_id IS DISTINCT FROM n.order_id
                        THEN 'accepted a notification naming another order than its payment'
                    ELSE 'accepted a notification that contradicts its payment' END AS problem,
               n.order_id, n.payment_id, n.outcome AS claimed, p.outcome AS payment_outcome
        FROM notifications n LEFT JOIN payments p ON p.payment_id = n.payment_id
        WHERE p.payment_id IS NULL OR p.order_id IS DISTINCT FROM n.order_id
           OR CASE n.outcome WHEN 'succeeded' THEN NOT coalesce(p.succeeded, false)
                             ELSE p.outcome IS DISTINCT FROM n.outcome END
        UNION ALL
        SELECT 'a forged notification changed the order', o.order_id, o.payment_id, NULL, o.outcome
        FROM orders o
        WHERE o.order_id IN (SELECT order_id FROM forged)
          AND o.order_id NOT IN (SELECT order_id FROM went_through)
          AND (o.outcome IN ('paid', 'refunded')
               OR EXISTS (SELECT 1 FROM fulfilments f WHERE f.order_id = o.order_id))"""
    examples = f"""v.problem, v.order_id, v.payment_id, v.claimed, v.payment_outcome,
        {_PAYMENTS_OF_ORDER.format(order="v.order_id")} AS payments,
        {_NOTIFICATIONS_OF_ORDER.format(order="v.order_id")} AS notifications,
        (SELECT count(*) FROM fulfilments f WHERE f.order_id = v.order_id) AS fulfilments,
        (SELECT coalesce(json_agg(json_build_object('id', c.id, 'kind', c.kind, 'status', c.status,
                'claimed_payment_id', c.payment_id, 'forged', c.forged, 'started', c.started)
                ORDER BY c.started), '[]')
         FROM history c WHERE c.order_id = v.order_id) AS client_operations"""
    return found(ev, "webhook_authenticity", violators, examples, _count(ev, "history", "forged"),
                  "{n} notification(s) acted on that the stack never sent")  # fmt: skip


@invariant("notifications_settled", params=Eventually, eventual=True, needs=("deliveries",), default=True)
def notifications_settled(ev: Evidence, params: Any) -> Verdict:
    """Every notification the stack sent was in the end acknowledged, and the receiver has it."""
    received = ev.provided("notifications")
    violators = f"""
        SELECT 'never acknowledged' AS problem, d.event_id, d.order_id, d.attempts, d.last_error
        FROM deliveries d WHERE NOT coalesce(d.acknowledged, false)
        UNION ALL
        SELECT 'acknowledged, but the receiver has no record of it', d.event_id, d.order_id, d.attempts,
               d.last_error
        FROM deliveries d
        WHERE {received} AND d.acknowledged
          AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_id = d.event_id)"""
    examples = f"""v.problem, v.event_id, v.order_id, v.attempts, v.last_error,
        {_NOTIFICATIONS_OF_ORDER.format(order="v.order_id")} AS received"""
    return found(ev, "notifications_settled", violators, examples, _count(ev, "deliveries"),
                  "{n} notification(s) the stack sent and never saw through")  # fmt: skip


@invariant("clients_told_the_truth", params=Eventually, eventual=True, needs=("payments",), default=True)
def clients_told_the_truth(ev: Evidence, params: Any) -> Verdict:
    """What a client was told as final holds: told paid, its order was paid; told failed, it was not."""
    violators = """
        WITH went AS (
            SELECT order_id, bool_or(outcome IN ('succeeded', 'refunded')) AS through FROM payments
            GROUP BY order_id
        )
        SELECT CASE h.told WHEN 'succeeded' THEN 'told it succeeded; no payment of the order went through'
                           ELSE 'told it failed; a payment of the order went through' END AS problem,
               h.order_id, h.id AS operation, h.kind, h.told, h.ended AS told_at
        FROM history h LEFT JOIN went w ON w.order_id = h.order_id
        WHERE h.told IN ('succeeded', 'failed') AND h.order_id IS NOT NULL
          AND (h.told = 'succeeded') <> coalesce(w.through, false)
        UNION ALL
        SELECT 'told a payment succeeded that failed', h.order_id, h.id, h.kind, h.told, h.ended
        FROM history h JOIN payments p ON p.payment_id = h.payment_id
        WHERE h.told = 'succeeded' AND p.outcome = 'failed'
          AND EXISTS (SELECT 1 FROM went w WHERE w.order_id = h.order_id AND w.through)"""
    examples = f"""v.problem, v.order_id, v.operation, v.kind, v.told, v.told_at,
        {_PAYMENTS_OF_ORDER.format(order="v.order_id")} AS payments,
        {_CLIENT_OPS.format(order="v.order_id")} AS client_operations"""
    return found(ev, "clients_told_the_truth", violators, examples, _count(ev, "history", "told IS NOT NULL"),
                 "{n} answer(s) told a client something that did not hold")  # fmt: skip
