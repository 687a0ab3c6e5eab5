"""Evidence: every service serves its read-only views; target.yaml names them and the defects correctly."""

from __future__ import annotations

import json

import pytest

from paychaos.system import Stack
from paychaos_targets.paystack import SERVICES
from paychaos_targets.paystack.defects import DEFECTS, parse_defects
from tests.support.db import query
from tests.targets.paystack.conftest import PAYSTACK, checkout, client, new_account


@pytest.mark.integration
def test_every_declared_evidence_view_exists_and_streams_rows(shared: Stack) -> None:
    checkout(shared, new_account(shared))
    for source in PAYSTACK.evidence.sources.values():
        assert source.database is not None
        names = {
            r["name"] for r in query(shared.dsn(source.database), "SELECT viewname AS name FROM pg_views")
        }
        assert set(source.views) <= names, f"{source.database} lacks {set(source.views) - names}"
    with client(shared, "bank") as bank:
        index = bank.get("/evidence").json()["views"]
        rows = [json.loads(line) for line in bank.get("/evidence/evidence_postings").text.splitlines()]
        missing = bank.get("/evidence/nope")
    assert index == PAYSTACK.evidence.sources["ledger"].views
    assert rows
    assert {"txn_id", "account", "amount", "balance_after"} <= rows[0].keys()
    assert missing.status_code == 404


def test_target_yaml_declares_exactly_the_stacks_defects() -> None:
    assert set(PAYSTACK.defects) == set(DEFECTS)
    assert PAYSTACK.defects_env == "PAYSTACK_DEFECTS"
    assert {d.service for d in DEFECTS.values()} <= set(SERVICES)
    assert set(PAYSTACK.services) == set(SERVICES)


def test_unknown_defect_names_are_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="did you mean 'retry-new-key'"):
        parse_defects("retry-new-keys")
    assert parse_defects(" no-reconciler ,uncapped-promo,") == {"no-reconciler", "uncapped-promo"}
