"""A client of the local Docker engine, for whatever part of paychaos needs one (container faults,
Compose services, the Toxiproxy image), with one error that says how to get an engine."""

from __future__ import annotations

from typing import Any

from paychaos.errors import InfrastructureError


def docker_engine() -> Any:
    """A client for the local Docker engine, or InfrastructureError saying why there is none."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise InfrastructureError("container faults need the docker package: pip install docker") from exc
    try:
        engine = docker.from_env(timeout=10)
        engine.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, FileNotFoundError, …
        raise InfrastructureError(
            f"no Docker engine reachable ({exc}); start dockerd or set DOCKER_HOST"
        ) from exc
    return engine
