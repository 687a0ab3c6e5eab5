-- bank: accounts with credit lines, double-entry postings, idempotent transactions by key.
-- Amounts are integers in minor units (fen / cents). A posting's amount is signed:
-- negative leaves the account. Every posted transaction's postings sum to zero.

CREATE TABLE IF NOT EXISTS accounts (
    id            text PRIMARY KEY,
    kind          text   NOT NULL CHECK (kind IN ('customer', 'merchant', 'channel', 'equity')),
    balance       bigint NOT NULL DEFAULT 0,
    credit_limit  bigint NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One row per idempotency key and scope. scope is 'bank' for debits and refunds,
-- 'channel-a' / 'channel-b' for payouts (each channel has its own key space).
-- status: posted (money moved), declined (refused, nothing moved), voided (the key
-- was cancelled before any request with it arrived; a late request is refused).
CREATE TABLE IF NOT EXISTS transactions (
    id            bigserial PRIMARY KEY,
    scope         text   NOT NULL,
    key           text   NOT NULL,
    kind          text   NOT NULL CHECK (kind IN ('opening', 'debit', 'refund', 'payout', 'void')),
    status        text   NOT NULL CHECK (status IN ('posted', 'declined', 'voided')),
    request_hash  text,
    account       text,
    amount        bigint NOT NULL,
    reference     text,          -- the order (debit, refund) or payout instruction it belongs to
    original_key  text,          -- refunds: the debit's key
    detail        text,          -- why it was declined
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (scope, key)
);
-- A debit can be refunded once, whatever key the refund comes with.
CREATE UNIQUE INDEX IF NOT EXISTS transactions_one_refund
    ON transactions (original_key) WHERE kind = 'refund' AND status = 'posted';
CREATE INDEX IF NOT EXISTS transactions_reference ON transactions (reference);

CREATE TABLE IF NOT EXISTS postings (
    id             bigserial PRIMARY KEY,
    txn_id         bigint NOT NULL REFERENCES transactions (id),
    account        text   NOT NULL REFERENCES accounts (id),
    amount         bigint NOT NULL,
    balance_after  bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS postings_txn ON postings (txn_id);
CREATE INDEX IF NOT EXISTS postings_account ON postings (account, id);

-- Evidence for invariants (read-only). Documented in targets/paystack/README.md.
CREATE OR REPLACE VIEW evidence_accounts AS
    SELECT id, kind, balance, credit_limit FROM accounts;
CREATE OR REPLACE VIEW evidence_transactions AS
    SELECT id, scope, key, kind, status, account, amount, reference, original_key, detail, created_at
    FROM transactions;
CREATE OR REPLACE VIEW evidence_postings AS
    SELECT p.id, p.txn_id, t.scope, t.key, t.kind, t.reference, p.account, p.amount,
           p.balance_after, p.created_at
    FROM postings p JOIN transactions t ON t.id = p.txn_id;
CREATE OR REPLACE VIEW evidence_payouts AS
    SELECT reference AS instruction, scope AS channel, key, account, amount, status, created_at
    FROM transactions WHERE kind = 'payout';
