"""PostgreSQL for a run: an embedded server from the pgserver wheel (private, password on every
login, removed when it stops), or a server of yours given by URL."""

from __future__ import annotations

from paychaos.postgres._server import EmbeddedPostgres, Server, external, scram_verifier

__all__ = ["EmbeddedPostgres", "Server", "external", "scram_verifier"]
