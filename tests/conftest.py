"""Fixtures shared by every test: one embedded PostgreSQL server per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.target import EmbeddedPostgres, Server

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]  # for the pytest plugin's own tests


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real PostgreSQL on 127.0.0.1 (the pgserver wheel's binaries), shared by the session."""
    log = tmp_path_factory.mktemp("postgres") / "postgres.log"
    with EmbeddedPostgres(log_path=log) as server:
        yield server
