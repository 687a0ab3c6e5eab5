"""Kinds of fault, one module each: everything the harness knows about a kind is in its module.

A kind is a :class:`FaultSpec` subclass: its YAML keys (a pydantic model, so
every mistake is reported located), the keys that say a mapping is one of its
faults (``places``), its checks against the target (``check``: names it uses
that the target lacks, reported with a did-you-mean), how it is built in a
running stack (``build``, given a :class:`FaultContext`), how it is described
in the schedule and the report (``describe``), and the runtime faults it
applies (``fault_classes``): each applies itself, undoes itself in a live run,
and reverts itself from its journal record alone (``paychaos heal``).

Adding a built-in kind is a new module here, and its spec imported and listed in
``BUILTIN`` below: two files.
A kind defined elsewhere (a plugin, a test) is registered instead::

    from paychaos.faults.kinds import register
    register(MarkerSpec)    # experiments may use it; journals naming its faults heal

The experiment model, the loader's checks, the run's fault schedule and
``paychaos heal`` all dispatch through this registry, and name no kind.
"""

from __future__ import annotations

from paychaos.faults.kinds._registry import (
    fault_class,
    on_change,
    register,
    registered,
    spec_union,
    unregister,
)
from paychaos.faults.kinds._spec import FaultContext, FaultSpec, Unknown
from paychaos.faults.kinds.config import ConfigFaultSpec
from paychaos.faults.kinds.container import ContainerFaultSpec
from paychaos.faults.kinds.http import HttpFaultSpec
from paychaos.faults.kinds.link import LinkFault
from paychaos.faults.kinds.process import ProcessFaultSpec

BUILTIN: tuple[type[FaultSpec], ...] = (
    HttpFaultSpec,
    LinkFault,
    ProcessFaultSpec,
    ContainerFaultSpec,
    ConfigFaultSpec,
)
"""The kinds every experiment may use, in the order a mapping's keys are tried: ``http`` before
``link``, since an HTTP fault names its link too."""

for _spec in BUILTIN:
    register(_spec)

__all__ = [
    "BUILTIN",
    "ConfigFaultSpec",
    "ContainerFaultSpec",
    "FaultContext",
    "FaultSpec",
    "HttpFaultSpec",
    "LinkFault",
    "ProcessFaultSpec",
    "Unknown",
    "fault_class",
    "on_change",
    "register",
    "registered",
    "spec_union",
    "unregister",
]
