"""A custom Python invariant, as a user would write one."""

from __future__ import annotations

from typing import Any

from paychaos.invariants import Evidence


def few_accounts(evidence: Evidence, most: int) -> list[dict[str, Any]]:
    count = evidence.sql("SELECT count(*) AS n FROM accounts")[0]["n"]
    return [{"accounts": count, "most": most}] if count > most else []
