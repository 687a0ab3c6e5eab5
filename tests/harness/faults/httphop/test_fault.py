"""The ``http`` fault kind against the real hop: applied and healed by the injector, reverted from
the journal alone, and "gone" (not an error) once the hop that held the rule has stopped."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import TypeAdapter

from paychaos.faults import FaultInjector, FaultJournal, HttpFault, read_journal
from paychaos.faults._hop import HopClient, start_hop
from paychaos.faults.kinds import HttpFaultSpec, spec_union
from tests.harness.faults.httphop.conftest import Upstream

pytestmark = pytest.mark.integration

SPEC = TypeAdapter(list[spec_union()]).validate_python(  # type: ignore[misc]
    [{"link": "web", "http": {"match": {"path": "/lost"}, "action": "abort", "status": 429}}]
)[0]


def _fault(client: HopClient) -> HttpFault:
    assert isinstance(SPEC, HttpFaultSpec)
    return HttpFault(client, "web", SPEC.http, seed=1, label="refused")


def test_applied_it_acts_healed_it_stops_and_a_revert_from_the_journal_removes_it(
    tmp_path: Path, upstream: Upstream
) -> None:
    with start_hop(log_dir=tmp_path, journal=tmp_path / "http.jsonl") as hop, HopClient(hop.url) as client:
        listen = client.create_link("web", "127.0.0.1:0", upstream.address)["listen"]
        with FaultInjector(FaultJournal(tmp_path / "faults.jsonl")) as injector, httpx.Client() as web:
            fault_id = injector.apply(_fault(client))
            assert web.get(f"http://{listen}/lost").status_code == 429
            injector.heal(fault_id)
            assert web.get(f"http://{listen}/lost").status_code == 200
            again = injector.apply(_fault(client))
        # The injector's exit healed it too; a revert from the journal record (a killed run's heal)
        # finds it gone and says so.
        (applied,) = [e for e in read_journal(tmp_path / "faults.jsonl") if e.get("id") == again and
                      e["event"] == "applied"]  # fmt: skip
        assert HttpFault.revert(applied["undo"]) == f"HTTP rule {again} was already gone"
        client.add_rule("web", {**SPEC.http.as_rule("r9", seed=1, label=None)})
        assert HttpFault.revert({**applied["undo"], "rule": "r9"}) == "removed HTTP rule r9"
        assert client.links()[0]["rules"] == []
        undo = applied["undo"]
    assert "is gone" in HttpFault.revert(undo)  # the hop stopped with its run, and the rule with it
