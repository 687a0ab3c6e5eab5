"""The harness's error root and the exit codes the CLI maps errors to.

A violated invariant is a *result*, never an exception. Exceptions mean the
harness could not do its job: the input was invalid (exit 2) or the harness or
its infrastructure failed (exit 3). Only the CLI turns them into exit codes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    HELD = 0
    VIOLATED = 1
    INVALID = 2
    INFRASTRUCTURE = 3
    INTERRUPTED = 130


class PaychaosError(Exception):
    """Root of every error paychaos raises on purpose."""

    exit_code: ClassVar[ExitCode] = ExitCode.INFRASTRUCTURE


class InvalidInput(PaychaosError):
    """An experiment, target file or command line is wrong; the message says where and how."""

    exit_code = ExitCode.INVALID


class InfrastructureError(PaychaosError):
    """Something the run depends on failed: a service would not start, a port was taken, …"""

    exit_code = ExitCode.INFRASTRUCTURE


def did_you_mean(given: object, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the known name closest to ``given``; "" when none is close, or when
    ``given`` is no string.

    >>> did_you_mean("helo", ["hello", "world"])
    "; did you mean 'hello'?"
    """
    if not isinstance(given, str):
        return ""
    close = difflib.get_close_matches(given, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
