"""What walletpay's image builder puts in the root filesystem (no Docker needed), and its settings."""

from __future__ import annotations

import sys

import pytest

from paychaos_targets.walletpay import image
from paychaos_targets.walletpay._config import parse


@pytest.fixture(scope="module")
def rootfs() -> image.Rootfs:
    return image.assemble()


def test_the_rootfs_holds_python_its_loader_and_walletpays_distributions(rootfs: image.Rootfs) -> None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    names = set(rootfs.files) | set(rootfs.links)
    site = f"{image.PREFIX}/lib/{version}/site-packages"
    assert f"{image.PREFIX}/bin/{version}" in names
    assert f"{image.PREFIX}/bin/python" in names
    assert f"{image.PREFIX}/lib/{version}/os.py" in names  # the landmark Python finds its prefix by
    assert any(n.startswith("lib64/ld-linux") for n in names), "the dynamic loader"
    assert any(n.endswith("/libc.so.6") for n in names)
    for package in (
        "asyncpg",
        "aiohttp",
        "yarl",
        "multidict",
        "frozenlist",
        "aiosignal",
        "attr",
        "propcache",
    ):
        assert f"{site}/{package}/__init__.py" in names, package
    assert f"{site}/paychaos_targets/walletpay/api.py" in names
    assert f"{site}/paychaos_targets/walletpay/worker.py" in names


def test_the_rootfs_leaves_out_tests_tools_and_caches(rootfs: image.Rootfs) -> None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = f"{image.PREFIX}/lib/{version}/"
    for name in rootfs.files:
        parts = name.split("/")
        assert "__pycache__" not in parts
        assert not name.endswith(".pyc")
        if name.startswith(stdlib) and "/site-packages/" not in name:
            top = name[len(stdlib) :].split("/")[0]
            assert top not in {"test", "idlelib", "tkinter", "ensurepip", "lib2to3"}, name
            assert not top.startswith("config-"), name
    assert not any("paystack" in n or "/harness/" in n or "/paychaos/" in n for n in rootfs.files)


def test_the_content_hash_follows_the_content(rootfs: image.Rootfs) -> None:
    changes = image.changes("")
    first = rootfs.content_hash(changes)
    assert rootfs.content_hash(changes) == first
    rootfs.data["etc/motd"] = b"changed\n"
    try:
        assert rootfs.content_hash(changes) != first
    finally:
        del rootfs.data["etc/motd"]


def test_settings_come_from_the_environment_and_unknown_defects_are_refused() -> None:
    env = {
        "WALLETPAY_PORT": "9300",
        "WALLETPAY_DB": "postgresql://u@127.0.0.1/w",
        "WALLETPAY_API_URL": "http://127.0.0.1:9301/",
        "WALLETPAY_DEFECTS": "lost-claim, double-capture",
    }
    settings = parse(["worker"], env)
    assert (settings.port, settings.api_url) == (9300, "http://127.0.0.1:9301")
    assert settings.defects == {"lost-claim", "double-capture"}
    assert parse(["api", "--port", "1"], env).port == 1  # an argument beats the variable
    with pytest.raises(SystemExit, match="unknown defect"):
        parse(["api"], {**env, "WALLETPAY_DEFECTS": "double-captur"})
