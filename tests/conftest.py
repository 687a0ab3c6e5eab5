"""Fixtures shared by every test: one embedded PostgreSQL server per session."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from paychaos.postgres import EmbeddedPostgres, Server

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]  # for the pytest plugin's own tests


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real PostgreSQL on 127.0.0.1 (the pgserver wheel's binaries), shared by the session."""
    log = tmp_path_factory.mktemp("postgres") / "postgres.log"
    with EmbeddedPostgres(log_path=log) as server:
        yield server


@pytest.fixture(autouse=True)
def _unit_tests_use_no_sockets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test not marked ``integration`` is a unit test: it may open no network socket (the README
    says so, and this keeps it true). Unix sockets and socket pairs stay allowed."""
    if request.node.get_closest_marker("integration"):
        return
    real = socket.socket.__init__

    def refuse(self: socket.socket, family: int = -1, *args: object, **kwargs: object) -> None:
        if family in (socket.AF_INET, socket.AF_INET6, -1):
            raise AssertionError(
                f"{request.node.nodeid} opens a network socket: mark it integration, or test without one"
            )
        real(self, family, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "__init__", refuse)
