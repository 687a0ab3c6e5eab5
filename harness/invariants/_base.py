"""What an invariant is: a named check over a run's evidence, returning a verdict that is data.

A violated invariant is a result (``violated``, with a count and examples), not
an exception. ``could_not_check`` says the evidence was out of reach and why;
it never reads as ``holds``. Eventual invariants are polled after the heal
until they hold or the settle deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from paychaos.invariants._store import EvidenceStore

Status = Literal["holds", "violated", "could_not_check"]
MAX_EXAMPLES = 20
CONNECT_TIMEOUT = 10.0  # seconds to log in: a stalled server answers nothing, not even an error
READ_TIMEOUT = 60.0  # one invariant's query (PostgreSQL cancels it; the client gives up soon after)
LOCK_TIMEOUT = 30.0  # waiting for a lock, within a statement's time
_GRACE = 5.0  # how much longer the client waits than the server's own statement_timeout
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # OSError includes TimeoutError


@dataclass
class Verdict:
    invariant: str
    status: Status
    count: int = 0  # violations found
    examples: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""  # why it could not be checked, or a one-line summary
    checked: int | None = None  # how many items were examined
    converged_after: float | None = None  # eventual: seconds after the heal until it held
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the SLO's per-phase table
    exported: int | None = None  # violators written to violations.csv and .jsonl (None: none written)

    def as_json(self) -> dict[str, Any]:
        return {
            "invariant": self.invariant, "status": self.status, "count": self.count,
            "examples": self.examples[:MAX_EXAMPLES], "reason": self.reason, "checked": self.checked,
            "converged_after": self.converged_after, "params": self.params, "details": self.details,
            **({"exported": self.exported} if self.exported is not None else {}),
        }  # fmt: skip


class EvidenceUnavailable(Exception):
    """The evidence an invariant needs could not be read (the reason goes into the verdict)."""


@dataclass(frozen=True)
class RunWindow:
    """When things happened, in epoch seconds (the run's own clock is relative to ``load_start``)."""

    load_start: float
    load_end: float
    healed_at: float


class Evidence:
    """Everything an invariant may read: the evidence tables, and the target's databases (read-only).

    Every read runs as the store's reader role, which may only SELECT (see
    ``EvidenceStore.reader_dsn``), in a READ ONLY transaction, with timeouts.
    """

    def __init__(self, store: EvidenceStore, window: RunWindow, target_dsn: Callable[[str], str]) -> None:
        self.store = store
        self.window = window
        self._target_dsn = target_dsn

    def require(self, *tables: str) -> None:
        """Raise EvidenceUnavailable unless every table was filled."""
        self._usable()
        missing = [self.store.problems[t] for t in tables if t in self.store.problems]
        if missing:
            raise EvidenceUnavailable("; ".join(missing))

    def provided(self, table: str) -> bool:
        """Whether the target filled ``table`` (an invariant may check more when it did)."""
        return table not in self.store.problems

    def sql(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of a read-only query over the evidence tables."""
        self._usable()
        return self.store.query(sql, *args)

    def query(self, database: str, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of a read-only query on one of the target's own databases."""
        self._usable()
        where = f"database {database!r}"
        limits = self.store.limits
        dsn = self.store.reader_dsn(self._target_dsn(database), where=where)
        return read_only(dsn, sql, *args, where=where, timeout=limits.read, connect_timeout=limits.connect)

    def _usable(self) -> None:
        # After a failed refresh the evidence is stale or half-built, and the server is likely gone.
        if self.store.failure is not None:
            raise EvidenceUnavailable(self.store.failure)


def read_only(
    dsn: str,
    sql: str,
    *args: Any,
    where: str,
    timeout: float = READ_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    work_mem: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of one statement in a READ ONLY transaction, given up after ``timeout`` seconds whatever
    the server does; any failure is EvidenceUnavailable, saying ``where``.

    >>> read_only(dsn, "SELECT count(*) AS n FROM debits", where="the evidence database")  # doctest: +SKIP
    [{'n': 42}]
    """

    async def run() -> list[dict[str, Any]]:
        conn = await bounded_connect(dsn, timeout, connect_timeout=connect_timeout)
        try:
            for kind in ("json", "jsonb"):  # evidence comes back as data, not as JSON text
                await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            async with conn.transaction(readonly=True):
                if work_mem:  # room for whole-table hash aggregates instead of sorts on disk
                    await conn.execute(f"SET LOCAL work_mem = '{work_mem}'")
                return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await close_quietly(conn)

    limit = connect_timeout + timeout + 2 * _GRACE
    try:
        return asyncio.run(asyncio.wait_for(run(), limit))
    except DB_ERRORS as exc:
        raise unavailable(where, exc, limit, timeout) from exc


async def bounded_connect(
    dsn: str, statement_timeout: float, *, connect_timeout: float = CONNECT_TIMEOUT
) -> asyncpg.Connection:
    """A connection whose every statement the server cancels after ``statement_timeout`` seconds
    (and whose lock waits it cuts shorter), and which the client abandons a little later still:
    a stopped server cancels nothing."""
    ms = {"statement_timeout": statement_timeout, "lock_timeout": min(LOCK_TIMEOUT, statement_timeout),
          "idle_in_transaction_session_timeout": statement_timeout + _GRACE}  # fmt: skip
    try:
        return await asyncpg.connect(
            dsn,
            timeout=connect_timeout,
            command_timeout=statement_timeout + _GRACE,
            server_settings={name: str(max(1, round(s * 1000))) for name, s in ms.items()},
        )
    except TimeoutError as exc:
        raise TimeoutError(f"no answer to a login within {connect_timeout:g}s") from exc


async def close_quietly(conn: asyncpg.Connection) -> None:
    """Close, or drop the connection if the server does not answer: a close must not hang either."""
    with contextlib.suppress(*DB_ERRORS):
        await conn.close(timeout=_GRACE)


def unavailable(where: str, exc: BaseException, limit: float, statement: float) -> EvidenceUnavailable:
    """The reason a read failed, said so that the verdict explains it."""
    if isinstance(exc, TimeoutError):
        why = str(exc) or f"no answer within {limit:g}s"
        return EvidenceUnavailable(f"{where}: {why} (is PostgreSQL stopped or overloaded?)")
    hint = ""
    if isinstance(exc, asyncpg.QueryCanceledError):
        hint = f" (a query may take {statement:g}s at most)"
    elif isinstance(exc, asyncpg.InsufficientPrivilegeError):
        hint = " (invariants read as a role that may only SELECT the evidence and the target's tables)"
    return EvidenceUnavailable(f"{where}: {type(exc).__name__}: {exc}{hint}")


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Check = Callable[[Evidence, Any], Verdict]


@dataclass(frozen=True)
class Unit:
    """What an invariant's ``checked`` count counts: ``Unit("order", "orders").of(4812)`` → "4,812 orders"."""

    one: str
    many: str

    def of(self, n: int) -> str:
        return f"{n:,} {self.one if n == 1 else self.many}"


ITEMS = Unit("item", "items")


@dataclass(frozen=True)
class Wording:
    """How an invariant is said to people: its promise in one sentence, and the unit of its ``checked``."""

    promise: str
    unit: Unit = ITEMS


# Each built-in invariant's promise, said once: the report, JUnit and the README's invariant table
# ("holds when", a test keeps it the same) all say this. The unit is what the check's ``checked``
# count counts (the query behind it is in the check).
WORDING: dict[str, Wording] = {
    "exactly_once_debit": Wording(
        "No order has more than one net debit, and every payment that succeeded has one.",
        Unit("posted debit", "posted debits")),
    "eventual_refund": Wording(
        "Every debit of a payment that did not succeed is refunded, in full.",
        Unit("posted debit", "posted debits")),
    "merchant_notified": Wording(
        "Every succeeded payment reached the merchant, and no order was fulfilled twice.",
        Unit("succeeded payment", "succeeded payments")),
    "no_stuck_orders": Wording(
        "Every order ends (no order paying forever), and none the shop accepted vanished.",
        Unit("order", "orders")),
    "no_double_payout": Wording(
        "No payout instruction was paid on more than one channel.", Unit("posted payout", "posted payouts")),
    "conservation": Wording(
        "Every transaction's postings sum to zero, every balance equals its postings, and each posting's "
        "balance follows from the one before.", Unit("account", "accounts")),
    "credit_limit": Wording(
        "No account ever went past its credit line, at any posting.", Unit("credit line", "credit lines")),
    "amount_integrity": Wording(
        "Charged = amount − a discount within the caps in force, and that is what was debited.",
        Unit("payment", "payments")),
    "idempotent_replay": Wording(
        "Retries under one key got one payment; a key reused for another request was refused.",
        Unit("keyed operation", "keyed operations")),
    "refund_integrity": Wording(
        "Every refund gives back a posted debit, to the account debited (in the postings too), never more "
        "than it; a refunded payment is given back in full.", Unit("posted refund", "posted refunds")),
    "payments_match_ledger": Wording(
        "A payment that succeeded holds exactly one debit of what it charged; a failed or refunded one holds "
        "nothing; none is left pending; every entry's postings moved what it says.",
        Unit("payment", "payments")),
    "orders_match_payments": Wording(
        "An order is paid exactly when its payment succeeded, failed when none went through, refunded when "
        "it was refunded.", Unit("order", "orders")),
    "payouts_match_ledger": Wording(
        "A payout marked paid left exactly once, for its amount; one marked failed never left; none is left "
        "pending.", Unit("payout request", "payout requests")),
    "fulfilled_once": Wording(
        "Every order whose payment succeeded is fulfilled exactly once; none is fulfilled unpaid.",
        Unit("succeeded payment", "succeeded payments")),
    "webhook_authenticity": Wording(
        "The shop accepted no notification that is not true (a payment that does not exist, another "
        "order's, a false outcome), and no forged request changed an order.",
        Unit("forged request", "forged requests")),
    "notifications_settled": Wording(
        "Every notification the stack sent was acknowledged in the end, and the receiver has it.",
        Unit("notification sent", "notifications sent")),
    "clients_told_the_truth": Wording(
        "What a client was told as final holds: told paid, its order was paid; told failed, no money went.",
        Unit("final answer", "final answers")),
    "slo": Wording(
        "Error rate and latency percentiles stay within limits in each phase (steady, fault, recovery).",
        Unit("operation", "operations")),
    "sql": Wording("A query of yours returns no rows.", Unit("row", "rows")),
    "python": Wording("A function of yours (`module:function`) returns no violations."),
}  # fmt: skip


@dataclass(frozen=True)
class InvariantDef:
    name: str
    description: str
    check: Check
    params: type[BaseModel] = NoParams
    eventual: bool = False
    needs: tuple[str, ...] = ()  # evidence tables it reads (the history is always there)
    default: bool = False  # checked when an experiment names no invariants
    promise: str = ""  # what holds when it holds, in one sentence (WORDING; else its description)
    unit: Unit = ITEMS  # what its ``checked`` count counts

    def run(self, evidence: Evidence, params: dict[str, Any]) -> Verdict:
        """Check with the given (unvalidated) parameters; missing evidence raises EvidenceUnavailable."""
        evidence.require(*self.needs)
        return self.check(evidence, self.params.model_validate(params))


REGISTRY: dict[str, InvariantDef] = {}


def invariant(
    name: str,
    *,
    params: type[BaseModel] = NoParams,
    eventual: bool = False,
    needs: tuple[str, ...] = (),
    default: bool = False,
) -> Callable[[Check], Check]:
    """Register a built-in invariant; its docstring's first line is its description, and WORDING says
    its promise and unit."""

    def register(check: Check) -> Check:
        doc = (check.__doc__ or "").strip().splitlines()
        description = doc[0] if doc else ""
        wording = WORDING.get(name, Wording(description))
        REGISTRY[name] = InvariantDef(name, description, check, params, eventual, needs, default,
                                      wording.promise, wording.unit)  # fmt: skip
        return check

    return register


def defaults(tables: set[str]) -> list[str]:
    """The invariants checked when an experiment names none: every default one the evidence allows."""
    return [d.name for d in REGISTRY.values() if d.default and set(d.needs) <= tables]
