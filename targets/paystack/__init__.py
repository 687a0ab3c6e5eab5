"""paystack: a small, correct-by-default payment stack to run chaos experiments against.

Five services, each a separate ASGI process on 127.0.0.1 with its own PostgreSQL
database: ``merchant`` (shop), ``gateway`` (payments, refunds, payouts),
``bank`` (double-entry ledger with credit lines and two payout channels),
``notifier`` (signed, retried result notifications) and ``reconciler``
(resolves payments whose outcome is unknown). Every address a service calls
comes from its command line, so any link can be routed through a fault proxy.

Each incident paychaos targets has a *defect switch* (``PAYSTACK_DEFECTS``)
that breaks exactly one behaviour; see :mod:`paychaos_targets.paystack.defects`.
"""

from __future__ import annotations

SERVICES = ("bank", "gateway", "merchant", "notifier", "reconciler")
