"""The built-in invariants: each one set-based SQL over the evidence tables (harness/_evidence_tables.py).

A query's rows are the violators, one each, in the columns every invariant
shares (see harness/invariants/_violations.py): what went wrong, the order,
payment, payout instruction and account concerned, the money at stake and
what would put it right. The verdict keeps the first few, each with the story
of its order; the run exports them all. Client outcomes are three-valued: an
operation that timed out or lost its connection is *unknown*, never failed,
and the checks that care resolve it against the ledger rather than the
client's view.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from paychaos.durations import Duration
from paychaos.invariants._base import Evidence
from paychaos.invariants._violations import Violators, violations


class Eventually(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    within: Duration | None = Field(default=None, description="how long after the heal it may take to hold")


def counted(table: str, where: str = "true") -> str:
    """A query counting the rows of ``table`` (column ``n``): what an invariant examined."""
    return f"SELECT count(*) AS n FROM {table} WHERE {where}"


@violations("exactly_once_debit", needs=("debits", "refunds", "payments"), default=True)
def exactly_once_debit(ev: Evidence, params: Any) -> Violators:
    """Never more than one net debit per order; exactly one for every payment that succeeded."""
    return Violators(
        """
        WITH net AS (
            SELECT d.order_id, count(*) - count(r.key) AS net_debits, min(d.account) AS account,
                   sum(d.amount) FILTER (WHERE r.key IS NULL) AS held,
                   max(d.amount) FILTER (WHERE r.key IS NULL) AS largest
            FROM debits d LEFT JOIN refunds r ON r.debit_key = d.key AND r.posted
            WHERE d.posted GROUP BY d.order_id HAVING count(*) - count(r.key) > 1
        )
        SELECT 'more than one net debit' AS problem, n.order_id, NULL::text AS payment_id,
               NULL::text AS instruction, n.account, NULL::text AS item, n.held - n.largest AS at_stake,
               'refund {at_stake} to account {account}: order {order_id} was debited {net_debits} times, '
               'once is right' AS remedy,
               n.net_debits
        FROM net n
        UNION ALL
        SELECT 'succeeded without a debit', p.order_id, p.payment_id, NULL, p.account, NULL, p.charged,
               'debit {at_stake} from account {account} for payment {payment_id}, or mark the payment '
               'failed and tell the customer', 0
        FROM payments p
        WHERE p.succeeded AND p.charged > 0
          AND NOT EXISTS (SELECT 1 FROM debits d WHERE d.payment_id = p.payment_id AND d.posted)""",
        "{n} order(s) debited wrongly",
        counted("debits", "posted"),
    )


@violations(
    "eventual_refund", params=Eventually, eventual=True, needs=("debits", "refunds", "payments"), default=True
)
def eventual_refund(ev: Evidence, params: Any) -> Violators:
    """Every debit of a payment that did not succeed is refunded in full (unknowns read from the ledger)."""
    return Violators(
        """
        WITH given AS (SELECT debit_key, sum(amount) AS amount FROM refunds WHERE posted GROUP BY debit_key)
        SELECT CASE WHEN coalesce(g.amount, 0) = 0 THEN 'debited, never refunded; the payment did not succeed'
                    ELSE 'refunded only in part; the payment did not succeed' END AS problem,
               d.order_id, d.payment_id, NULL::text AS instruction, d.account, d.key AS item,
               d.amount - coalesce(g.amount, 0) AS at_stake,
               'refund {at_stake} to account {account} (debit {item} of order {order_id})' AS remedy,
               d.key AS debit_key, d.amount, coalesce(g.amount, 0) AS refunded, d.at AS debited_at,
               coalesce(p.state, 'no such payment') AS payment_state, p.updated_at AS payment_updated_at
        FROM debits d LEFT JOIN payments p ON p.payment_id = d.payment_id
        LEFT JOIN given g ON g.debit_key = d.key
        WHERE d.posted AND NOT coalesce(p.succeeded, false) AND coalesce(g.amount, 0) < d.amount""",
        "{n} debit(s) of payments that did not succeed were not refunded in full",
        counted("debits", "posted"),
        money=("amount", "refunded"),
    )


@violations(
    "merchant_notified",
    params=Eventually,
    eventual=True,
    needs=("payments", "notifications", "fulfilments"),
    default=True,
)
def merchant_notified(ev: Evidence, params: Any) -> Violators:
    """Every succeeded payment is known to the merchant; duplicate deliveries change nothing."""
    return Violators(
        """
        SELECT 'succeeded, merchant never told' AS problem, p.order_id, p.payment_id,
               NULL::text AS instruction, p.account, NULL::text AS item, NULL::bigint AS at_stake,
               'notify the merchant that payment {payment_id} of order {order_id} succeeded' AS remedy,
               p.state, p.updated_at AS succeeded_at, NULL::bigint AS times_fulfilled
        FROM payments p
        WHERE p.succeeded AND NOT EXISTS (
            SELECT 1 FROM notifications n WHERE n.payment_id = p.payment_id AND n.outcome = 'succeeded')
        UNION ALL
        SELECT 'fulfilled more than once', f.order_id, NULL, NULL, NULL, NULL, NULL,
               'reverse the extra fulfilments of order {order_id}: it was fulfilled {times_fulfilled} times, '
               'once is right', NULL, NULL, count(*)
        FROM fulfilments f GROUP BY f.order_id HAVING count(*) > 1""",
        "{n} payment(s) not (or too often) acted on by the merchant",
        counted("payments", "succeeded"),
    )


@violations("no_stuck_orders", params=Eventually, eventual=True, needs=("orders",), default=True)
def no_stuck_orders(ev: Evidence, params: Any) -> Violators:
    """Every accepted order reaches a final state; none accepted by the shop vanishes."""
    return Violators(
        """
        SELECT 'not final' AS problem, o.order_id, o.payment_id, NULL::text AS instruction, o.account,
               NULL::text AS item, NULL::bigint AS at_stake,
               'bring order {order_id} (still {state}) to a final state: find out whether its payment went '
               'through, then mark it paid or failed' AS remedy,
               o.state, o.created_at, o.updated_at
        FROM orders o WHERE NOT o.terminal
        UNION ALL
        SELECT 'accepted, then vanished', h.order_id, NULL, NULL, NULL, NULL, NULL,
               'restore order {order_id}, which the shop accepted and then lost, or tell its customer it did '
               'not go through (refunding anything taken)', NULL, min(h.started), NULL
        FROM history h
        WHERE h.outcome = 'ok' AND h.order_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = h.order_id)
        GROUP BY h.order_id""",
        "{n} order(s) stuck or lost",
        counted("orders"),
    )


@violations("no_double_payout", needs=("payouts",), default=True)
def no_double_payout(ev: Evidence, params: Any) -> Violators:
    """At most one payout per payout instruction, across all channels."""
    return Violators(
        """
        SELECT 'paid more than once' AS problem, NULL::text AS order_id, NULL::text AS payment_id,
               instruction, min(account) AS account, NULL::text AS item,
               sum(amount) - (array_agg(amount ORDER BY at, key))[1] AS at_stake,
               CASE WHEN count(*) = 2
                    THEN 'reverse the second payout of instruction {instruction}, on channel '
                         '{extra_channels} ({at_stake})'
                    ELSE 'reverse every payout of instruction {instruction} but the first, on channels '
                         '{extra_channels} ({at_stake} in all)' END AS remedy,
               count(*) AS times_paid, sum(amount) AS paid,
               array_to_string((array_agg(channel ORDER BY at, key))[2:], ', ') AS extra_channels
        FROM payouts WHERE posted GROUP BY instruction HAVING count(*) > 1""",
        "{n} instruction(s) paid more than once",
        counted("payouts", "posted"),
        money=("paid",),
        story="payout",
    )


@violations("conservation", needs=("postings", "accounts"), default=True)
def conservation(ev: Evidence, params: Any) -> Violators:
    """Money is neither created nor destroyed: postings sum to zero per transaction, balances match them."""
    # Where postings are ordered (seq), each balance_after must follow from the one before it.
    return Violators(
        """
        SELECT 'postings do not balance' AS problem, NULL::text AS order_id, NULL::text AS payment_id,
               NULL::text AS instruction, NULL::text AS account, txn_id AS item, abs(sum(amount)) AS at_stake,
               'correct ledger transaction {item}: its postings sum to {off_by}, not zero' AS remedy,
               sum(amount) AS off_by, txn_id
        FROM postings GROUP BY txn_id HAVING sum(amount) <> 0
        UNION ALL
        SELECT 'balance differs from its postings', NULL, NULL, NULL, a.id, a.id,
               abs(a.balance - coalesce(p.total, 0)),
               'reconcile account {account}: its balance is {off_by} off the sum of its postings',
               a.balance - coalesce(p.total, 0), NULL
        FROM accounts a LEFT JOIN (SELECT account, sum(amount) AS total FROM postings GROUP BY account) p
             ON p.account = a.id
        WHERE a.balance <> coalesce(p.total, 0)
        UNION ALL
        SELECT 'balance_after does not follow from the posting before', NULL, NULL, NULL, account,
               account || ' ' || txn_id, abs(balance_after - amount - before),
               'recompute the running balance of account {account} from transaction {txn_id} on: its '
               'balance_after is {off_by} off', balance_after - amount - before, txn_id
        FROM (SELECT account, txn_id, amount, balance_after,
                     lag(balance_after) OVER (PARTITION BY account ORDER BY seq) AS before
              FROM postings WHERE seq IS NOT NULL) p
        WHERE balance_after - amount <> before""",
        "{n} imbalance(s) in the ledger",
        counted("accounts"),
        money=("off_by",),
        story=None,
    )


@violations("credit_limit", needs=("postings", "credit_lines"), default=True)
def credit_limit(ev: Evidence, params: Any) -> Violators:
    """No account is ever past its credit line, at any posting."""
    return Violators(
        """
        SELECT 'went past its credit line' AS problem, NULL::text AS order_id, NULL::text AS payment_id,
               NULL::text AS instruction, p.account, NULL::text AS item,
               -min(p.balance_after) - c.credit_limit AS at_stake,
               'recover the {at_stake} account {account} spent beyond its credit line of {credit_limit} '
               '(it went down to {lowest_balance})' AS remedy,
               c.credit_limit, min(p.balance_after) AS lowest_balance, count(*) AS postings_past_limit,
               json_agg(json_build_object('txn_id', p.txn_id, 'amount', p.amount,
                        'balance_after', p.balance_after, 'at', p.at) ORDER BY p.at) AS evidence
        FROM postings p JOIN credit_lines c ON c.account = p.account
        WHERE p.balance_after < -c.credit_limit
        GROUP BY p.account, c.credit_limit""",
        "{n} account(s) went past their credit line",
        counted("credit_lines"),
        money=("credit_limit", "lowest_balance"),
        story=None,
    )


@violations("amount_integrity", needs=("payments", "debits"), default=True)
def amount_integrity(ev: Evidence, params: Any) -> Violators:
    """Charged = order amount - an allowed discount within the caps in force, and that is what was debited."""
    return Violators(
        """
        WITH judged AS (
            SELECT *, least(cap_amount, floor(amount * cap_percent / 100))::bigint AS allowed,
                   amount - discount AS due
            FROM payments
        )
        SELECT CASE WHEN p.discount < 0 THEN 'negative discount'
                    WHEN p.charged <> p.due THEN 'charged is not the amount less the discount'
                    ELSE 'discount beyond the caps' END AS problem,
               p.order_id, p.payment_id, NULL::text AS instruction, p.account, NULL::text AS item,
               CASE WHEN p.discount < 0 THEN -p.discount
                    WHEN p.charged <> p.due THEN abs(p.charged - p.due)
                    ELSE p.discount - p.allowed END AS at_stake,
               CASE WHEN p.discount < 0
                        THEN 'refund the {at_stake} surcharge to account {account}: payment {payment_id} has '
                             'a negative discount'
                    WHEN p.charged > p.due
                        THEN 'refund {at_stake} to account {account}: payment {payment_id} charged {charged} '
                             'for {amount} less a {discount} discount'
                    WHEN p.charged < p.due
                        THEN 'collect {at_stake} from account {account}, or book it as a loss: payment '
                             '{payment_id} charged {charged} for {amount} less a {discount} discount'
                    ELSE 'collect the {at_stake} discounted beyond the caps on payment {payment_id} from '
                         'account {account}, or book it as a loss (discount {discount}, the caps allow '
                         '{allowed_discount})' END AS remedy,
               p.amount, p.discount, p.charged, p.cap_percent, p.cap_amount, p.allowed AS allowed_discount,
               NULL::bigint AS debited
        FROM judged p
        WHERE p.discount < 0 OR p.charged <> p.due OR p.discount > p.allowed
        UNION ALL
        SELECT 'debited another amount', p.order_id, p.payment_id, NULL, coalesce(d.account, p.account),
               d.key, abs(d.amount - p.charged),
               CASE WHEN d.amount > p.charged
                    THEN 'refund {at_stake} to account {account}: payment {payment_id} charged {charged}, '
                         'debit {item} took {debited}'
                    ELSE 'debit the {at_stake} still owed from account {account}, or book it as a loss: '
                         'payment {payment_id} charged {charged}, debit {item} took {debited}' END,
               p.amount, p.discount, p.charged, p.cap_percent, p.cap_amount, NULL, d.amount
        FROM payments p JOIN debits d ON d.payment_id = p.payment_id AND d.posted
        WHERE d.amount <> p.charged""",
        "{n} payment(s) charged a wrong amount",
        counted("payments"),
        money=("amount", "discount", "charged", "cap_amount", "allowed_discount", "debited"),
    )


class ReplayParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    conflicting: list[str] = Field(
        default=[],
        description="operation kinds that reuse a key with another body: must be refused (besides every "
        "keyed operation its scenario sent expecting a refusal)",
    )


@violations("idempotent_replay", params=ReplayParams, default=True)
def idempotent_replay(ev: Evidence, params: Any) -> Violators:
    """Retries under one idempotency key got one payment; a key reused for another request was refused."""
    return Violators(
        """
        WITH several AS MATERIALIZED (
            SELECT key FROM history WHERE outcome = 'ok' AND key IS NOT NULL AND payment_id IS NOT NULL
            GROUP BY key HAVING min(payment_id) <> max(payment_id)
        )
        SELECT 'one key, several payments' AS problem, x.order_id, x.payment_ids[1] AS payment_id,
               NULL::text AS instruction, NULL::text AS account, s.key AS item, NULL::bigint AS at_stake,
               'keep one of the payments {payment_ids} made under key {key} and cancel (or refund) the '
               'others' AS remedy,
               s.key, x.payment_ids
        FROM several s CROSS JOIN LATERAL (
            SELECT min(h.order_id) AS order_id, array_agg(DISTINCT h.payment_id) AS payment_ids
            FROM history h WHERE h.key = s.key AND h.outcome = 'ok' AND h.payment_id IS NOT NULL) x
        UNION ALL
        SELECT 'reused key accepted', h.order_id, min(h.payment_id), NULL, NULL, h.key, NULL,
               'undo what the request that reused key {key} for another body did, and refuse such requests',
               h.key, array_remove(array_agg(h.payment_id), NULL)
        FROM history h
        WHERE (h.kind = ANY($1::text[]) OR (h.refusal_expected AND h.key IS NOT NULL)) AND h.outcome = 'ok'
        GROUP BY h.key, h.order_id""",
        "{n} key(s) not honoured",
        counted("history", "key IS NOT NULL"),
        args=(params.conflicting,),
    )
