-- merchant: orders, the notifications received for them, and fulfilment.

CREATE TABLE IF NOT EXISTS orders (
    id             text PRIMARY KEY,
    request_hash   text   NOT NULL,
    account        text   NOT NULL,
    amount         bigint NOT NULL,
    promo_code     text,
    -- CREATED → PAYING → PAID | FAILED;  PAID → REFUNDING → REFUNDED.
    -- An order becomes PAID only when a signed payment.succeeded notification arrives.
    state          text   NOT NULL CHECK (state IN
                       ('CREATED', 'PAYING', 'PAID', 'FAILED', 'REFUNDING', 'REFUNDED')),
    payment_key    text,             -- Idempotency-Key of the last payment request
    payment_id     uuid,             -- the gateway's payment, once it answered
    payment_state  text,             -- what the gateway last said about it
    attempts       int    NOT NULL DEFAULT 0,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    paid_at        timestamptz
);
CREATE INDEX IF NOT EXISTS orders_paying ON orders (created_at) WHERE state = 'PAYING';

-- Event ids already applied: a redelivered notification changes nothing.
CREATE TABLE IF NOT EXISTS processed_events (
    event_id  uuid PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every delivery that passed the signature check, duplicates included.
CREATE TABLE IF NOT EXISTS webhook_receipts (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL,
    type         text NOT NULL,
    order_id     text NOT NULL,
    payment_id   uuid,
    first        boolean NOT NULL,   -- the first delivery of this event
    applied      boolean NOT NULL,   -- it changed the order
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Goods shipped: must happen once per paid order.
CREATE TABLE IF NOT EXISTS fulfilments (
    id            bigserial PRIMARY KEY,
    order_id      text NOT NULL,
    event_id      uuid NOT NULL,
    payment_id    uuid,
    fulfilled_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS fulfilments_order ON fulfilments (order_id);

CREATE OR REPLACE VIEW evidence_orders AS
    SELECT id, account, amount, promo_code, state, payment_key, payment_id, payment_state, attempts,
           last_error, created_at, updated_at, paid_at
    FROM orders;
CREATE OR REPLACE VIEW evidence_webhook_receipts AS
    SELECT id, event_id, type, order_id, payment_id, first, applied, received_at FROM webhook_receipts;
CREATE OR REPLACE VIEW evidence_fulfilments AS
    SELECT id, order_id, event_id, payment_id, fulfilled_at FROM fulfilments;
