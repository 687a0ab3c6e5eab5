"""Faults on the HTTP messages of a link: lose a request or its answer, delay, refuse, duplicate, reorder.

In an experiment::

    - at: 3s
      duration: 12s
      link: gateway_bank
      http:
        match: {method: POST, path: /debits}   # method, path (glob), header (globs), json (body fields)
        action: lose_response                  # the bank commits the debit; the gateway never hears
        probability: 0.3                       # or first: N, or every: N; none: every matching request

TCP toxics can only cut bytes; they cannot tell the request that committed a
debit from the one that read a balance. An HTTP fault is a rule on the run's
HTTP hop (:mod:`paychaos.faults.httphop`), a paychaos process the harness puts
in front of every link an experiment names in one, whatever the Toxiproxy
backend: service → hop → Toxiproxy proxy → peer. Every request a rule acts on
is one line of ``http-faults.jsonl`` in the run folder; a rule's choices come
from a generator seeded by the experiment's seed and the fault's id, so the
same seed makes the same choices in the same order of requests.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from paychaos._ownership import Stamp
from paychaos.durations import Duration
from paychaos.errors import InvalidInput
from paychaos.faults._faults import Fault, owner_gone, owner_record
from paychaos.faults._hop import HopClient
from paychaos.faults._journal import read_journal
from paychaos.faults.kinds._spec import FaultContext, FaultSpec, Unknown
from paychaos.rundir import RunDir
from paychaos.system import POSTGRES, Target

ACTION_PARAMETERS: dict[str, tuple[str, ...]] = {
    "delay": ("delay", "of"),
    "abort": ("status", "body", "headers"),
    "lose_request": ("how",),
    "lose_response": ("how",),
    "duplicate": ("copies",),
    "reorder": ("after", "hold_at_most"),
}
"""The keys each action takes beside match/action/probability/first/every."""
ACTIONS = tuple(ACTION_PARAMETERS)

Action = Literal["delay", "abort", "lose_request", "lose_response", "duplicate", "reorder"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class HttpMatch(_Strict):
    """Which requests a rule looks at; every key given must match, none given matches all."""

    method: str | None = Field(default=None, description="e.g. POST (any case)")
    path: str | None = Field(default=None, description="a glob on the path without the query: /debits*")
    header: dict[str, str] | None = Field(
        default=None, description="header name (any case) to a glob on its value: {Idempotency-Key: 'pay:*'}"
    )
    json_fields: dict[str, Any] | None = Field(
        default=None,
        alias="json",
        description="dotted path in the JSON body to the value it must equal: {event: payment.succeeded}",
    )


class HttpRule(_Strict):
    """What the ``http:`` key of a fault holds: which requests, what happens to them, how many."""

    match: HttpMatch = Field(
        default=HttpMatch(),
        description="which requests the rule looks at; every key given must match (default: every request)",
    )
    action: Action = Field(
        description="what happens to a chosen request: delay, abort, lose_request, lose_response, "
        "duplicate or reorder"
    )
    probability: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="choose each matching request with this chance, 0 to 1 (not with first or every; "
        "none of the three: every matching request)",
    )
    first: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="choose the first N matching requests, N 1 or more"
    )
    every: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="choose every Nth matching request, N 1 or more"
    )
    # the actions' parameters (ACTION_PARAMETERS says which action takes which)
    delay: Duration | None = Field(default=None, description="delay: how long")
    of: Literal["request", "response"] | None = Field(
        default=None, description="delay: hold the request before it is forwarded (default), or its answer"
    )
    status: Annotated[int, Field(ge=200, le=599)] | None = Field(
        default=None, description="abort: default 503"
    )
    body: str | None = Field(default=None, description="abort: the answer's body")
    headers: dict[str, str] | None = Field(default=None, description="abort: the answer's headers")
    how: Literal["reset", "timeout"] | None = Field(
        default=None,
        description="lose_*: reset the client's connection (default), or leave it without an answer",
    )
    copies: Annotated[int, Field(ge=1, le=100)] | None = Field(
        default=None, description="duplicate: default 1"
    )
    after: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        default=None, description="reorder: hold until this many later requests passed (default 1)"
    )
    hold_at_most: Duration | None = Field(default=None, description="reorder: then let it go (default 10s)")

    @model_validator(mode="after")
    def _consistent(self) -> HttpRule:
        chosen = [k for k in ("probability", "first", "every") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"give one of probability, first or every, not {' and '.join(chosen)}")
        allowed = ACTION_PARAMETERS[self.action]
        for name in dict.fromkeys(p for params in ACTION_PARAMETERS.values() for p in params):
            if getattr(self, name) is not None and name not in allowed:
                owners = [a for a, params in ACTION_PARAMETERS.items() if name in params]
                takes = f"it takes {', '.join(allowed)}"
                raise ValueError(f"{name!r} is not a parameter of {self.action} ({takes}); "
                                 f"{name!r} belongs to {' and '.join(owners)}")  # fmt: skip
        if self.action == "delay" and self.delay is None:
            raise ValueError("a delay needs 'delay', e.g. delay: 2s (and of: response to hold the answer)")
        return self

    def as_rule(self, rule_id: str, *, seed: int, label: str | None) -> dict[str, Any]:
        """The rule in the hop's API form (seconds as floats)."""
        match = {k: v for k, v in {
            "method": self.match.method, "path": self.match.path,
            "headers": self.match.header, "json": self.match.json_fields,
        }.items() if v is not None}  # fmt: skip
        select = {
            k: getattr(self, k) for k in ("probability", "first", "every") if getattr(self, k) is not None
        }
        action: dict[str, Any] = {"type": self.action}
        if self.action == "delay":
            action |= {"of": self.of or "request", "by": self.delay}
        elif self.action == "abort":
            action |= {"status": self.status or 503, "body": self.body or "", "headers": self.headers or {}}
        elif self.action in ("lose_request", "lose_response"):
            action |= {"how": self.how or "reset"}
        elif self.action == "duplicate":
            action |= {"copies": self.copies or 1}
        else:
            action |= {
                "after": self.after or 1,
                "hold_at_most": 10.0 if self.hold_at_most is None else self.hold_at_most,
            }
        return {
            "id": rule_id,
            "label": label,
            "match": match,
            "action": action,
            "select": select,
            "seed": seed,
        }


class HttpFault(Fault):
    """A rule on the run's HTTP hop, in front of one link."""

    kind = "http"

    def __init__(
        self, client: HopClient, hop_link: str, rule: HttpRule, *, seed: int, label: str | None
    ) -> None:
        super().__init__(
            hop_link, rule.action, rule.model_dump(exclude_none=True, by_alias=True, mode="json")
        )
        self._client = client
        self._rule = rule
        self._seed = seed
        self._label = label

    def apply(self, fault_id: str) -> dict[str, Any]:
        # The fault id is part of the seed: two identical rules in one run choose independently,
        # and the same experiment with the same seed chooses the same again.
        seed = (self._seed ^ zlib.crc32(fault_id.encode())) & 0x7FFFFFFF
        self._client.add_rule(self.target, self._rule.as_rule(fault_id, seed=seed, label=self._label))
        return {"api": self._client.url, "link": self.target, "rule": fault_id,
                **owner_record(self._client.url)}  # fmt: skip

    def heal(self, undo: dict[str, Any]) -> str:
        return self._remove(undo, verify=False)

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        return cls._remove(undo, verify=True)

    @staticmethod
    def _remove(undo: dict[str, Any], *, verify: bool) -> str:
        owner = Stamp.from_json(undo.get("owner"))
        # The hop dies with its run; a port that another process serves now is not ours to talk to.
        if verify and owner is not None and (gone := owner_gone(owner, undo["api"], "HTTP hop")):
            return f"{gone}, and the rule with it"
        with HopClient(undo["api"], timeout=5) as client:
            if not client.reachable():
                return "its HTTP hop is gone, and the rule with it"
            removed = client.remove_rule(undo["link"], undo["rule"])
        return (
            f"removed HTTP rule {undo['rule']}" if removed else f"HTTP rule {undo['rule']} was already gone"
        )


class HttpFaultSpec(FaultSpec):
    kind: ClassVar[str] = "http"
    places: ClassVar[tuple[str, ...]] = ("http",)
    fault_classes: ClassVar[tuple[type[Fault], ...]] = (HttpFault,)

    acts: ClassVar[str] = "requests its rule acted on"

    link: str = Field(description="the link whose HTTP requests the rule acts on")
    http: HttpRule = Field(description="the rule: which requests, what happens to them, how many")

    def check(self, target: Target) -> Iterator[Unknown]:
        carriers = http_links(target)
        if self.link not in carriers:
            yield Unknown("link", "link carrying HTTP", self.link, carriers)
        elif not _hop_fits(target, self.link):
            source = target.links[self.link].source
            usable = [name for name in carriers if _hop_fits(target, name)]
            why = (f"link an http: fault can use ({self.link} goes through a Toxiproxy you run from "
                   f"{source}, which paychaos does not start: the HTTP hop can only be put in front of a "
                   "service paychaos starts; use toxics on this link instead)")  # fmt: skip
            yield Unknown("link", why, self.link, usable)

    def hop_link(self) -> str | None:
        return self.link

    @classmethod
    def acted(cls, run_dir: Path) -> dict[str, int] | None:
        folder = RunDir(run_dir)
        return affected_requests(folder.faults, folder.http_faults)

    def build(self, context: FaultContext) -> Fault:
        if context.hops is None or self.link not in context.hops.names:
            raise InvalidInput(
                f"link {self.link!r} has no HTTP hop in this run; the run puts one in front of every "
                "link an experiment's http: faults name, before the stack starts"
            )
        return HttpFault(context.hops.client, context.hops.names[self.link], self.http,
                         seed=context.seed, label=self.label)  # fmt: skip

    def describe(self) -> str:
        rule = self.http
        how = next(
            (f"{k}={getattr(rule, k)}" for k in ("probability", "first", "every") if getattr(rule, k)), "all"
        )
        match = rule.match.model_dump(exclude_none=True, by_alias=True)
        said = " ".join(f"{k}={v}" for k, v in match.items()) or "any request"
        params = ", ".join(
            f"{k}={getattr(rule, k)}" for k in ACTION_PARAMETERS[rule.action] if getattr(rule, k) is not None
        )
        return f"{self.link}: http {rule.action}{f' ({params})' if params else ''} on {said}, {how}"


def http_links(target: Target) -> list[str]:
    """The links an HTTP fault can be put on: those between two services (not to a database)."""
    return [name for name, link in target.links.items() if link.to != POSTGRES]


def _hop_fits(target: Target, link: str) -> bool:
    """Whether the run's HTTP hop can be put on ``link``: the hop sits in front of the link's source,
    which is told the hop's address, so a link through a Toxiproxy the user runs needs a source
    paychaos starts (service → hop → the user's proxy)."""
    spec = target.links[link]
    return spec.toxiproxy is None or target.services[spec.source].kind != "url"


def affected_requests(journal: Path, http_journal: Path) -> dict[str, int]:
    """How many requests each HTTP fault a run applied acted on, by fault id (0 for one that never did).

    An HTTP fault that matched nothing exercised nothing: the run must not count it as survived.
    """
    events = read_journal(journal) if journal.is_file() else []
    counts = {e["id"]: 0 for e in events if e.get("event") == "applied" and e.get("kind") == HttpFault.kind}
    if http_journal.is_file():
        with open(http_journal, "rb") as lines:
            for line in lines:
                try:
                    rule = orjson.loads(line).get("rule")
                except orjson.JSONDecodeError:
                    continue  # a torn last line
                if rule in counts:
                    counts[rule] += 1
    return counts
