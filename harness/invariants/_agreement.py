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

from paychaos.invariants._base import Evidence
from paychaos.invariants._builtin import Eventually, counted
from paychaos.invariants._violations import Violators, violations

# A ledger entry's postings on its own account: what really moved, whatever the entry says.
_MOVED = (
    "coalesce((SELECT sum(m.amount) FROM postings m WHERE m.txn_id = {txn} AND m.account = {account}), 0)"
)


@violations(
    "refund_integrity",
    params=Eventually,
    eventual=True,
    needs=("debits", "refunds", "payments"),
    default=True,
)
def refund_integrity(ev: Evidence, params: Any) -> Violators:
    """Every refund gives back a debit, to the account debited, never more than it; refunded means in full."""
    postings = ev.provided("postings")
    moved = _MOVED.format(txn="r.txn_id", account="d.account")
    return Violators(
        f"""
        WITH given AS (
            SELECT debit_key, sum(amount) AS refunded, count(*) AS refunds FROM refunds
            WHERE posted GROUP BY debit_key
        )
        SELECT 'refund of no posted debit' AS problem, r.order_id, NULL::text AS payment_id,
               NULL::text AS instruction, r.account, r.key AS item, r.amount AS at_stake,
               'recover the {{refunded}} refund {{item}} gave account {{credited}}: it gives back no posted '
               'debit' AS remedy,
               r.debit_key, r.amount AS refunded, NULL::bigint AS debited, r.account AS credited,
               NULL::text AS debited_account
        FROM refunds r
        WHERE r.posted AND NOT EXISTS (SELECT 1 FROM debits d WHERE d.key = r.debit_key AND d.posted)
        UNION ALL
        SELECT 'refunded to another account', d.order_id, d.payment_id, NULL, d.account, r.key, r.amount,
               'recover {{refunded}} from account {{credited}} and refund it to account {{debited_account}}, '
               'the account debited (refund {{item}})',
               r.debit_key, r.amount, d.amount, r.account, d.account
        FROM refunds r JOIN debits d ON d.key = r.debit_key AND d.posted
        WHERE r.posted AND r.account IS NOT NULL AND d.account IS NOT NULL AND r.account <> d.account
        UNION ALL
        SELECT 'the ledger did not give the refund back to the debited account', d.order_id, d.payment_id,
               NULL, d.account, r.key, r.amount,
               'give {{refunded}} back to account {{debited_account}}: the postings of refund {{item}} '
               'did not',
               r.debit_key, r.amount, d.amount, d.account, d.account
        FROM refunds r JOIN debits d ON d.key = r.debit_key AND d.posted
        WHERE r.posted AND {postings} AND r.txn_id IS NOT NULL AND {moved} <> r.amount
        UNION ALL
        SELECT 'refunds exceed the debit', d.order_id, d.payment_id, NULL, d.account, g.debit_key,
               g.refunded - d.amount,
               'recover the {{at_stake}} refunded beyond debit {{debit_key}} from account '
               '{{debited_account}} ({{refunded}} refunded of {{debited}})',
               g.debit_key, g.refunded, d.amount, NULL, d.account
        FROM given g JOIN debits d ON d.key = g.debit_key AND d.posted
        WHERE g.refunded > d.amount
        UNION ALL
        SELECT 'refunded payment not given back in full', d.order_id, d.payment_id, NULL, d.account, d.key,
               d.amount - coalesce(g.refunded, 0),
               'refund the remaining {{at_stake}} to account {{debited_account}} (debit {{debit_key}}: '
               '{{refunded}} of {{debited}} given back)',
               d.key, coalesce(g.refunded, 0), d.amount, NULL, d.account
        FROM payments p JOIN debits d ON d.payment_id = p.payment_id AND d.posted
        LEFT JOIN given g ON g.debit_key = d.key
        WHERE p.outcome = 'refunded' AND coalesce(g.refunded, 0) <> d.amount""",
        "{n} refund(s) wrong in amount or account",
        counted("refunds", "posted"),
        money=("refunded", "debited"),
        evidence="""(SELECT coalesce(json_agg(json_build_object('txn_id', m.txn_id, 'account', m.account,
                'amount', m.amount) ORDER BY m.txn_id, m.account), '[]')
            FROM refunds r JOIN postings m ON m.txn_id = r.txn_id WHERE r.debit_key = v.debit_key)
            AS refund_postings""",
    )


@violations(
    "payments_match_ledger",
    params=Eventually,
    eventual=True,
    needs=("payments", "debits", "refunds"),
    default=True,
)
def payments_match_ledger(ev: Evidence, params: Any) -> Violators:
    """A payment that succeeded holds exactly one debit of what it charged; a failed or refunded one, none.

    A payment whose debit the bank took before the payment's deadline (``expires_at``) did go
    through: failing it, even with the money given back, tells the customer something untrue.
    """
    postings = ev.provided("postings")
    moved = _MOVED.format(txn="d.txn_id", account="d.account")
    return Violators(
        f"""
        WITH given AS (
            SELECT debit_key, sum(amount) AS refunded FROM refunds WHERE posted GROUP BY debit_key
        ), held AS (
            SELECT d.payment_id, count(*) FILTER (WHERE coalesce(g.refunded, 0) < d.amount) AS debits,
                   sum(d.amount - coalesce(g.refunded, 0)) AS amount, min(d.account) AS account
            FROM debits d LEFT JOIN given g ON g.debit_key = d.key
            WHERE d.posted GROUP BY d.payment_id
        )
        SELECT CASE WHEN p.outcome NOT IN ('succeeded', 'failed', 'refunded')
                        THEN 'payment not final after the settle'
                    WHEN p.outcome = 'succeeded' THEN 'succeeded, but the ledger holds another debit'
                    ELSE p.outcome || ', but the ledger still holds money for it' END AS problem,
               p.order_id, p.payment_id, NULL::text AS instruction, coalesce(p.account, h.account) AS account,
               NULL::text AS item,
               CASE WHEN p.outcome = 'succeeded' THEN abs(coalesce(h.amount, 0) - p.charged)
                    WHEN p.outcome IN ('failed', 'refunded') THEN h.amount END AS at_stake,
               CASE WHEN p.outcome NOT IN ('succeeded', 'failed', 'refunded')
                        THEN 'resolve payment {{payment_id}} (still {{state}}): find out from the ledger '
                             'whether it was debited, then mark it succeeded or failed'
                    WHEN p.outcome = 'succeeded' AND coalesce(h.amount, 0) > p.charged
                        THEN 'refund {{at_stake}} to account {{account}}: payment {{payment_id}} charged '
                             '{{charged}}, the ledger holds {{amount_held}} in {{debits_held}} debit(s)'
                    WHEN p.outcome = 'succeeded' AND coalesce(h.amount, 0) < p.charged
                        THEN 'debit the missing {{at_stake}} from account {{account}}, or mark payment '
                             '{{payment_id}} failed and tell the customer: it charged {{charged}}, the '
                             'ledger holds {{amount_held}}'
                    WHEN p.outcome = 'succeeded'
                        THEN 'merge the {{debits_held}} debits of payment {{payment_id}} into one of '
                             '{{charged}}'
                    ELSE 'refund {{at_stake}} to account {{account}}: payment {{payment_id}} is {{outcome}}'
                    END AS remedy,
               p.state, p.outcome, p.charged, coalesce(h.debits, 0) AS debits_held,
               coalesce(h.amount, 0) AS amount_held, NULL::text AS debit_key
        FROM payments p LEFT JOIN held h ON h.payment_id = p.payment_id
        WHERE CASE WHEN p.outcome = 'succeeded'
                       THEN coalesce(h.amount, 0) <> p.charged OR (p.charged > 0 AND h.debits <> 1)
                   WHEN p.outcome IN ('failed', 'refunded') THEN coalesce(h.amount, 0) <> 0
                   ELSE true END
        UNION ALL
        SELECT 'failed, though the bank took the money before its deadline', p.order_id, p.payment_id, NULL,
               coalesce(d.account, p.account), d.key, d.amount,
               'tell the customer of payment {{payment_id}} that it went through (the bank took {{at_stake}} '
               'from account {{account}} before its deadline): mark it succeeded, or refunded if the money '
               'went back',
               p.state, p.outcome, p.charged, 1, d.amount, d.key
        FROM payments p JOIN debits d ON d.payment_id = p.payment_id AND d.posted
        WHERE p.outcome = 'failed' AND p.expires_at IS NOT NULL AND d.at <= p.expires_at
        UNION ALL
        SELECT 'the ledger moved other money than the debit says', d.order_id, d.payment_id, NULL, d.account,
               d.key, abs({moved} + CASE WHEN d.posted THEN d.amount ELSE 0 END),
               'correct the ledger transaction of debit {{item}}: it moved {{amount_held}} out of account '
               '{{account}}, the debit says {{charged}} ({{state}})',
               d.status, NULL, CASE WHEN d.posted THEN d.amount ELSE 0 END, 1, -{moved}, d.key
        FROM debits d
        WHERE {postings} AND d.txn_id IS NOT NULL
          AND CASE WHEN d.posted THEN {moved} <> -d.amount ELSE {moved} <> 0 END""",
        "{n} payment(s) whose state the ledger contradicts",
        counted("payments"),
        money=("charged", "amount_held"),
    )


@violations(
    "orders_match_payments", params=Eventually, eventual=True, needs=("orders", "payments"), default=True
)
def orders_match_payments(ev: Evidence, params: Any) -> Violators:
    """An order is paid exactly when its payment succeeded, failed when none did, refunded when it was."""
    return Violators(
        """
        WITH per_order AS (
            SELECT order_id, bool_or(outcome = 'succeeded') AS succeeded,
                   bool_or(outcome = 'refunded') AS refunded,
                   bool_or(outcome NOT IN ('succeeded', 'failed', 'refunded')) AS pending
            FROM payments GROUP BY order_id
        ), wrong AS (
            SELECT CASE o.outcome
                       WHEN 'paid' THEN CASE WHEN coalesce(x.refunded, false)
                                             THEN 'paid at the shop, refunded at the payment service'
                                             ELSE 'paid at the shop, no payment of it succeeded' END
                       WHEN 'failed' THEN 'failed at the shop, a payment of it went through'
                       ELSE 'refunded at the shop, no payment of it was refunded' END AS problem,
                   o.order_id, o.payment_id, o.account, o.state, o.outcome
            FROM orders o LEFT JOIN per_order x ON x.order_id = o.order_id
            WHERE (o.outcome = 'paid' AND NOT coalesce(x.succeeded, false))
               OR (o.outcome = 'failed' AND (coalesce(x.succeeded, false) OR coalesce(x.refunded, false)))
               OR (o.outcome = 'refunded' AND NOT coalesce(x.refunded, false))
            UNION ALL
            SELECT 'paid at the shop by a payment that did not succeed', o.order_id, o.payment_id, o.account,
                   o.state, o.outcome
            FROM orders o LEFT JOIN payments p ON p.payment_id = o.payment_id
            WHERE o.outcome = 'paid' AND o.payment_id IS NOT NULL AND coalesce(p.outcome, '') <> 'succeeded'
              AND EXISTS (SELECT 1 FROM payments q WHERE q.order_id = o.order_id AND q.outcome = 'succeeded')
            UNION ALL
            SELECT 'succeeded at the payment service, the shop has no such order', p.order_id, p.payment_id,
                   p.account, NULL, NULL
            FROM payments p
            WHERE p.outcome IN ('succeeded', 'refunded')
              AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = p.order_id)
        )
        SELECT w.problem, w.order_id, w.payment_id, NULL::text AS instruction, w.account, NULL::text AS item,
               NULL::bigint AS at_stake,
               CASE w.problem
                   WHEN 'paid at the shop, refunded at the payment service'
                       THEN 'mark order {order_id} refunded: its payment was refunded'
                   WHEN 'paid at the shop, no payment of it succeeded'
                       THEN 'mark order {order_id} failed and hold back its goods (or collect its payment): '
                            'no payment of it succeeded'
                   WHEN 'failed at the shop, a payment of it went through'
                       THEN 'mark order {order_id} paid and fulfil it, or refund its payment and tell the '
                            'customer'
                   WHEN 'refunded at the shop, no payment of it was refunded'
                       THEN 'refund the payment of order {order_id}, as the shop says, or mark the order '
                            'paid again'
                   WHEN 'paid at the shop by a payment that did not succeed'
                       THEN 'point order {order_id} at its payment that succeeded (it names {payment_id}, '
                            'which did not)'
                   ELSE 'refund payment {payment_id}, or create order {order_id} at the shop: the shop has '
                        'no such order' END AS remedy,
               w.state AS order_state, w.outcome AS order_outcome
        FROM wrong w""",
        "{n} order(s) whose state their payment contradicts",
        counted("orders"),
    )


@violations(
    "payouts_match_ledger",
    params=Eventually,
    eventual=True,
    needs=("payout_requests", "payouts"),
    default=True,
)
def payouts_match_ledger(ev: Evidence, params: Any) -> Violators:
    """A payout marked paid left exactly once, for its amount; one marked failed never left at all."""
    postings = ev.provided("postings")
    moved = _MOVED.format(txn="t.txn_id", account="t.account")
    return Violators(
        f"""
        WITH paid AS (
            SELECT instruction, count(*) AS payouts, sum(amount) AS amount, min(account) AS account
            FROM payouts WHERE posted GROUP BY instruction
        )
        SELECT CASE WHEN q.outcome NOT IN ('paid', 'failed') THEN 'payout not final after the settle'
                    WHEN q.outcome = 'paid' THEN 'marked paid, but the ledger paid it ' ||
                         coalesce(x.payouts, 0) || ' time(s)'
                    ELSE 'marked failed, but the ledger paid it' END AS problem,
               NULL::text AS order_id, NULL::text AS payment_id, q.instruction,
               coalesce(q.account, x.account) AS account, NULL::text AS item,
               CASE WHEN q.outcome NOT IN ('paid', 'failed') THEN NULL
                    WHEN q.outcome = 'failed' THEN x.amount
                    WHEN coalesce(x.payouts, 0) = 0 THEN q.amount
                    ELSE abs(x.amount - q.amount) END AS at_stake,
               CASE WHEN q.outcome NOT IN ('paid', 'failed')
                        THEN 'resolve payout {{instruction}} (still {{state}}): ask each channel whether it '
                             'paid, then mark it paid or failed'
                    WHEN q.outcome = 'failed'
                        THEN 'mark payout {{instruction}} paid (a channel paid {{paid}}), or recover the '
                             'payout'
                    WHEN coalesce(x.payouts, 0) = 0
                        THEN 'pay instruction {{instruction}} ({{amount}}), or mark it failed: no channel '
                             'paid it'
                    WHEN x.payouts > 1
                        THEN 'reverse every payout of instruction {{instruction}} but one: it was paid '
                             '{{times_paid}} times, {{paid}} in all, for {{amount}}'
                    ELSE 'correct payout {{instruction}}: the channel paid {{paid}}, the request is for '
                         '{{amount}}' END AS remedy,
               q.state, q.outcome, q.channel, q.amount, coalesce(x.payouts, 0) AS times_paid,
               coalesce(x.amount, 0) AS paid
        FROM payout_requests q LEFT JOIN paid x ON x.instruction = q.instruction
        WHERE CASE WHEN q.outcome = 'paid' THEN coalesce(x.payouts, 0) <> 1 OR x.amount <> q.amount
                   WHEN q.outcome = 'failed' THEN coalesce(x.payouts, 0) <> 0
                   ELSE true END
        UNION ALL
        SELECT 'paid out with no payout request', NULL, NULL, x.instruction, x.account, NULL, x.amount,
               'recover the {{paid}} paid out under instruction {{instruction}}: no payout request names it',
               NULL, NULL, NULL, NULL, x.payouts, x.amount
        FROM paid x WHERE NOT EXISTS (SELECT 1 FROM payout_requests q WHERE q.instruction = x.instruction)
        UNION ALL
        SELECT 'the ledger moved other money than the payout says', NULL, NULL, t.instruction, t.account,
               t.key, abs({moved} + CASE WHEN t.posted THEN t.amount ELSE 0 END),
               'correct the ledger transaction of payout {{instruction}} on channel {{channel}}: it moved '
               '{{paid}} out of account {{account}}, the payout says {{amount}} ({{state}})',
               t.status, NULL, t.channel, CASE WHEN t.posted THEN t.amount ELSE 0 END, 1, -{moved}
        FROM payouts t
        WHERE {postings} AND t.txn_id IS NOT NULL
          AND CASE WHEN t.posted THEN {moved} <> -t.amount ELSE {moved} <> 0 END""",
        "{n} payout(s) whose state the ledger contradicts",
        counted("payout_requests"),
        money=("amount", "paid"),
        story="payout",
    )


@violations(
    "fulfilled_once",
    params=Eventually,
    eventual=True,
    needs=("payments", "fulfilments"),
    default=True,
)
def fulfilled_once(ev: Evidence, params: Any) -> Violators:
    """Every order whose payment succeeded is fulfilled exactly once; no order is fulfilled unpaid."""
    return Violators(
        """
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
               coalesce(p.order_id, s.order_id) AS order_id, NULL::text AS payment_id,
               NULL::text AS instruction, NULL::text AS account, NULL::text AS item, NULL::bigint AS at_stake,
               CASE WHEN NOT coalesce(p.went_through, false)
                        THEN 'recover the goods of order {order_id}, or collect its payment: no payment of '
                             'it went through'
                    WHEN coalesce(s.times, 0) = 0 THEN 'fulfil order {order_id}'
                    ELSE 'reverse the extra fulfilments of order {order_id}: it was fulfilled '
                         '{times_fulfilled} times, once is right' END AS remedy,
               coalesce(s.times, 0) AS times_fulfilled
        FROM paid p FULL JOIN shipped s ON s.order_id = p.order_id
        WHERE (coalesce(p.succeeded, false) AND coalesce(s.times, 0) <> 1)
           OR (coalesce(p.went_through, false) AND coalesce(s.times, 0) > 1)
           OR (NOT coalesce(p.went_through, false) AND coalesce(s.times, 0) > 0)""",
        "{n} order(s) fulfilled wrongly",
        counted("payments", "succeeded"),
    )


@violations(
    "webhook_authenticity",
    params=Eventually,
    eventual=True,
    needs=("notifications", "payments", "orders", "fulfilments"),
    default=True,
)
def webhook_authenticity(ev: Evidence, params: Any) -> Violators:
    """The shop acts only on true notifications: it accepted no forged one; no forgery changed an order."""
    return Violators(
        """
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
               n.order_id, n.payment_id, NULL::text AS instruction, NULL::text AS account, n.event_id AS item,
               NULL::bigint AS at_stake,
               CASE WHEN p.payment_id IS NULL
                        THEN 'undo what the shop did for order {order_id} on notification {item} about '
                             'payment {payment_id}, which does not exist'
                    WHEN p.order_id IS DISTINCT FROM n.order_id
                        THEN 'undo what the shop did for order {order_id} on notification {item}: its '
                             'payment {payment_id} belongs to another order'
                    ELSE 'undo what the shop did for order {order_id} on notification {item}, which says '
                         'payment {payment_id} {claimed}: it is {payment_outcome}' END AS remedy,
               n.outcome AS claimed, p.outcome AS payment_outcome, NULL::text AS order_outcome
        FROM notifications n LEFT JOIN payments p ON p.payment_id = n.payment_id
        WHERE p.payment_id IS NULL OR p.order_id IS DISTINCT FROM n.order_id
           OR CASE n.outcome WHEN 'succeeded' THEN NOT coalesce(p.succeeded, false)
                             ELSE p.outcome IS DISTINCT FROM n.outcome END
        UNION ALL
        SELECT 'a forged notification changed the order', o.order_id, o.payment_id, NULL, o.account, NULL,
               NULL,
               'put order {order_id} back (it is {order_outcome}) and recover anything shipped for it: a '
               'forged notification changed it',
               NULL, NULL, o.outcome
        FROM orders o
        WHERE o.order_id IN (SELECT order_id FROM forged)
          AND o.order_id NOT IN (SELECT order_id FROM went_through)
          AND (o.outcome IN ('paid', 'refunded')
               OR EXISTS (SELECT 1 FROM fulfilments f WHERE f.order_id = o.order_id))""",
        "{n} notification(s) acted on that the stack never sent",
        counted("history", "forged"),
    )


@violations("notifications_settled", params=Eventually, eventual=True, needs=("deliveries",), default=True)
def notifications_settled(ev: Evidence, params: Any) -> Violators:
    """Every notification the stack sent was in the end acknowledged, and the receiver has it."""
    received = ev.provided("notifications")
    return Violators(
        f"""
        SELECT 'never acknowledged' AS problem, d.order_id, d.payment_id, NULL::text AS instruction,
               NULL::text AS account, d.event_id AS item, NULL::bigint AS at_stake,
               'notify the merchant of payment {{payment_id}} (order {{order_id}}) again, until it '
               'acknowledges notification {{event_id}}' AS remedy,
               d.event_id, d.attempts, d.last_error
        FROM deliveries d WHERE NOT coalesce(d.acknowledged, false)
        UNION ALL
        SELECT 'acknowledged, but the receiver has no record of it', d.order_id, d.payment_id, NULL, NULL,
               d.event_id, NULL,
               'notify the merchant of payment {{payment_id}} (order {{order_id}}) again: it acknowledged '
               'notification {{event_id}} but has no record of it',
               d.event_id, d.attempts, d.last_error
        FROM deliveries d
        WHERE {received} AND d.acknowledged
          AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_id = d.event_id)""",
        "{n} notification(s) the stack sent and never saw through",
        counted("deliveries"),
    )


@violations("clients_told_the_truth", params=Eventually, eventual=True, needs=("payments",), default=True)
def clients_told_the_truth(ev: Evidence, params: Any) -> Violators:
    """What a client was told as final holds: told paid, its order was paid; told failed, it was not."""
    return Violators(
        """
        WITH went AS (
            SELECT order_id, bool_or(outcome IN ('succeeded', 'refunded')) AS through FROM payments
            GROUP BY order_id
        )
        SELECT CASE h.told WHEN 'succeeded' THEN 'told it succeeded; no payment of the order went through'
                           ELSE 'told it failed; a payment of the order went through' END AS problem,
               h.order_id, h.payment_id, NULL::text AS instruction, NULL::text AS account, h.id AS item,
               NULL::bigint AS at_stake,
               CASE h.told WHEN 'succeeded'
                   THEN 'tell the customer of order {order_id} that it did not go through (operation '
                        '{operation} told them it succeeded)'
                   ELSE 'tell the customer of order {order_id} that it went through, or refund it (operation '
                        '{operation} told them it failed)' END AS remedy,
               h.id AS operation, h.kind, h.told, h.ended AS told_at
        FROM history h LEFT JOIN went w ON w.order_id = h.order_id
        WHERE h.told IN ('succeeded', 'failed') AND h.order_id IS NOT NULL
          AND (h.told = 'succeeded') <> coalesce(w.through, false)
        UNION ALL
        SELECT 'told a payment succeeded that failed', h.order_id, h.payment_id, NULL, NULL, h.id, NULL,
               'tell the customer of order {order_id} that payment {payment_id} failed, and which payment of '
               'the order went through (operation {operation} told them it succeeded)',
               h.id, h.kind, h.told, h.ended
        FROM history h JOIN payments p ON p.payment_id = h.payment_id
        WHERE h.told = 'succeeded' AND p.outcome = 'failed'
          AND EXISTS (SELECT 1 FROM went w WHERE w.order_id = h.order_id AND w.through)""",
        "{n} answer(s) told a client something that did not hold",
        counted("history", "told IS NOT NULL"),
    )
