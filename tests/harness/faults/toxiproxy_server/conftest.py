from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import Api, Upstream

SEED = 20240611


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ToxiproxyServer(port=0, seed=SEED).run_in_thread() as handle:
        yield handle


@pytest.fixture
def api(server: ServerThread) -> Api:
    return Api(server.url)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.close()


@pytest.fixture
def proxy(api: Api, upstream: Upstream) -> dict[str, Any]:
    return api.create_proxy("p", upstream.addr, listen="127.0.0.1:0")
