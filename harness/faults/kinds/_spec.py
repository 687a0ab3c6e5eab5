"""What a fault kind is made of: its YAML model, which also checks, builds and describes its faults."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from paychaos.durations import Duration, PositiveDuration
from paychaos.faults._client import ToxiproxyClient
from paychaos.faults._faults import Fault
from paychaos.faults._links import HopLinks, LinkProxies
from paychaos.system import Stack, Target


@dataclass(frozen=True)
class Unknown:
    """A name a fault uses that its target does not have: ``link: gateway_bnk``."""

    key: str
    """The fault's key that holds the name (``link``)."""
    what: str
    """What the name should be, for the message (``link``, ``config endpoint``)."""
    name: str
    known: Collection[str]
    """The names the target has, to list and to find the closest one in."""


@dataclass(frozen=True)
class Reached:
    """What ``paychaos validate --connect`` found for one fault: it exists, or what is missing."""

    index: int
    """The fault's place in the experiment's ``faults:``."""
    key: str | None
    """The fault's key the finding is about (``container``), for the location; None: the fault."""
    said: str
    found: bool


@dataclass(frozen=True)
class FaultContext:
    """What building a fault may use: the run's target and stack, its link proxies, its folder."""

    target: Target
    stack: Stack
    client: ToxiproxyClient
    """The run's Toxiproxy API. A link's proxy may be on another, the user's (``toxiproxy:`` in
    target.yaml): ``proxies.client_for(link)`` and ``proxies.proxy(link)`` say where each link's is."""
    proxies: LinkProxies
    backend: str
    """Which Toxiproxy backend serves ``client``: external, binary, docker or embedded."""
    run_dir: Path
    hops: HopLinks | None = None
    """The run's HTTP hop links (None when the experiment has no HTTP fault)."""
    seed: int = 0
    """The experiment's seed: faults that choose at random choose from it."""


class FaultSpec(BaseModel):
    """One entry of an experiment's ``faults:``; each kind of fault is a subclass.

    A subclass adds its own keys and says, beside them, everything the harness
    needs to know about its kind: which keys tell a mapping is one of its faults
    (``places``), which runtime faults it applies (``fault_classes``: their
    ``kind`` names their journal records, their ``revert`` heals those), how it
    is checked against the target, built in a running stack, and described.
    It becomes usable once registered (:func:`paychaos.faults.kinds.register`).
    """

    # allow_inf_nan=False: '.inf' and '.nan' are YAML floats, and no number in an experiment may be one
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    kind: ClassVar[str]
    """The kind's name in the registry."""
    places: ClassVar[tuple[str, ...]]
    """The keys that say which kind of fault a mapping is (``link``; ``container`` or
    ``container_label``): no two kinds share one."""
    fault_classes: ClassVar[tuple[type[Fault], ...]]

    at: Duration = Field(default=0.0, description="offset from the start of the load")
    duration: PositiveDuration | None = Field(
        default=None, description="how long it lasts; absent: until the load ends"
    )
    label: str | None = Field(
        default=None,
        description="how the fault is named in the progress lines, the fault journal, http-faults.jsonl "
        "and the report (default: made from the fault's keys)",
    )

    def check(self, target: Target) -> Iterator[Unknown]:
        """The names this fault uses that ``target`` does not have."""
        return iter(())

    @classmethod
    def connect_check(cls, faults: Sequence[tuple[int, FaultSpec]]) -> Iterator[Reached]:
        """For ``paychaos validate --connect``: whether what these faults of this kind act on exists
        now (by their index in ``faults:``), without changing anything; nothing for most kinds."""
        return iter(())

    def hop_link(self) -> str | None:
        """The link this fault needs the run's HTTP hop on (set up before the stack starts), if any."""
        return None

    acts: ClassVar[str] = "times it acted"
    """What :meth:`acted` counts, after "fault f1:": its coverage counter's description."""

    @classmethod
    def acted(cls, run_dir: Path) -> dict[str, int] | None:
        """How many times each fault of this kind that the run applied acted (by fault id), for kinds
        whose faults may match nothing; None for kinds that act once by being applied.

        A fault that acted on nothing exercised nothing: the run reads "not exercised", never a pass.
        """
        return None

    @abstractmethod
    def build(self, context: FaultContext) -> Fault:
        """The fault to apply, in the running stack ``context`` describes."""

    def describe(self) -> str:
        """``gateway_bank: toxic=latency, stream=downstream, toxicity=1.0, latency=300ms``: its place,
        then the rest, as written in YAML."""
        data = self.model_dump(exclude_none=True, exclude={"at", "duration", "label"}, mode="json")
        place = next(key for key in self.places if key in data)
        rest = ", ".join(f"{k}={v}" for k, v in data.items() if k != place)
        return f"{data[place]}: {rest}" if rest else str(data[place])
