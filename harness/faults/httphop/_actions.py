"""The six things a rule can do to a request, as immutable values parsed from the rule's JSON.

Only the *what* lives here (types, parameters, defaults, validation, JSON); the *how*
is in :mod:`._apply`, which needs sockets. Parameters a person leaves out get the
defaults below, and ``to_json`` always shows every parameter, so what the API answers
is exactly what the hop will do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from paychaos.errors import did_you_mean
from paychaos.faults.httphop._fields import (
    RuleError,
    a_string,
    an_integer,
    an_object,
    check_keys,
    one_of,
    seconds,
    shown,
)

How = Literal["reset", "timeout"]
_HOWS: tuple[str, ...] = ("reset", "timeout")
# Header names are RFC 9110 tokens; values may not hold CR or LF (that would let a rule split a response).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# The hop frames an abort's answer itself; letting a rule set these would produce a broken response.
_FRAMING = ("content-length", "transfer-encoding", "connection")


@dataclass(frozen=True)
class Delay:
    """Hold the request before forwarding it, or hold the upstream's answer before passing it on."""

    of: Literal["request", "response"]
    by: float
    type: Literal["delay"] = "delay"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "of": self.of, "by": self.by}


@dataclass(frozen=True)
class Abort:
    """Answer the client with this response; nothing is forwarded upstream."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...]
    type: Literal["abort"] = "abort"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, "body": self.body, "headers": dict(self.headers)}


@dataclass(frozen=True)
class LoseRequest:
    """Forward nothing; reset the client's connection, or keep it silent."""

    how: How
    type: Literal["lose_request"] = "lose_request"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "how": self.how}


@dataclass(frozen=True)
class LoseResponse:
    """Forward the request and read the whole answer (the upstream committed), then lose the answer."""

    how: How
    type: Literal["lose_response"] = "lose_response"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "how": self.how}


@dataclass(frozen=True)
class Duplicate:
    """Forward as usual, then deliver ``copies`` identical copies upstream; their answers are dropped."""

    copies: int
    type: Literal["duplicate"] = "duplicate"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "copies": self.copies}


@dataclass(frozen=True)
class Reorder:
    """Hold the request until ``after`` later requests on the link went upstream (or ``hold_at_most``)."""

    after: int
    hold_at_most: float
    type: Literal["reorder"] = "reorder"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "after": self.after, "hold_at_most": self.hold_at_most}


Action = Delay | Abort | LoseRequest | LoseResponse | Duplicate | Reorder
ACTION_TYPES: tuple[str, ...] = ("delay", "abort", "lose_request", "lose_response", "duplicate", "reorder")
MAX_COPIES = 100


def parse_action(value: object, where: str = "action") -> Action:
    """An action from its JSON; RuleError naming the field if anything is wrong.

    >>> parse_action({"type": "delay", "by": 2.5})
    Delay(of='request', by=2.5, type='delay')
    """
    data = an_object(where, value)
    kind = data.get("type")
    if kind not in ACTION_TYPES:
        raise RuleError(
            f"{where}.type",
            f"unknown action type {shown(kind)}; expected one of {', '.join(ACTION_TYPES)}"
            f"{did_you_mean(kind, ACTION_TYPES)}",
        )
    if kind == "delay":
        check_keys(where, data, ("type", "of", "by"))
        if "by" not in data:
            raise RuleError(f"{where}.by", "missing: how many seconds to hold (e.g. 2.5)")
        of = one_of(f"{where}.of", data.get("of", "request"), ("request", "response"))
        return Delay(of="request" if of == "request" else "response", by=seconds(f"{where}.by", data["by"]))
    if kind == "abort":
        check_keys(where, data, ("type", "status", "body", "headers"))
        status = an_integer(f"{where}.status", data.get("status", 503), low=200, high=599)
        body = a_string(f"{where}.body", data.get("body", ""))
        return Abort(status=status, body=body, headers=_headers(f"{where}.headers", data.get("headers", {})))
    if kind in ("lose_request", "lose_response"):
        check_keys(where, data, ("type", "how"))
        how: How = (
            "reset" if one_of(f"{where}.how", data.get("how", "reset"), _HOWS) == "reset" else "timeout"
        )
        return LoseRequest(how) if kind == "lose_request" else LoseResponse(how)
    if kind == "duplicate":
        check_keys(where, data, ("type", "copies"))
        return Duplicate(copies=an_integer(f"{where}.copies", data.get("copies", 1), low=1, high=MAX_COPIES))
    check_keys(where, data, ("type", "after", "hold_at_most"))
    return Reorder(
        after=an_integer(f"{where}.after", data.get("after", 1), low=1),
        hold_at_most=seconds(f"{where}.hold_at_most", data.get("hold_at_most", 10.0)),
    )


def _headers(where: str, value: object) -> tuple[tuple[str, str], ...]:
    data = an_object(where, value)
    out = []
    for name, text in data.items():
        field = f"{where}.{name}"
        if not _TOKEN.match(name):
            raise RuleError(field, "not a valid header name (letters, digits and !#$%&'*+.^_`|~- only)")
        if name.lower() in _FRAMING:
            raise RuleError(field, "the hop sets Content-Length and Connection itself; leave it out")
        if "\r" in a_string(field, text) or "\n" in text:
            raise RuleError(field, "a header value may not contain CR or LF")
        out.append((name, text))
    return tuple(out)
