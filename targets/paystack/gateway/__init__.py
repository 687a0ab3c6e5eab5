"""gateway: idempotent payments, refunds and payouts; the outbox of result events."""
