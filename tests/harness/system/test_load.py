"""Loading target.yaml: the shipped target loads; every kind of mistake is located and explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from paychaos.errors import InvalidInput
from paychaos.system import load_target
from tests.conftest import ROOT

MINIMAL = """\
name: tiny
postgres: {databases: [main]}
services:
  api:
    port: 9001
    command: ["{python}", -m, api, --port, "{port}", --db, "{link.api_db.dsn}"]
  worker:
    port: 9002
    command: ["{python}", -m, worker, --api, "{link.worker_api.url}"]
links:
  worker_api: {from: worker, to: api}
  api_db: {from: api, to: postgres, database: main}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(text)
    return path


def test_the_shipped_paystack_target_loads() -> None:
    target = load_target(ROOT / "targets" / "paystack")
    assert sorted(target.services) == ["bank", "gateway", "merchant", "notifier", "reconciler"]
    assert target.links["gateway_channel_a"].to == "bank"
    assert target.root == ROOT / "targets" / "paystack"
    assert target.services["gateway"].start_timeout == 30


def test_a_minimal_target_loads(tmp_path: Path) -> None:
    target = load_target(_write(tmp_path, MINIMAL))
    assert target.links["worker_api"].source == "worker"
    assert target.source == tmp_path / "target.yaml"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("to: api}", "to: apj}"),
            "11:34: links.worker_api.to: unknown service 'apj'; known: api, postgres, worker; did you mean 'api'?",
        ),
        (
            ("database: main", "database: mian"),
            "12:47: links.api_db.database: unknown database 'mian'; known: main; did you mean 'main'?",
        ),
        (
            ("{link.worker_api.url}", "{link.worker_ap.url}"),
            "9:46: services.worker.command[4]: {link.worker_ap.url} names no declared link 'worker_ap'; did you mean 'worker_api'?",
        ),
        (
            ("{link.api_db.dsn}", "{link.api_db.url}"),
            "services.api.command[6]: {link.api_db.url}: a link to postgres offers dsn or address",
        ),
        (
            ('"{port}"', '"{prot}"'),
            "unknown placeholder {prot}; use {python}, {port}, {secret} or {link.NAME.url|address|dsn}",
        ),
        (
            ("    port: 9002", "    prot: 9002"),
            "8:5: services.worker: unknown key 'prot'; expected one of command, compose, description, env, health, port, start_timeout, url; did you mean 'port'?",
        ),
        (
            ("    port: 9001", "    port: 99999"),
            "services.api.port: Input should be less than or equal to 65535",
        ),
        (("name: tiny", "name: Tiny Target"), "1:7: name: String should match pattern"),
    ],
)
def test_mistakes_are_located_and_explained(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(InvalidInput) as err:
        load_target(_write(tmp_path, MINIMAL.replace(old, new)))
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "target.yaml"))


def test_the_top_level_env_takes_only_the_run_secret(tmp_path: Path) -> None:
    assert load_target(_write(tmp_path, MINIMAL + 'env:\n  KEY: "{secret}"\n')).env == {"KEY": "{secret}"}
    with pytest.raises(InvalidInput, match=r"env.URL: \{link.worker_api.url\} cannot be filled here"):
        load_target(_write(tmp_path, MINIMAL + 'env:\n  URL: "{link.worker_api.url}"\n'))


def test_defects_need_the_variable_that_switches_them(tmp_path: Path) -> None:
    text = MINIMAL + "defects:\n  slow: {description: d, incident: i, experiment: e.yaml, invariants: [x]}\n"
    with pytest.raises(InvalidInput, match="defects: declaring defects needs 'defects_env'"):
        load_target(_write(tmp_path, text))
