"""A kind of fault defined outside the harness, as a plugin would define one: a marker file.

Some services change course while a flag file exists (a maintenance or drain
flag). This kind creates ``RUN_DIR/SERVICE.marker`` when it is applied and removes
it when it heals; from the journal alone too. In an experiment, once registered::

    - {at: 5s, duration: 10s, marker: web}

Everything the harness needs to know about the kind is here: tests register it
(:func:`paychaos.faults.kinds.register`) and change nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from paychaos.faults import Fault
from paychaos.faults.kinds import FaultContext, FaultSpec, Unknown
from paychaos.system import Target


class MarkerFault(Fault):
    kind = "marker"

    def __init__(self, path: Path) -> None:
        super().__init__(path.name, "mark")
        self._path = path

    def apply(self, fault_id: str) -> dict[str, Any]:
        self._path.write_text(f"{fault_id}\n")
        return {"path": str(self._path)}

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        path = Path(undo["path"])
        try:
            path.unlink()
        except FileNotFoundError:
            return f"{path} was already gone"
        return f"removed {path}"


class MarkerSpec(FaultSpec):
    kind: ClassVar[str] = "marker"
    places: ClassVar[tuple[str, ...]] = ("marker",)
    fault_classes: ClassVar[tuple[type[Fault], ...]] = (MarkerFault,)

    marker: str = Field(description="the service whose marker file it is")

    def check(self, target: Target) -> Iterator[Unknown]:
        if self.marker not in target.services:
            yield Unknown("marker", "service", self.marker, target.services)

    def build(self, context: FaultContext) -> Fault:
        return MarkerFault(context.run_dir / f"{self.marker}.marker")
