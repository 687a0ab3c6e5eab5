"""paychaos: chaos experiments for payment stacks.

The harness brings a target up, drives peak traffic, injects faults, heals
them, and checks that money invariants still hold.
"""

from __future__ import annotations

from paychaos.errors import ExitCode, InfrastructureError, InvalidInput, PaychaosError

__version__ = "0.1.0"

__all__ = [
    "ExitCode",
    "InfrastructureError",
    "InvalidInput",
    "PaychaosError",
    "__version__",
]
