"""How each action is carried out on a live connection, and the journal line it leaves.

Every function here takes the client's connection, the request, the acting rule and its journal
entry, and returns whether the client's connection stays open. Each writes its journal line as
soon as the facts are in; if the work is cut short (the client leaves, the hop stops),
:func:`apply` writes the line anyway, saying so, so that no action goes unrecorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from paychaos.faults.httphop._actions import (
    Abort,
    Action,
    Delay,
    Duplicate,
    LoseRequest,
    LoseResponse,
    Reorder,
)
from paychaos.faults.httphop._http import Request, canned
from paychaos.faults.httphop._journal import Entry
from paychaos.faults.httphop._link import Link, RuleState
from paychaos.faults.httphop._relay import (
    Answer,
    ClientConnection,
    UpstreamBroke,
    UpstreamError,
    UpstreamUnreachable,
    deliver_once,
)


class _Ended(Exception):
    """The upstream failed and the client has been dealt with; ``keep`` says if its connection stays."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep


async def apply(conn: ClientConnection, request: Request, state: RuleState) -> bool:
    rule = state.rule
    state.acted += 1
    entry = Entry(conn.link.journal, conn.link.name, rule.id, rule.label, request.method, request.path,
                  rule.action.type, request.header("idempotency-key"))  # fmt: skip
    try:
        return await _HANDLERS[type(rule.action)](conn, request, state, rule.action, entry)
    except _Ended as ended:
        return ended.keep
    finally:
        if not entry.written and not entry.handed_off:
            entry.write(f"cut short: {_why_interrupted(conn.link, conn.closed)}")


def _why_interrupted(link: Link, client_closed: bool) -> str:
    if link.closing:
        return "the link was deleted or the hop stopped"
    if client_closed:
        return "the client closed the connection"
    return "interrupted"


async def _forward(
    conn: ClientConnection, request: Request, entry: Entry, *, stream: bool, doing: str
) -> Answer:
    """Relay the request; on an upstream failure, tell the client and the journal, then raise _Ended."""
    try:
        answer = await conn.exchange(request, stream=stream)
    except UpstreamUnreachable as exc:
        conn.answer_502(request, exc)
        entry.write(f"{doing}; {exc}, answered 502")
        raise _Ended(request.keep_alive) from None
    except UpstreamBroke as exc:
        entry.write(f"{doing}; {exc}, so the client's connection was closed")
        raise _Ended(False) from None
    entry.status = answer.status
    return answer


def _secs(value: float) -> str:
    return f"{value:g}s"


async def _delay(
    conn: ClientConnection, request: Request, state: RuleState, action: Delay, entry: Entry
) -> bool:
    if action.of == "request":
        held = await state.hold(action.by)
        doing = (
            f"held the request {_secs(action.by)}"
            if held == "elapsed"
            else "held the request until the rule was deleted"
        )
        answer = await _forward(conn, request, entry, stream=True, doing=doing)
        entry.write(f"{doing}, then upstream answered {answer.status}")
        return request.keep_alive and answer.keep_alive
    answer = await _forward(conn, request, entry, stream=False, doing="to delay the answer")
    held = await state.hold(action.by)
    assert answer.raw is not None
    conn.write(answer.raw)
    how = f"for {_secs(action.by)}" if held == "elapsed" else "until the rule was deleted"
    entry.write(f"held the upstream's answer {answer.status} {how}")
    return request.keep_alive and answer.keep_alive


async def _abort(
    conn: ClientConnection, request: Request, state: RuleState, action: Abort, entry: Entry
) -> bool:
    conn.write(canned(action.status, action.body.encode(), action.headers, keep_alive=request.keep_alive,
                      version=request.version, head=request.head))  # fmt: skip
    entry.write(f"answered {action.status} without forwarding")
    return request.keep_alive


async def _lose_request(
    conn: ClientConnection, request: Request, state: RuleState, action: LoseRequest, entry: Entry
) -> bool:
    if action.how == "reset":
        entry.write("reset the connection without forwarding")
        conn.reset()
        return False
    entry.write("kept the connection silent without forwarding")
    await conn.keep_silent(state)
    return False


async def _lose_response(
    conn: ClientConnection, request: Request, state: RuleState, action: LoseResponse, entry: Entry
) -> bool:
    answer = await _forward(conn, request, entry, stream=False, doing="to lose the answer")
    if action.how == "reset":
        entry.write(f"reset after upstream answered {answer.status}")
        conn.reset()
        return False
    entry.write(f"kept the connection silent after upstream answered {answer.status}")
    await conn.keep_silent(state)
    return False


async def _duplicate(
    conn: ClientConnection, request: Request, state: RuleState, action: Duplicate, entry: Entry
) -> bool:
    answer = await _forward(conn, request, entry, stream=True, doing="to duplicate")
    link = conn.link
    entry.handed_off = True  # the copies write the line once they are answered
    copies = link.spawn(_copies(link, request, action.copies, answer.status, entry))
    # A task cancelled before it ran never reaches its `finally`; this writes the line then.
    copies.add_done_callback(
        lambda _: entry.write(f"client got {answer.status}; copies not sent, the link closed")
    )
    return request.keep_alive and answer.keep_alive


async def _copies(link: Link, request: Request, copies: int, first: int, entry: Entry) -> None:
    answers: list[str] = []
    try:
        for _ in range(copies):
            try:
                answers.append(str((await deliver_once(link, request)).status))
            except UpstreamError as exc:
                answers.append(f"failed ({exc})")
    finally:
        plural = "copy" if copies == 1 else "copies"
        got = ", ".join(answers) if answers else "none sent"
        cut = "" if len(answers) == copies else f" (cut short: {_why_interrupted(link, False)})"
        entry.write(f"client got {first}; delivered {copies} extra {plural}, answered {got}{cut}")


async def _reorder(
    conn: ClientConnection, request: Request, state: RuleState, action: Reorder, entry: Entry
) -> bool:
    hold = state.hold(action.hold_at_most)
    conn.link.after_forwarded(action.after, hold)
    held = await hold
    later = f"{action.after} later request{'s' if action.after > 1 else ''}"
    doing = {
        "overtaken": f"held until {later} went upstream",
        "elapsed": f"held {_secs(action.hold_at_most)} (fewer than {later} came), then forwarded",
        "released": "held until the rule was deleted",
    }[held]
    answer = await _forward(conn, request, entry, stream=True, doing=doing)
    entry.write(f"{doing}; upstream answered {answer.status}")
    return request.keep_alive and answer.keep_alive


_Handler = Callable[[ClientConnection, Request, RuleState, Any, Entry], Awaitable[bool]]
_HANDLERS: dict[type[Action], _Handler] = {
    Delay: _delay,
    Abort: _abort,
    LoseRequest: _lose_request,
    LoseResponse: _lose_response,
    Duplicate: _duplicate,
    Reorder: _reorder,
}
