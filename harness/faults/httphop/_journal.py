"""The journal: one JSON line for every request a rule acted on.

Each line is written with a single ``os.write`` on a file opened ``O_APPEND``: the line is in the
kernel as soon as the call returns, so the harness can read it during the run, a SIGTERM (or even
a SIGKILL) loses no line already written, and no buffer needs flushing at exit.

A line is written as soon as everything it reports is known: at once for an action that forwards
nothing, after the upstream answered for one that forwards. ``at`` is always the moment the
action was decided.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise OSError(
                f"cannot open the journal {path}: {reason}; give --journal a writable file path"
            ) from None

    def write(self, entry: dict[str, Any]) -> None:
        if self._fd is None:
            return  # the hop is stopping; nothing acts any more
        os.write(self._fd, (json.dumps(entry, separators=(", ", ": ")) + "\n").encode())

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@dataclass
class Entry:
    """One journal line in the making: the facts known when the action was decided, then the outcome."""

    journal: Journal
    link: str
    rule: str
    label: str | None
    method: str
    path: str
    action: str
    key: str | None
    at: float = field(default_factory=time.time)
    status: int | None = None
    written: bool = False
    handed_off: bool = False  # whoever took it over writes it

    def write(self, detail: str) -> None:
        """Write the line (once; later calls do nothing)."""
        if self.written:
            return
        self.written = True
        self.journal.write({"at": self.at, "link": self.link, "rule": self.rule, "label": self.label,
                            "method": self.method, "path": self.path, "action": self.action,
                            "key": self.key, "status": self.status, "detail": detail})  # fmt: skip
