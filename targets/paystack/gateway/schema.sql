-- gateway: payments by idempotency key, their result events (outbox), payouts, promotions.

CREATE TABLE IF NOT EXISTS payments (
    id              uuid PRIMARY KEY,
    key             text   NOT NULL UNIQUE,       -- the caller's Idempotency-Key
    request_hash    text   NOT NULL,
    order_id        text   NOT NULL,
    account         text   NOT NULL,
    amount          bigint NOT NULL,              -- the order amount
    currency        text   NOT NULL,
    promo_code      text,
    promo_percent   numeric,                      -- the promotion's configured percent, if one applied
    cap_percent     numeric NOT NULL,             -- the caps in force when the payment was priced
    cap_amount      bigint  NOT NULL,
    discount        bigint  NOT NULL,
    charged         bigint  NOT NULL,             -- amount - discount: what the bank is asked to debit
    state           text   NOT NULL CHECK (state IN
                        ('PENDING', 'UNKNOWN', 'SUCCEEDED', 'FAILED', 'REFUNDING', 'REFUNDED')),
    failure_reason  text,
    bank_txn        text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_unresolved ON payments (updated_at)
    WHERE state IN ('PENDING', 'UNKNOWN', 'REFUNDING');
CREATE INDEX IF NOT EXISTS payments_order ON payments (order_id);

-- Result events, written in the same statement as the state change they report.
-- The notifier fetches unacknowledged rows and acknowledges them once stored.
CREATE TABLE IF NOT EXISTS outbox (
    seq         bigserial PRIMARY KEY,
    event_id    uuid   NOT NULL UNIQUE,
    type        text   NOT NULL,
    payment_id  uuid   NOT NULL,
    order_id    text   NOT NULL,
    body        jsonb  NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    acked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE acked_at IS NULL;

CREATE TABLE IF NOT EXISTS payouts (
    id              uuid PRIMARY KEY,
    key             text   NOT NULL UNIQUE,
    request_hash    text   NOT NULL,
    account         text   NOT NULL,
    amount          bigint NOT NULL,
    payee           text   NOT NULL,
    state           text   NOT NULL CHECK (state IN ('PENDING', 'UNKNOWN', 'PAID', 'FAILED')),
    channel         text,                         -- the channel that paid, or whose outcome is awaited
    failure_reason  text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS payouts_unresolved ON payouts (updated_at) WHERE state IN ('PENDING', 'UNKNOWN');

-- Every call the gateway made to a payout channel, and what came of it.
CREATE TABLE IF NOT EXISTS payout_attempts (
    id         bigserial PRIMARY KEY,
    payout_id  uuid NOT NULL REFERENCES payouts (id),
    channel    text NOT NULL,
    action     text NOT NULL,          -- send, settle (ask for the outcome, cancel if unknown)
    outcome    text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The promotion in force (one row) and every change made to it.
CREATE TABLE IF NOT EXISTS promotion (
    id          int PRIMARY KEY CHECK (id = 1),
    code        text,
    percent     numeric NOT NULL DEFAULT 0,
    applies_to  text    NOT NULL DEFAULT 'code' CHECK (applies_to IN ('all', 'code')),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO promotion (id) VALUES (1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS promotion_changes (
    id          bigserial PRIMARY KEY,
    code        text,
    percent     numeric NOT NULL,
    applies_to  text    NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE VIEW evidence_payments AS
    SELECT id, key, order_id, account, amount, currency, promo_code, promo_percent, cap_percent,
           cap_amount, discount, charged, state, failure_reason, bank_txn, created_at, updated_at,
           expires_at
    FROM payments;
CREATE OR REPLACE VIEW evidence_outbox AS
    SELECT seq, event_id, type, payment_id, order_id, created_at, acked_at FROM outbox;
CREATE OR REPLACE VIEW evidence_payouts AS
    SELECT id, key, account, amount, payee, state, channel, failure_reason, created_at, updated_at
    FROM payouts;
CREATE OR REPLACE VIEW evidence_payout_attempts AS
    SELECT id, payout_id, channel, action, outcome, at FROM payout_attempts;
CREATE OR REPLACE VIEW evidence_promotion_changes AS
    SELECT id, code, percent, applies_to, changed_at FROM promotion_changes;
