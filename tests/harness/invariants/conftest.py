"""An evidence database with planted rows, and the invariants run over it exactly as in a run."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from paychaos.invariants import REGISTRY, Check, Evidence, EvidenceStore, RunWindow, Verdict, check_one
from paychaos.invariants._store import Limits, create_tables
from paychaos.postgres import Server
from paychaos.system import load_target
from tests.conftest import ROOT

_numbers = itertools.count()


class Planted:
    """A fresh evidence database: plant rows with ``sql(...)``, then ``check(name, **params)``."""

    def __init__(self, server: Server, name: str, tmp_path: Path, limits: Limits | None = None) -> None:
        self.server, self.name, self.tmp_path = server, name, tmp_path
        self.dsn = server.dsn(name)
        self.store = EvidenceStore(
            load_target(ROOT / "targets" / "paystack"), evidence_dsn=self.dsn,
            source_dsn=server.dsn, service_url=lambda service: "", run_dir=tmp_path, limits=limits or Limits(),
        )  # fmt: skip
        self.evidence = Evidence(self.store, RunWindow(0, 0, 0), server.dsn)

    def with_limits(self, limits: Limits) -> Planted:
        """The same evidence database, read through a store (and a reader role) of its own."""
        return Planted(self.server, self.name, self.tmp_path, limits)

    def sql(self, script: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute(script)
            finally:
                await conn.close()

        asyncio.run(run())

    def check(self, name: str, **params: object) -> Verdict:
        return REGISTRY[name].run(self.evidence, params)

    def verdict(self, name: str, **params: object) -> Verdict:
        """As a run gives it: evidence out of reach is could_not_check, with the reason."""
        return check_one(Check(name, params), self.evidence)


@pytest.fixture
def planted(postgres: Server, tmp_path: Path) -> Iterator[Planted]:
    name = f"evidence_{next(_numbers)}"
    postgres.create_databases([name])

    async def schema() -> None:
        conn = await asyncpg.connect(postgres.dsn(name))
        try:
            await create_tables(conn)
        finally:
            await conn.close()

    asyncio.run(schema())
    yield Planted(postgres, name, tmp_path)
    postgres.drop_databases([name])
