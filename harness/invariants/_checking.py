"""Checking a run: settle the eventual invariants, then verify every one, two at a time.

A run calls the two in its settle and verify phases:

    settled = settle(checks, evidence, timeout=60, poll=1)   # eventual ones, until they hold
    verdicts = verify(checks, evidence, settled)             # everything, in the checks' order

Every check ends with a verdict. A checker that raises, even ``exit()``, is
"could not check", never "holds"; Ctrl-C or SIGTERM drops the checks not yet
started and kills the python ones running, so the run stops at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from paychaos._results import status_mark
from paychaos.invariants._base import REGISTRY, Evidence, EvidenceUnavailable, InvariantDef, Verdict
from paychaos.invariants._child import stopped_on_error

PARALLEL = 2  # each check is one query, and the evidence database has two cores to use


@dataclass(frozen=True)
class Check:
    """One invariant to check: its registered name and the parameters the experiment gave it."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def definition(self) -> InvariantDef:
        return REGISTRY[self.name]

    def deadline(self, healed_at: float, timeout: float) -> float | None:
        """When an eventual invariant must hold by (its ``within``, at most ``timeout``); else None."""
        if not self.definition.eventual:
            return None
        within = getattr(self.definition.params.model_validate(dict(self.params)), "within", None)
        # ``within: 0s`` is a deadline too (hold as soon as the faults are healed), not "no limit".
        return healed_at + (timeout if within is None else min(within, timeout))


def check_one(one: Check, evidence: Evidence, definition: InvariantDef | None = None) -> Verdict:
    """The verdict of one invariant over the evidence; a checker bug is "could not check".
    ``definition``: instead of the registered one of that name."""
    definition = definition or one.definition
    params = definition.params.model_validate(dict(one.params))
    try:
        verdict: Verdict = definition.run(evidence, dict(one.params))
    except EvidenceUnavailable as exc:
        verdict = Verdict(one.name, "could_not_check", reason=str(exc))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a checker bug, even an exit() in it, must not read as "holds"
        said = f"called exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        verdict = Verdict(one.name, "could_not_check", reason=f"internal error: {said}")
    verdict.params = params.model_dump(mode="json")
    return verdict


def settle(
    checks: list[Check],
    evidence: Evidence,
    *,
    timeout: float,
    poll: float,
    on_round: Callable[[float, dict[int, Verdict]], None] | None = None,
) -> dict[int, Verdict]:
    """Poll the eventual invariants (refreshing the evidence each round) until each holds or its
    deadline passes; return their verdicts by index into ``checks``. ``on_round`` is told, after each
    round, when its snapshot was taken (epoch seconds) and the verdicts checked in it."""
    healed = evidence.window.healed_at
    deadlines = {i: d for i, c in enumerate(checks) if (d := c.deadline(healed, timeout)) is not None}
    latest: dict[int, Verdict] = {}
    while deadlines:
        evidence.store.refresh()
        now = time.time()
        checked: dict[int, Verdict] = {}
        for i, deadline in deadlines.items():
            if i in latest and (latest[i].status == "holds" or now > deadline):
                continue
            latest[i] = checked[i] = check_one(checks[i], evidence)
            if latest[i].status == "holds":
                latest[i].converged_after = round(time.time() - healed, 3)
        if on_round is not None and checked:
            on_round(now, checked)
        # done when each held or is past its deadline (it is not checked again): no round left to wait for
        if all(latest[i].status == "holds" or now > deadline for i, deadline in deadlines.items()):
            break
        time.sleep(poll)
    return latest


def settle_window(checks: list[Check], timeout: float) -> str:
    """How long settling may take, for the progress line."""
    longest = [d for c in checks if (d := c.deadline(0.0, timeout)) is not None]
    return f"up to {max(longest):g}s" if longest else "nothing eventual"


def verify(
    checks: list[Check], evidence: Evidence, settled: Mapping[int, Verdict] | None = None
) -> list[Verdict]:
    """Every check's verdict, in order, ``PARALLEL`` at a time over freshly refreshed evidence: an
    eventual one that ran out of time as it ended, every other one checked now."""
    settled = dict(settled or {})
    evidence.store.refresh()
    # An eventual invariant that held while settling is checked again over this final snapshot: it
    # must still hold at the end (and the evidence saved from this snapshot gives the same verdict).
    final = {i for i in range(len(checks)) if i not in settled or settled[i].status == "holds"}
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool, stopped_on_error():
        try:
            pending = {i: pool.submit(check_one, checks[i], evidence) for i in sorted(final)}
            verdicts = [pending[i].result() if i in pending else settled[i] for i in range(len(checks))]
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    for i, verdict in enumerate(verdicts):
        if i in settled and verdict.status == "holds":
            verdict.converged_after = settled[i].converged_after
    return verdicts


def never_checked(checks: list[Check], done: list[Verdict], why: str) -> list[Verdict]:
    """Verdicts for the checks a run never reached: "could not check", with why."""
    return [
        Verdict(c.name, "could_not_check", reason=why, params=dict(c.params)) for c in checks[len(done) :]
    ]


def verdict_line(v: Verdict) -> str:
    """One line of the progress output for a verdict."""
    mark = status_mark(v.status, v.count, loud=True)
    extra = f" — {v.reason}" if v.reason else ""
    return f"{v.invariant:<22} {mark}{extra}"
