"""The Docker engine: for container faults, and to stop the Toxiproxy containers of runs that died."""

from __future__ import annotations

import contextlib

from paychaos._docker import docker_engine
from paychaos._ownership import Stamp
from paychaos.errors import InfrastructureError


def stop_orphaned_backends() -> list[str]:
    """Stop Toxiproxy containers whose harness died (they do not die with it, unlike processes)."""
    try:
        engine = docker_engine()
    except InfrastructureError:
        return []
    stopped = []
    try:
        for container in engine.containers.list(filters={"label": "paychaos.role=toxiproxy"}):
            created = container.labels.get("paychaos.owner-created")
            owner = Stamp(
                int(container.labels.get("paychaos.owner", "0")), float(created) if created else None
            )
            if not owner.alive():
                with contextlib.suppress(Exception):
                    container.stop(timeout=2)
                    stopped.append(container.short_id)
    finally:
        engine.close()
    return stopped
