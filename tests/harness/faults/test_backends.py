"""Backend choice: a given URL, then toxiproxy-server on PATH, then a local image, then the embedded server."""

from __future__ import annotations

import os
import sys
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import pytest

from paychaos.errors import InfrastructureError
from paychaos.faults import Backend, start_backend
from paychaos.faults.toxiproxy_server import ServerThread
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services

NO_BINARY = {"PATH": "/nonexistent"}


@pytest.fixture
def stand_in_binary(tmp_path: Path) -> dict[str, str]:
    """A `toxiproxy-server` on PATH taking Toxiproxy's flags (-host, -port).

    The real Go binary cannot be installed here, so this runs paychaos's
    server behind the same command line; what is tested is that the harness
    finds, starts, waits for and stops a binary given those flags.
    """
    binary = tmp_path / "bin" / "toxiproxy-server"
    binary.parent.mkdir()
    binary.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "from paychaos.faults.toxiproxy_server import serve\n"
        "args = sys.argv[1:]\n"
        "serve(args[args.index('-host') + 1], int(args[args.index('-port') + 1]))\n"
    )
    binary.chmod(0o755)
    return {"PATH": f"{binary.parent}:{os.environ['PATH']}"}


def test_a_given_url_wins(toxiproxy: ServerThread, tmp_path: Path) -> None:
    backend = start_backend(toxiproxy.url, log_dir=tmp_path, env=NO_BINARY)
    assert (backend.kind, backend.url) == ("external", toxiproxy.url)
    from_env = start_backend(log_dir=tmp_path, env={**NO_BINARY, "TOXIPROXY_URL": toxiproxy.url})
    assert from_env.kind == "external"
    assert from_env.describe()["version"] == "2.12.0"


def test_an_unreachable_url_is_an_infrastructure_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(
        InfrastructureError, match=r"TOXIPROXY_URL\) does not answer; start it, fix the URL, or unset it"
    ):
        start_backend(log_dir=tmp_path, env={**NO_BINARY, "TOXIPROXY_URL": "http://127.0.0.1:1"})


def test_a_binary_on_path_is_started_and_stopped(stand_in_binary: dict[str, str], tmp_path: Path) -> None:
    with start_backend(log_dir=tmp_path, env=stand_in_binary) as backend:
        assert backend.kind == "binary"
        assert "toxiproxy-server" in backend.detail
        assert backend.passed_over == ["external: no --toxiproxy URL and no TOXIPROXY_URL"]
        pid = int(backend.detail.rsplit("pid ", 1)[1].rstrip(")"))
        assert psutil.pid_exists(pid)
    wait_until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=5
    )


def test_with_nothing_else_the_embedded_server_runs_in_a_child_process(tmp_path: Path) -> None:
    with start_backend(log_dir=tmp_path, env=NO_BINARY, use_docker=False) as backend:
        assert backend.kind == "embedded"
        assert backend.passed_over == [
            "external: no --toxiproxy URL and no TOXIPROXY_URL",
            "binary: no toxiproxy-server on PATH",
            "docker: not tried (disabled)",
        ]
        pid = int(backend.detail.rsplit("pid ", 1)[1].rstrip(")"))
        assert psutil.Process(pid).ppid() == os.getpid()
    wait_until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=5
    )


@pytest.mark.parametrize("kind", ["external", "binary", "embedded"])
def test_every_backend_is_driven_through_the_same_client(
    kind: str,
    toxiproxy: ServerThread,
    stand_in_binary: dict[str, str],
    upstream: ThreadingHTTPServer,
    tmp_path: Path,
) -> None:
    url = toxiproxy.url if kind == "external" else None
    env = stand_in_binary if kind == "binary" else NO_BINARY
    backend: Backend = start_backend(url, log_dir=tmp_path, env=env, use_docker=False)
    with backend, backend.client() as client:
        assert backend.kind == kind
        proxy = client.create_proxy("web", "127.0.0.1:0", f"127.0.0.1:{upstream.server_address[1]}")
        client.add_toxic("web", "latency", {"latency": 250}, name="slow")
        started = time.perf_counter()
        assert httpx.get(f"http://{proxy['listen']}/", timeout=5).json() == {"ok": True}
        assert time.perf_counter() - started >= 0.25
        assert client.remove_toxic("web", "slow") is True
        assert client.remove_toxic("web", "slow") is False
        assert client.delete_proxy("web") is True
