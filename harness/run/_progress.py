"""What a person watching a run sees: the phase, time, throughput, errors and active faults.

On a terminal it is a live panel (rich); in CI or with ``--quiet`` it is plain
lines: every phase and fault event, and a status line every few seconds.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from paychaos.load import Arrivals, Window


class Progress:
    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        self.live_mode = not quiet and console.is_terminal
        self._live: Live | None = None
        self._phase = ""
        self._last_line = 0.0
        self._status = Table.grid()

    def __enter__(self) -> Progress:
        if self.live_mode:
            self._live = Live(self._status, console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(et, e, tb)
            self._live = None

    def phase(self, name: str, detail: str = "") -> None:
        self._phase = name
        self.console.print(f"[bold]▸ {name}[/]" + (f"  {detail}" if detail else ""), highlight=False)

    def event(self, message: str) -> None:
        self.console.print(f"  {message}", highlight=False)

    def update(
        self,
        t: float,
        total: float,
        window: Window,
        operations: int,
        active: list[str],
        arrivals: Arrivals | None = None,
    ) -> None:
        """The live line; ``arrivals``, an open loop's so far, adds how many were dropped, if any."""
        left = max(0.0, total - t)
        line = (
            f"t={t:5.1f}s of {total:g}s ({left:4.0f}s left)  {window.rps:6.1f} op/s  "
            f"errors {window.error_rate:6.1%}  p99 {window.p99 * 1000:6.0f}ms  operations {operations}"
        )
        if arrivals is not None and arrivals.dropped:
            line += f"  dropped {dropped_words(arrivals)}"
        faults = ", ".join(active) if active else "none"
        if self._live is not None:
            grid = Table.grid(padding=(0, 2))
            grid.add_row(f"[bold]{self._phase}[/]", line)
            grid.add_row("faults", faults)
            self._live.update(grid)
        elif time.monotonic() - self._last_line >= 5:
            self._last_line = time.monotonic()
            self.console.print(f"  {line}  faults: {faults}", highlight=False)


def dropped_words(arrivals: Arrivals) -> str:
    """``12 of 600 arrivals (2.0%): every user was busy``."""
    share = arrivals.dropped / arrivals.offered if arrivals.offered else 0.0
    return f"{arrivals.dropped:,} of {arrivals.offered:,} arrivals ({share:.1%}): every user was busy"
