"""Run one paystack service: ``python -m paychaos_targets.paystack SERVICE --port N --db DSN [options]``.

``python -m paychaos_targets.paystack gateway --help`` lists a service's options. Defect
switches come from ``PAYSTACK_DEFECTS`` and ``--defect NAME``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import sys
from typing import Any

import uvicorn

from paychaos_targets.paystack import SERVICES
from paychaos_targets.paystack._web import Service, Settings
from paychaos_targets.paystack.defects import active_defects

# service name -> (module, class, settings class)
_ENTRY = {
    "bank": ("paychaos_targets.paystack.bank.app", "Bank", "BankSettings"),
    "gateway": ("paychaos_targets.paystack.gateway.app", "Gateway", "GatewaySettings"),
    "merchant": ("paychaos_targets.paystack.merchant.app", "Merchant", "MerchantSettings"),
    "notifier": ("paychaos_targets.paystack.notifier.app", "Notifier", "NotifierSettings"),
    "reconciler": ("paychaos_targets.paystack.reconciler.app", "Reconciler", "ReconcilerSettings"),
}


def build(service: str, argv: list[str]) -> Service:
    """Parse ``argv`` for ``service`` and return the configured service (not yet serving)."""
    module_name, class_name, settings_name = _ENTRY[service]
    module = importlib.import_module(module_name)
    settings_cls: Any = getattr(module, settings_name)
    parser = argparse.ArgumentParser(prog=f"python -m paychaos_targets.paystack {service}")
    Settings.add_arguments(parser)
    settings_cls.configure(parser)
    parser.add_argument("--defect", action="append", default=[], help="defect switch (repeatable)")
    args = parser.parse_args(argv)
    try:
        defects = active_defects(args.defect)
    except ValueError as exc:
        parser.error(str(exc))
    names = {f.name for f in dataclasses.fields(settings_cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    settings = settings_cls(**values, defects=defects)
    service_obj: Service = getattr(module, class_name)(settings)
    return service_obj


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SERVICES:
        sys.exit(f"usage: python -m paychaos_targets.paystack {{{','.join(SERVICES)}}} --port N --db DSN …")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    service = build(argv[0], argv[1:])
    uvicorn.run(
        service.app(),
        host=service.settings.host,
        port=service.settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=False,
        log_level="warning",
        # Longer than every client's idle keep-alive, so clients close first.
        timeout_keep_alive=75,
        timeout_graceful_shutdown=3,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
