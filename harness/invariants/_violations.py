"""Every violator of an invariant, as one query: a few kept, with their story, and all of them exported.

A built-in invariant states its violators as one SQL query (a :class:`Violators`), one row
per violator, whose leading columns are named alike in every invariant:

==============  ==========================================================================
``problem``     what went wrong, in the violation's own words
``order_id``    the order concerned, if any
``payment_id``  the payment concerned, if any
``instruction`` the payout instruction concerned, if any
``account``     the account whose money is at stake, if any
``item``        the record at fault when it is none of those (a debit's key, an event, …)
``at_stake``    the money that would move to put it right, in minor units (NULL: none)
``remedy``      what would put it right, a template naming the row's columns in braces:
                ``'refund {at_stake} to account {account}'``; amounts (``money``) are
                written in the target's currency
==============  ==========================================================================

then columns of its own. :func:`found` counts the rows and keeps the first
``MAX_EXAMPLES``, each with the story of its order (:func:`story`): what the
client did, the shop's order, the payments and their states, the ledger's
debits and refunds, the notifications sent and received, the fulfilments, and
for a payout the request, each channel's payouts and the payment service's
attempts. :func:`export` streams every violator of every violated invariant to
``violations.csv`` and ``violations.jsonl`` in the run folder, without holding
them in memory (a run may have a million), with what would put each right.

A violator's order, payment and account are filled in from the evidence where
its row leaves them out (a double fulfilment names its order; its payment and
the paying account are looked up), in the examples and the files alike.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import json
import os
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TextIO

from paychaos.invariants._base import (
    DB_ERRORS,
    MAX_EXAMPLES,
    REGISTRY,
    Evidence,
    EvidenceUnavailable,
    Verdict,
    bounded_connect,
    close_quietly,
    invariant,
    unavailable,
)
from paychaos.rundir import RunDir
from paychaos.system import CurrencySpec, format_amount

if TYPE_CHECKING:
    from paychaos.invariants._checking import Check

Story = Literal["order", "payout"] | None

# The columns every built-in invariant's violators query begins with, in this order.
LEADING = ("problem", "order_id", "payment_id", "instruction", "account", "item", "at_stake", "remedy")
_IDS = ("order_id", "payment_id", "instruction", "account", "item")
_ORDER = "problem, order_id, payment_id, instruction, item"

# violations.csv's columns; violations.jsonl has the same keys, ``amounts`` as an object, and the
# violator's own columns (minor units, as the evidence has them) under ``evidence``.
COLUMNS = (
    "invariant", "problem", "order_id", "payment_id", "instruction", "account", "item", "amount",
    "amount_minor", "amounts", "remedy",
)  # fmt: skip


@dataclass(frozen=True)
class Violators:
    """An invariant's violators: a query whose rows begin with the ``LEADING`` columns."""

    sql: str
    summary: str  # the verdict's reason, "{n} …"
    checked: str | None = None  # a query counting the items examined (one row, column n)
    args: tuple[Any, ...] = ()
    money: tuple[str, ...] = ()  # columns in minor units (at_stake always is)
    story: Story = "order"  # the story an example tells: of its order, of its payout, or none
    evidence: str = ""  # more of an example's select list, reading the violator as ``v``


Find = Callable[[Evidence, Any], Violators]
FINDERS: dict[str, Find] = {}  # invariant -> its violators, for the export
# Invariants whose violators are the rows of a query of their own: what export streams, (the target's
# database, or None for the evidence, and the query). The custom ``sql`` invariant (_custom.py).
Source = Callable[[Evidence, Any], tuple[str | None, str]]
SOURCES: dict[str, Source] = {"sql": lambda ev, params: (params.database, params.query)}


def violations(name: str, **options: Any) -> Callable[[Find], Find]:
    """Register a built-in invariant whose violators are one query (the function's :class:`Violators`);
    ``options`` as :func:`~paychaos.invariants._base.invariant` takes them."""

    def register(find: Find) -> Find:
        @functools.wraps(find)
        def check(ev: Evidence, params: Any) -> Verdict:
            return found(ev, name, find(ev, params))

        invariant(name, **options)(check)
        FINDERS[name] = find
        return find

    return register


# -- who a violator concerns, and the story of its order ------------------------------------------

# s1.order_id, s2.payment_id, s3.account: the violator's own, else looked up (COALESCE evaluates
# a lookup only when the violator's own is NULL).
_IDENTIFY: dict[Story, str] = {
    "order": """
        CROSS JOIN LATERAL (SELECT coalesce(v.order_id, (SELECT p.order_id FROM payments p
            WHERE p.payment_id = v.payment_id AND p.order_id IS NOT NULL LIMIT 1)) AS order_id) s1
        CROSS JOIN LATERAL (SELECT coalesce(v.payment_id, (SELECT p.payment_id FROM payments p
            WHERE p.order_id = s1.order_id
            ORDER BY p.succeeded DESC NULLS LAST, p.created_at DESC NULLS LAST, p.payment_id LIMIT 1))
            AS payment_id) s2
        CROSS JOIN LATERAL (SELECT coalesce(v.account,
            (SELECT p.account FROM payments p WHERE p.payment_id = s2.payment_id AND p.account IS NOT NULL
             LIMIT 1),
            (SELECT o.account FROM orders o WHERE o.order_id = s1.order_id AND o.account IS NOT NULL
             LIMIT 1)) AS account) s3""",
    "payout": """
        CROSS JOIN LATERAL (SELECT v.order_id AS order_id) s1
        CROSS JOIN LATERAL (SELECT v.payment_id AS payment_id) s2
        CROSS JOIN LATERAL (SELECT coalesce(v.account,
            (SELECT q.account FROM payout_requests q WHERE q.instruction = v.instruction
             AND q.account IS NOT NULL LIMIT 1),
            (SELECT t.account FROM payouts t WHERE t.instruction = v.instruction AND t.account IS NOT NULL
             LIMIT 1)) AS account) s3""",
    None: """
        CROSS JOIN LATERAL (SELECT v.order_id AS order_id) s1
        CROSS JOIN LATERAL (SELECT v.payment_id AS payment_id) s2
        CROSS JOIN LATERAL (SELECT v.account AS account) s3""",
}
_IDENTIFIED = "s1.order_id AS _order_id, s2.payment_id AS _payment_id, s3.account AS _account"

# t.payments, t.keys: the payments (a payout: its instruction) and client keys of the story, by
# which the client operations, the ledger and the notifications are found.
_SUBJECTS: dict[Story, str] = {
    "order": """
        CROSS JOIN LATERAL (SELECT
            ARRAY(SELECT p.payment_id FROM payments p WHERE p.order_id = s1.order_id
                  UNION SELECT s2.payment_id WHERE s2.payment_id IS NOT NULL) AS payments,
            ARRAY(SELECT p.key FROM payments p
                  WHERE (p.order_id = s1.order_id OR p.payment_id = s2.payment_id) AND p.key IS NOT NULL)
            AS keys) t""",
    "payout": """
        CROSS JOIN LATERAL (SELECT ARRAY[v.instruction] AS payments,
            ARRAY(SELECT q.key FROM payout_requests q WHERE q.instruction = v.instruction
                  AND q.key IS NOT NULL) AS keys) t""",
}

_CLIENT_OPERATIONS = """(SELECT coalesce(json_agg(json_build_object(
        'id', c.id, 'kind', c.kind, 'key', c.key, 'outcome', c.outcome, 'status', c.status, 'told', c.told,
        'forged', c.forged, 'payment_id', c.payment_id, 'payment_state', c.payment_state,
        'started', c.started, 'ended', c.ended) ORDER BY c.started, c.id), '[]')
    FROM history c WHERE c.order_id = s1.order_id OR c.payment_id = ANY(t.payments) OR c.key = ANY(t.keys))
    AS client_operations"""

_ORDERS = """(SELECT coalesce(json_agg(json_build_object(
        'order_id', o.order_id, 'account', o.account, 'amount', o.amount, 'payment_id', o.payment_id,
        'state', o.state, 'outcome', o.outcome, 'created_at', o.created_at, 'updated_at', o.updated_at)),
        '[]')
    FROM orders o WHERE o.order_id = s1.order_id) AS orders"""

_PAYMENTS = """(SELECT coalesce(json_agg(json_build_object(
        'payment_id', p.payment_id, 'state', p.state, 'outcome', p.outcome, 'account', p.account,
        'amount', p.amount, 'discount', p.discount, 'charged', p.charged, 'created_at', p.created_at,
        'updated_at', p.updated_at) ORDER BY p.created_at, p.payment_id), '[]')
    FROM payments p WHERE p.payment_id = ANY(t.payments)) AS payments"""

_DEBITS = "SELECT d.key FROM debits d WHERE d.order_id = s1.order_id OR d.payment_id = ANY(t.payments)"
_LEDGER_DEBITS = f"""
        SELECT 'debit' AS entry, d.key, d.payment_id, d.account, d.amount, d.status, d.posted, d.txn_id,
               d.at, NULL::text AS gives_back
        FROM debits d WHERE d.key IN ({_DEBITS})"""
_LEDGER_REFUNDS = f"""
        UNION ALL
        SELECT 'refund', r.key, NULL, r.account, r.amount, CASE WHEN r.posted THEN 'posted' END, r.posted,
               r.txn_id, r.at, r.debit_key
        FROM refunds r WHERE r.debit_key IN ({_DEBITS})"""
_LEDGER = """(SELECT coalesce(json_agg(e ORDER BY e.at, e.entry, e.key), '[]') FROM ({entries}) e)
    AS ledger"""

_SENT = """(SELECT coalesce(json_agg(json_build_object(
        'event_id', d.event_id, 'payment_id', d.payment_id, 'acknowledged', d.acknowledged,
        'attempts', d.attempts, 'last_error', d.last_error, 'created_at', d.created_at)
        ORDER BY d.created_at, d.event_id), '[]')
    FROM deliveries d WHERE d.order_id = s1.order_id) AS notifications_sent"""

_RECEIVED = """(SELECT coalesce(json_agg(json_build_object(
        'event_id', n.event_id, 'payment_id', n.payment_id, 'outcome', n.outcome, 'first', n.first,
        'received_at', n.received_at) ORDER BY n.received_at, n.event_id), '[]')
    FROM notifications n WHERE n.order_id = s1.order_id OR n.payment_id = ANY(t.payments))
    AS notifications_received"""

_FULFILMENTS = """(SELECT coalesce(json_agg(json_build_object('at', f.at) ORDER BY f.at), '[]')
    FROM fulfilments f WHERE f.order_id = s1.order_id) AS fulfilments"""

_PAYOUT_REQUESTS = """(SELECT coalesce(json_agg(json_build_object(
        'instruction', q.instruction, 'key', q.key, 'account', q.account, 'amount', q.amount,
        'state', q.state, 'outcome', q.outcome, 'channel', q.channel, 'created_at', q.created_at,
        'updated_at', q.updated_at)), '[]')
    FROM payout_requests q WHERE q.instruction = v.instruction) AS payout_requests"""

_PAYOUTS = """(SELECT coalesce(json_agg(json_build_object(
        'channel', p.channel, 'key', p.key, 'account', p.account, 'amount', p.amount, 'status', p.status,
        'posted', p.posted, 'txn_id', p.txn_id, 'at', p.at) ORDER BY p.at, p.channel, p.key), '[]')
    FROM payouts p WHERE p.instruction = v.instruction) AS payouts"""

_PAYOUT_ATTEMPTS = """(SELECT coalesce(json_agg(json_build_object(
        'channel', a.channel, 'action', a.action, 'outcome', a.outcome, 'at', a.at) ORDER BY a.at), '[]')
    FROM payout_attempts a WHERE a.instruction = v.instruction) AS payout_attempts"""


def story(ev: Evidence, kind: Story) -> list[str]:
    """The select list of an example's story (reading ``s1``, ``s2``, ``t`` and ``v``), one item
    per evidence table the target provides: a table it does not is left out, never shown empty."""
    if kind is None:
        return []
    parts = [_CLIENT_OPERATIONS]
    if kind == "order":
        if ev.provided("orders"):
            parts.append(_ORDERS)
        if ev.provided("payments"):
            parts.append(_PAYMENTS)
        if ev.provided("debits"):
            entries = _LEDGER_DEBITS + (_LEDGER_REFUNDS if ev.provided("refunds") else "")
            parts.append(_LEDGER.format(entries=entries))
        if ev.provided("deliveries"):
            parts.append(_SENT)
        if ev.provided("notifications"):
            parts.append(_RECEIVED)
        if ev.provided("fulfilments"):
            parts.append(_FULFILMENTS)
    else:
        for table, part in (("payout_requests", _PAYOUT_REQUESTS), ("payouts", _PAYOUTS),
                            ("payout_attempts", _PAYOUT_ATTEMPTS)):  # fmt: skip
            if ev.provided(table):
                parts.append(part)
    return parts


# -- the verdict ---------------------------------------------------------------------------------


def found(ev: Evidence, name: str, violators: Violators) -> Verdict:
    """Count every violator and keep the first ``MAX_EXAMPLES``, each with its story and what would
    put it right (the story's lookups are the costly part: they run for the kept rows only)."""
    select = ["v.*", _IDENTIFIED]
    if violators.evidence:
        select.append(violators.evidence)
    select += story(ev, violators.story)
    subjects = _SUBJECTS.get(violators.story, "")
    rows = ev.sql(
        f"""WITH v AS MATERIALIZED ({violators.sql})
            SELECT (SELECT count(*) FROM v) AS _total, {", ".join(select)}
            FROM (SELECT * FROM v ORDER BY {_ORDER} LIMIT {MAX_EXAMPLES}) v
            {_IDENTIFY[violators.story]} {subjects}
            ORDER BY {", ".join(f"v.{c}" for c in _ORDER.split(", "))}""",
        *violators.args,
    )
    checked = int(ev.sql(violators.checked)[0]["n"]) if violators.checked else None
    if not rows:
        return Verdict(name, "holds", checked=checked)
    total = int(rows[0]["_total"])
    currency = ev.store.target.currency
    examples = [_example(row, violators.money, currency) for row in rows]
    return Verdict(name, "violated", count=total, examples=examples, checked=checked,
                   reason=violators.summary.format(n=total))  # fmt: skip


def _example(row: dict[str, Any], money: Sequence[str], currency: CurrencySpec | None) -> dict[str, Any]:
    """A kept row as results.json keeps it: its order, payment and account filled in, the remedy
    written out, the leading columns that say nothing (NULL) left out."""
    del row["_total"]
    row = _whole(row)
    _identified(row)
    row["remedy"] = remedy(row, money, currency)
    return {k: v for k, v in row.items() if not (k in LEADING and k != "problem" and v is None)}


def _identified(row: dict[str, Any]) -> None:
    for column in ("order_id", "payment_id", "account"):
        looked_up = row.pop(f"_{column}", None)
        if row.get(column) is None:
            row[column] = looked_up


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def remedy(row: Mapping[str, Any], money: Sequence[str], currency: CurrencySpec | None) -> str:
    """The row's remedy template, its columns written in: amounts in the target's currency."""
    template = row.get("remedy")
    if not isinstance(template, str):
        return ""
    amounts = {"at_stake", *money}
    fields = _Fields({k: _said(row[k], k in amounts, currency) for k in _named(template) if k in row})
    return template.format_map(fields)


@functools.lru_cache(maxsize=256)
def _named(template: str) -> tuple[str, ...]:
    """The columns a remedy template names (each row of an invariant has the same few templates)."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


def _said(value: Any, is_money: bool, currency: CurrencySpec | None) -> str:
    if value is None:
        return "?"
    if is_money and isinstance(value, int) and not isinstance(value, bool):
        return format_amount(value, currency)
    if isinstance(value, list | tuple):
        return ", ".join(_said(v, False, currency) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# -- the export ----------------------------------------------------------------------------------


@dataclass
class Exported:
    """What :func:`export` wrote: how many violators, and what it could not write, and why."""

    rows: int = 0
    missing: list[str] = field(default_factory=list)  # "invariant: why", each invariant not fully written


def export(
    checks: Sequence[Check], verdicts: Sequence[Verdict], evidence: Evidence, folder: RunDir
) -> Exported:
    """Write every violator of every violated invariant to ``violations.csv`` and ``violations.jsonl``
    (both whole or not at all), streamed from the evidence as it stands now (the snapshot the
    verdicts were checked over, which the run also saves); set each verdict's ``exported``.

    An invariant whose violators cannot be read is left out, and why is written to
    ``violations-error.txt``; the verdicts stand either way.
    """
    currency = evidence.store.target.currency
    done = Exported()
    partial = [folder.path / f".{name}.partial" for name in (RunDir.VIOLATIONS_CSV, RunDir.VIOLATIONS_JSONL)]
    try:
        with (
            partial[0].open("w", encoding="utf-8", newline="") as table,
            partial[1].open("w", encoding="utf-8") as lines,
        ):
            out = _Out(table, lines, currency)
            for check, verdict in zip(checks, verdicts, strict=True):
                if verdict.status != "violated":
                    continue
                before = out.rows
                try:
                    _one(check, verdict, evidence, out)
                except EvidenceUnavailable as exc:
                    done.missing.append(f"{verdict.invariant}: not all written: {exc}")
                    continue
                finally:
                    verdict.exported = out.rows - before
                if verdict.exported != verdict.count:
                    done.missing.append(
                        f"{verdict.invariant}: {verdict.exported} violator(s) written, the verdict counted "
                        f"{verdict.count}{_why_not_as_many(check)}"
                    )
        for path, name in zip(partial, (folder.violations_csv, folder.violations_jsonl), strict=True):
            os.replace(path, name)
    finally:
        for path in partial:
            path.unlink(missing_ok=True)
    done.rows = out.rows
    if done.missing:
        folder.violations_error.write_text("\n".join(done.missing) + "\n", encoding="utf-8")
    else:
        folder.violations_error.unlink(missing_ok=True)
    return done


def _why_not_as_many(check: Check) -> str:
    if check.name in FINDERS or check.name in SOURCES:
        return (" (the evidence changed since it was checked: an eventual invariant is judged at its "
                "deadline, the files list the violators in the last snapshot)")  # fmt: skip
    return " (only the violations it keeps as examples can be written)"


def _one(check: Check, verdict: Verdict, evidence: Evidence, out: _Out) -> None:
    definition = REGISTRY[check.name]
    params = definition.params.model_validate(dict(check.params))
    if check.name in FINDERS:
        found_by = FINDERS[check.name](evidence, params)
        ordered = ", ".join(f"v.{c}" for c in _ORDER.split(", "))
        sql = f"""SELECT v.*, {_IDENTIFIED} FROM ({found_by.sql}) v {_IDENTIFY[found_by.story]}
                  ORDER BY {ordered}"""
        each = functools.partial(out.write, verdict.invariant, money=found_by.money, builtin=True)
        stream(evidence, None, sql, found_by.args, each)
    elif check.name in SOURCES:
        database, sql = SOURCES[check.name](evidence, params)
        stream(evidence, database, sql, (), functools.partial(out.write, verdict.invariant))
    else:  # a python invariant, the slo: the violations it returned are those it kept
        for example in verdict.examples:
            out.write(verdict.invariant, example if isinstance(example, dict) else {"value": example})


class _Out:
    """The two files being written, row by row."""

    def __init__(self, table: TextIO, lines: TextIO, currency: CurrencySpec | None) -> None:
        self.csv = csv.writer(table)
        self.csv.writerow(COLUMNS)
        self.lines = lines
        self.currency = currency
        self.rows = 0

    def write(
        self, invariant: str, row: dict[str, Any], money: Sequence[str] = (), builtin: bool = False
    ) -> None:
        record = exported(invariant, row, money, self.currency, builtin=builtin)
        amounts = "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in record["amounts"].items())
        self.csv.writerow(
            ["" if record[c] is None else amounts if c == "amounts" else record[c] for c in COLUMNS]
        )
        self.lines.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        self.rows += 1


def exported(
    invariant: str, row: dict[str, Any], money: Sequence[str], currency: CurrencySpec | None, *, builtin: bool
) -> dict[str, Any]:
    """One violator as the files write it (``COLUMNS``, and ``evidence``).

    A built-in's row has the ``LEADING`` columns and a remedy template. Any other row (a custom
    ``sql`` query's, a python invariant's) may name them too: its ``problem``, ``order_id``, …,
    ``remedy`` (taken as it is) and an ``at_stake`` or ``amount`` in minor units are used; without a
    ``problem``, its other columns say what went wrong.
    """
    row = _whole(row)
    if builtin:
        _identified(row)
        said = remedy(row, money, currency)
        stake_column = "at_stake"
    else:
        said = str(row.get("remedy") or "")
        stake_column = next((c for c in ("at_stake", "amount") if _minor(row.get(c)) is not None), "at_stake")
        money = (stake_column,)
    own = {k: v for k, v in row.items() if k not in LEADING}
    problem = row.get("problem")
    if problem is None:
        problem = ", ".join(f"{k}={_said(v, False, currency)}" for k, v in own.items())
    stake = _minor(row.get(stake_column))
    amounts = {
        k: format_amount(v, currency)
        for k in money
        if k != stake_column and (v := _minor(row.get(k))) is not None
    }
    return {
        "invariant": invariant,
        "problem": str(problem),
        **{k: None if row.get(k) is None else _said(row[k], False, currency) for k in _IDS},
        "amount": None if stake is None else format_amount(stake, currency),
        "amount_minor": stake,
        "amounts": amounts,
        "remedy": said,
        "evidence": own
        if builtin
        else {k: v for k, v in row.items() if k not in (*_IDS, "problem", "remedy")},
    }


def _minor(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _whole(row: dict[str, Any]) -> dict[str, Any]:
    """The row with whole numbers as ints (PostgreSQL's sum of bigints is numeric: a Decimal)."""
    return {
        k: int(v) if isinstance(v, Decimal) and v.is_finite() and v == v.to_integral_value() else v
        for k, v in row.items()
    }


def stream(
    ev: Evidence, database: str | None, sql: str, args: Iterable[Any], each: Callable[[dict[str, Any]], None]
) -> None:
    """Call ``each`` with every row of a read-only query, fetched a thousand at a time (never all
    held at once): over the evidence tables, or one of the target's databases; each fetch bounded
    like a check's query, the whole like a refresh. A failure is EvidenceUnavailable."""
    ev.require()
    store = ev.store
    where = "the evidence database" if database is None else f"database {database!r}"
    dsn = store.reader_dsn(store.dsn if database is None else ev._target_dsn(database), where=where)
    limits = store.limits

    async def run() -> None:
        conn = await bounded_connect(dsn, limits.read, connect_timeout=limits.connect)
        try:
            for kind in ("json", "jsonb"):
                await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            async with conn.transaction(readonly=True):
                if database is None:
                    await conn.execute("SET LOCAL work_mem = '256MB'")
                async for record in conn.cursor(sql, *args, prefetch=1000):
                    each(dict(record))
        finally:
            await close_quietly(conn)

    try:
        asyncio.run(asyncio.wait_for(run(), limits.refresh))
    except DB_ERRORS as exc:
        raise unavailable(where, exc, limits.refresh, limits.read) from exc


def summary(folder: RunDir, verdicts: Sequence[Verdict]) -> dict[str, Any] | None:
    """results.json's ``violations``: where the files are, how many rows, and what is missing from
    them; None when the run wrote none (it ended before its verify phase)."""
    if not folder.violations_csv.is_file():
        return None
    error = None
    if folder.violations_error.is_file():
        error = folder.violations_error.read_text(encoding="utf-8", errors="replace").strip() or None
    return {
        "csv": RunDir.VIOLATIONS_CSV,
        "jsonl": RunDir.VIOLATIONS_JSONL,
        "rows": sum(v.exported or 0 for v in verdicts),
        "error": error,
    }


def export_violations(
    checks: Sequence[Check],
    verdicts: Sequence[Verdict],
    evidence: Evidence,
    folder: RunDir,
    say: Callable[[str], None],
) -> Exported | None:
    """:func:`export`, said (``say``) in one line when something was violated. A failure changes no
    verdict: it is said and written to ``violations-error.txt`` (results.json's ``violations.error``),
    and None returned."""
    try:
        done = export(checks, verdicts, evidence, folder)
    except Exception as exc:  # a full disk, a harness bug: the run's verdicts stand
        why = str(exc) if isinstance(exc, EvidenceUnavailable) else f"{type(exc).__name__}: {exc}"
        say(f"violations not written ({why})")
        folder.violations_error.write_text(why + "\n", encoding="utf-8")
        return None
    violated = sum(v.status == "violated" for v in verdicts)
    if not violated:
        return done  # nothing to say: the files have their header only
    said = (f"violations: {done.rows:,} violator(s) of {violated} invariant(s) in {RunDir.VIOLATIONS_CSV} "
            f"and {RunDir.VIOLATIONS_JSONL}")  # fmt: skip
    if done.missing:
        said += f"; not all of them (see {RunDir.VIOLATIONS_ERROR}): {'; '.join(done.missing)}"
    say(said)
    return done
