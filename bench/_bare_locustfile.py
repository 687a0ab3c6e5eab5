"""Bare Locust on the trivial endpoint: what Locust does with no paychaos on top (no journal, no context)."""

from __future__ import annotations

from locust import FastHttpUser, task


class Bare(FastHttpUser):
    concurrency = 1
    max_retries = 0

    @task
    def one(self) -> None:
        self.client.post("/ok", json={"n": 1}, name="one")
