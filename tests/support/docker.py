"""What tests on a real Docker engine share: skipping (or, in CI, failing) when there is none, and
the tiny busybox httpd image, imported from Debian's static busybox since nothing can be pulled."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from typing import Any, NoReturn

import pytest

from paychaos.errors import InfrastructureError
from paychaos.faults import docker_engine

IMAGE = "paychaos-test/busybox-httpd:1"
"""/bin/busybox and /www/index.html ("hello"): ``busybox httpd -f -p PORT -h /www`` serves it."""


def unavailable(reason: str) -> NoReturn:
    """Skip the test, saying why; where Docker is required (CI: PAYCHAOS_REQUIRE_DOCKER=1), fail it."""
    if os.environ.get("PAYCHAOS_REQUIRE_DOCKER") == "1":
        pytest.fail(f"Docker is required here (PAYCHAOS_REQUIRE_DOCKER=1) but {reason}")
    pytest.skip(reason)


def engine_or_skip() -> Any:
    """A client of the local Docker engine (close it when done), or the test skips."""
    try:
        return docker_engine()
    except InfrastructureError as exc:
        unavailable(f"no Docker engine: {exc}; .ci/run starts one")


def busybox_image(engine: Any) -> str:
    """The test image, imported once from this machine's static busybox."""
    if any(IMAGE in image.tags for image in engine.images.list()):
        return IMAGE
    busybox = shutil.which("busybox")
    if busybox is None:
        unavailable("busybox is not installed (Debian: busybox-static); .ci/run installs it")
    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        page = tarfile.TarInfo("www/index.html")
        page.size = 6
        tar.addfile(page, io.BytesIO(b"hello\n"))
    repository, tag = IMAGE.split(":")
    engine.api.import_image_from_data(rootfs.getvalue(), repository=repository, tag=tag)
    return IMAGE
