"""Container faults through the Docker SDK: kill, stop, pause, restart — selected by name or label.

In an experiment::

    - {at: 20s, duration: 5s, container: billing, action: stop, grace: 2s}
    - {at: 20s, duration: 5s, container_label: app=billing, action: pause}

``container: NAME`` naming a compose service of the target (``services.NAME.compose`` in
target.yaml) means that service's container in the run's own Compose project: it is selected
when the fault is applied, by the labels Compose gives it (``com.docker.compose.project`` = the
run's project, ``com.docker.compose.service``). Any other name is a container's name.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from paychaos._docker import docker_engine
from paychaos.durations import Duration
from paychaos.errors import InfrastructureError, InvalidInput, did_you_mean
from paychaos.faults._faults import Fault, Holder
from paychaos.faults.kinds._spec import FaultContext, FaultSpec, Reached
from paychaos.system import Target
from paychaos.system._compose import PROJECT_LABEL, SERVICE_LABEL

ContainerAction = Literal["kill", "stop", "pause", "restart"]


class ContainerFault(Fault):
    """One action on every container the selector matches (``name=…``, or ``label=key=value``: one
    label, or several that must all be there)."""

    kind = "container"

    def __init__(
        self,
        engine: Any,
        action: ContainerAction,
        *,
        name: str | None = None,
        label: str | Sequence[str] | None = None,
        grace: int | None = None,
    ):
        """``grace``: for stop and restart, seconds between the stop signal and SIGKILL (default: the
        container's own stop timeout, 10 s unless it was created with another)."""
        if (name is None) == (label is None):
            raise InvalidInput("a container fault selects by name or by label (exactly one)")
        if action not in ("kill", "stop", "pause", "restart"):
            raise InvalidInput(f"unknown container action {action!r}; expected kill, stop, pause or restart")
        if grace is not None and (action not in ("stop", "restart") or grace < 0):
            raise InvalidInput(
                f"grace applies to stop and restart, as 0 or more seconds (got {grace} for {action})"
            )
        labels = [label] if isinstance(label, str) else list(label or [])
        super().__init__(f"name={name}" if name else f"label={','.join(labels)}", action)
        self._engine = engine
        self._name = name
        self._labels = labels
        self._grace = grace

    def _containers(self) -> list[Any]:
        import docker.errors

        if self._name is not None:
            try:
                return [self._engine.containers.get(self._name)]
            except docker.errors.NotFound:
                raise InfrastructureError(f"no container named {self._name!r}") from None
        found = list(self._engine.containers.list(filters={"label": self._labels}))
        if not found:
            said = " and ".join(repr(label) for label in self._labels)
            plural = "s" if len(self._labels) > 1 else ""
            raise InfrastructureError(f"no running container has the label{plural} {said}")
        return found

    def apply(self, fault_id: str) -> dict[str, Any]:
        done, already = [], []
        options = {} if self._grace is None else {"timeout": self._grace}
        for container in self._containers():
            # Already paused, by an overlapping fault: the engine would refuse to pause it again.
            if self.action == "pause" and container.status == "paused":
                already.append(container.id)
            else:
                getattr(container, self.action)(**options)
            done.append(container.id)
        return {"action": self.action, "containers": done, **({"already": already} if already else {})}

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        state = {"pause": "paused", "kill": "down", "stop": "down"}.get(undo["action"])
        return tuple(f"container {c} {state}" for c in undo["containers"]) if state else ()

    def heal_shared(self, undo: dict[str, Any], holders: dict[str, list[Holder]]) -> str:
        kept = {key.split()[1] for key in holders}
        free = [c for c in undo["containers"] if c not in kept]
        done = [self.revert({**undo, "containers": free})] if free else []
        by = ", ".join(dict.fromkeys(h.fault_id for group in holders.values() for h in group))
        state = "paused" if undo["action"] == "pause" else "down"
        done.append(f"{', '.join(c[:12] for c in sorted(kept))} still {state} by {by}")
        return "; ".join(done)

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        if undo["action"] == "restart":
            return "nothing to undo"
        import docker.errors

        engine = docker_engine()
        outcomes = []
        try:
            for container_id in undo["containers"]:
                try:
                    container = engine.containers.get(container_id)
                except docker.errors.NotFound:
                    outcomes.append(f"{container_id[:12]} is gone")
                    continue
                if undo["action"] == "pause":
                    if container.status == "paused":
                        container.unpause()
                    outcomes.append(f"unpaused {container.short_id}")
                else:
                    container.start()
                    outcomes.append(f"started {container.short_id}")
        finally:
            engine.close()
        return ", ".join(outcomes)


# -- in an experiment: its YAML, checked against the target, built in a running stack --------


class ContainerFaultSpec(FaultSpec):
    kind: ClassVar[str] = "container"
    places: ClassVar[tuple[str, ...]] = ("container", "container_label")
    fault_classes: ClassVar[tuple[type[Fault], ...]] = (ContainerFault,)

    container: str | None = Field(
        default=None,
        description="a container name, or a compose service of the target (its container in the run)",
    )
    container_label: str | None = Field(default=None, description="key=value: every container labelled so")
    action: ContainerAction = Field(description="kill, stop, pause or restart, through the Docker SDK")
    grace: Duration | None = Field(
        default=None,
        description="stop and restart: time between the stop signal and SIGKILL, whole seconds "
        "(default: the container's own stop timeout, 10s unless set otherwise)",
    )

    @model_validator(mode="after")
    def _one_selector(self) -> ContainerFaultSpec:
        if (self.container is None) == (self.container_label is None):
            raise ValueError(
                "select containers by 'container' (a name) or 'container_label' (key=value), not both"
            )
        if self.grace is not None and self.action not in ("stop", "restart"):
            raise ValueError(f"'grace' applies to stop and restart, not to {self.action}")
        return self

    @classmethod
    def connect_check(cls, faults: Sequence[tuple[int, FaultSpec]]) -> Iterator[Reached]:
        if not faults:
            return
        try:
            engine = docker_engine()
        except InfrastructureError as exc:
            yield Reached(faults[0][0], None, f"container faults need Docker: {exc}", False)
            return
        try:
            for index, fault in faults:
                assert isinstance(fault, ContainerFaultSpec)
                key = "container" if fault.container is not None else "container_label"
                said, found = fault._look_up(engine)
                yield Reached(index, key, said, found)
        finally:
            engine.close()

    def _look_up(self, engine: Any) -> tuple[str, bool]:
        """What the engine holds for this fault's selector, and whether that is enough to run it."""
        import docker.errors

        try:
            if self.container is not None:
                try:
                    found = engine.containers.get(self.container)
                except docker.errors.NotFound:
                    names = [c.name for c in engine.containers.list(all=True)]
                    return (f"no container named {self.container!r} on the Docker engine; start it, or fix "
                            f"the name{did_you_mean(self.container, names)}"), False  # fmt: skip
                return f"container {self.container!r} exists ({found.status})", True
            running = engine.containers.list(filters={"label": self.container_label})
        except docker.errors.DockerException as exc:
            return f"no answer from the Docker engine about it ({exc})", False
        if not running:
            return (
                f"no running container has the label {self.container_label!r}; start one, or fix the label",
                False,
            )
        return f"{len(running)} running container(s) labelled {self.container_label!r}", True

    def compose_service(self, target: Target) -> str | None:
        """The Compose service ``container`` names, when it names a compose service of ``target``
        (by the target's name for it, or by its name in the Compose file); None otherwise."""
        if self.container is None:
            return None
        spec = target.services.get(self.container)
        if spec is not None and spec.compose is not None:
            return spec.compose
        named = {s.compose for s in target.services.values() if s.compose is not None}
        return self.container if self.container in named else None

    def grace_seconds(self) -> int | None:
        """Docker counts the grace in whole seconds: rounded up, so it is never shorter than asked."""
        return None if self.grace is None else math.ceil(self.grace)

    def build(self, context: FaultContext) -> Fault:
        service, project = self.compose_service(context.target), context.stack.compose_project
        if service is not None and project is not None:
            labels = [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}"]
            return ContainerFault(docker_engine(), self.action, label=labels, grace=self.grace_seconds())
        return ContainerFault(
            docker_engine(),
            self.action,
            name=self.container,
            label=self.container_label,
            grace=self.grace_seconds(),
        )
