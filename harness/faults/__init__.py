"""One interface for every fault: network toxics, links down, processes, containers, config.

Network faults go through the Toxiproxy HTTP API of whichever backend runs
(a user's Toxiproxy, ``toxiproxy-server``, a local Docker image, or the
embedded server in :mod:`paychaos.faults.toxiproxy_server`). Every fault is
applied through a :class:`FaultInjector`, which journals it and heals it
whatever happens (overlapping faults on one target are counted, so the inner
one's heal does not cut the outer one short); :func:`heal_leftovers` heals
what a killed run left, and never touches a run that is still running.

Each kind of fault (its YAML, checks, building, applying, healing, describing)
is one module of :mod:`paychaos.faults.kinds`, found through its registry. Faults on HTTP
messages (lose the answer of a committed debit, duplicate a notification) are rules on the
run's HTTP hop, :mod:`paychaos.faults.httphop`, put in front of the links that need it.
"""

from __future__ import annotations

from paychaos._docker import docker_engine
from paychaos.faults._backends import Backend, start_backend
from paychaos.faults._client import ToxiproxyClient, ToxiproxyError
from paychaos.faults._faults import Fault
from paychaos.faults._hop import Hop, HopClient, start_hop
from paychaos.faults._injector import FaultInjector
from paychaos.faults._journal import (
    JOURNAL_NAME,
    FaultJournal,
    FaultWindow,
    fault_windows,
    read_journal,
    unhealed,
)
from paychaos.faults._links import HopLinks, LinkProxies
from paychaos.faults._recovery import Healed, heal_leftovers
from paychaos.faults.kinds.config import ConfigFault
from paychaos.faults.kinds.container import ContainerFault
from paychaos.faults.kinds.http import HttpFault, HttpFaultSpec
from paychaos.faults.kinds.link import TOXIC_TYPES, LinkDown, ToxicFault
from paychaos.faults.kinds.process import ProcessFault, ProcessHandle

__all__ = [
    "JOURNAL_NAME",
    "TOXIC_TYPES",
    "Backend",
    "ConfigFault",
    "ContainerFault",
    "Fault",
    "FaultInjector",
    "FaultJournal",
    "FaultWindow",
    "Healed",
    "Hop",
    "HopClient",
    "HopLinks",
    "HttpFault",
    "HttpFaultSpec",
    "LinkDown",
    "LinkProxies",
    "ProcessFault",
    "ProcessHandle",
    "ToxicFault",
    "ToxiproxyClient",
    "ToxiproxyError",
    "docker_engine",
    "fault_windows",
    "heal_leftovers",
    "read_journal",
    "start_backend",
    "start_hop",
    "unhealed",
]
