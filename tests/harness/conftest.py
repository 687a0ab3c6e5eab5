"""Fixtures the Docker tests of several folders share (container faults, Compose services)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.docker import busybox_image, engine_or_skip


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A client of the local Docker engine; the test skips (in CI: fails) without one."""
    client = engine_or_skip()
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(engine: Any) -> str:
    """The busybox httpd test image, imported once from this machine's static busybox."""
    return busybox_image(engine)
