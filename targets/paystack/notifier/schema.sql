-- notifier: one row per result event to deliver, and one per delivery attempt.

CREATE TABLE IF NOT EXISTS deliveries (
    event_id         uuid PRIMARY KEY,
    type             text   NOT NULL,
    order_id         text   NOT NULL,
    payment_id       uuid   NOT NULL,
    body             jsonb  NOT NULL,
    state            text   NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts         int    NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at     timestamptz
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at) WHERE state = 'PENDING';

CREATE TABLE IF NOT EXISTS delivery_attempts (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL,
    attempt     int  NOT NULL,
    outcome     text NOT NULL,          -- delivered, or why not (status, timeout, connection)
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE VIEW evidence_deliveries AS
    SELECT event_id, type, order_id, payment_id, state, attempts, next_attempt_at, last_error,
           created_at, delivered_at
    FROM deliveries;
CREATE OR REPLACE VIEW evidence_delivery_attempts AS
    SELECT id, event_id, attempt, outcome, started_at, ended_at FROM delivery_attempts;
