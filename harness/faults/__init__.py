"""One interface for every fault: network toxics, links down, processes, containers, config.

Network faults go through the Toxiproxy HTTP API of whichever backend runs
(a user's Toxiproxy, ``toxiproxy-server``, a local Docker image, or the
embedded server in :mod:`harness.faults.toxiproxy_server`). Every fault is
applied through a :class:`FaultInjector`, which journals it and heals it
whatever happens (overlapping faults on one target are counted, so the inner
one's heal does not cut the outer one short); :func:`heal_leftovers` heals
what a killed run left, and never touches a run that is still running.

Each kind of fault (its YAML, checks, building, applying, healing, describing)
is one module of :mod:`harness.faults.kinds`, found through its registry. Faults on HTTP
messages (lose the answer of a committed debit, duplicate a notification) are rules on the
run's HTTP hop, :mod:`harness.faults.httphop`, put in front of the links that need it.
"""

from __future__ import annotations

from harness.faults._backends import Backend, start_backend
from harness.faults._client import ToxiproxyClient, ToxiproxyError
from harness.faults._docker import docker_engine
from harness.faults._faults import Fault
from harness.faults._hop import Hop, HopClient, start_hop
from harness.faults._injector import FaultInjector
from harness.faults._journal import (
    JOURNAL_NAME,
    FaultJournal,
    FaultWindow,
    fault_windows,
    read_journal,
    unhealed,
)
from harness.faults._links import HopLinks, LinkProxies
from harness.faults._recovery import Healed, heal_leftovers
from harness.faults.kinds.config import ConfigFault
from harness.faults.kinds.container import ContainerFault
from harness.faults.kinds.http import HttpFault, HttpFaultSpec
from harness.faults.kinds.link import TOXIC_TYPES, LinkDown, ToxicFault
from harness.faults.kinds.process import ProcessFault, ProcessHandle

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
