"""results.json: what a run found, as data (schema version 1), and the exit code it implies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import ExitCode

SCHEMA_VERSION = 1


def exit_code(status: str, verdicts: list[dict[str, Any]]) -> ExitCode:
    """0 every invariant holds · 1 one is violated · 3 the harness could not do its job · 130 interrupted."""
    if status == "interrupted":
        return ExitCode.INTERRUPTED
    if any(v["status"] == "violated" for v in verdicts):
        return ExitCode.VIOLATED
    if status == "error" or any(v["status"] == "could_not_check" for v in verdicts):
        return ExitCode.INFRASTRUCTURE
    return ExitCode.HELD


def verdict_word(code: ExitCode) -> str:
    return {
        ExitCode.HELD: "held",
        ExitCode.VIOLATED: "violated",
        ExitCode.INFRASTRUCTURE: "error",
        ExitCode.INTERRUPTED: "interrupted",
    }.get(code, "error")


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write atomically: a reader never sees half a file, a crash leaves the previous one."""
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **results}, indent=2, default=str))
    os.replace(scratch, path)
