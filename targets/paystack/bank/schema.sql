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

-- Posting one transaction is one call (one round trip): record the key, move the money
-- leg by leg, write the postings. It returns the transaction and an outcome:
--   posted   this call created and posted it
--   declined the guarded account's credit line would not hold; nothing moved, and the
--            refusal is stored under the key so a retry gets the same answer
--   exists   the key was already used; the stored row is returned untouched
-- The guarded account (the one paying) must be the first leg, the rest follow in account
-- id order. That is one global lock order (customer → merchant → channel), so concurrent
-- transactions never deadlock, and a refusal is known before any balance has changed.
-- An unknown account raises no_data_found and rolls everything back.
CREATE OR REPLACE FUNCTION post_transaction(
    p_scope text, p_key text, p_kind text, p_hash text, p_account text, p_amount bigint,
    p_reference text, p_original_key text, p_accounts text[], p_amounts bigint[], p_guard text
) RETURNS TABLE (outcome text, txn transactions)
LANGUAGE plpgsql AS $$
DECLARE
    t transactions;
    moved bigint;
    after bigint[] := '{}';
BEGIN
    IF p_guard IS NOT NULL AND p_accounts[1] IS DISTINCT FROM p_guard THEN
        RAISE EXCEPTION 'the guarded account % must be the first leg', p_guard;
    END IF;
    INSERT INTO transactions AS x (scope, key, kind, status, request_hash, account, amount, reference, original_key)
    VALUES (p_scope, p_key, p_kind, 'posted', p_hash, p_account, p_amount, p_reference, p_original_key)
    ON CONFLICT (scope, key) DO NOTHING
    RETURNING x.* INTO t;
    IF NOT FOUND THEN
        SELECT x.* INTO t FROM transactions x WHERE x.scope = p_scope AND x.key = p_key;
        RETURN QUERY SELECT 'exists'::text, t;
        RETURN;
    END IF;
    FOR i IN 1 .. cardinality(p_accounts) LOOP
        IF p_accounts[i] = p_guard THEN
            UPDATE accounts a SET balance = a.balance + p_amounts[i]
            WHERE a.id = p_accounts[i] AND a.balance + p_amounts[i] >= -a.credit_limit
            RETURNING a.balance INTO moved;
        ELSE
            UPDATE accounts a SET balance = a.balance + p_amounts[i]
            WHERE a.id = p_accounts[i] RETURNING a.balance INTO moved;
        END IF;
        IF NOT FOUND THEN
            IF NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = p_accounts[i]) THEN
                RAISE EXCEPTION 'no account %', p_accounts[i] USING ERRCODE = 'no_data_found';
            END IF;
            UPDATE transactions x SET status = 'declined',
                detail = format('insufficient funds: %s cannot cover %s', p_guard, -p_amounts[i])
            WHERE x.id = t.id RETURNING x.* INTO t;
            RETURN QUERY SELECT 'declined'::text, t;
            RETURN;
        END IF;
        after := after || moved;
    END LOOP;
    INSERT INTO postings (txn_id, account, amount, balance_after)
    SELECT t.id, u.a, u.m, u.b FROM unnest(p_accounts, p_amounts, after) AS u(a, m, b);
    RETURN QUERY SELECT 'posted'::text, t;
END;
$$;

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
-- A cancelled payout key (kind void) has no reference; its key is the instruction.
CREATE OR REPLACE VIEW evidence_payouts AS
    SELECT coalesce(reference, key) AS instruction, scope AS channel, key, account, amount, status,
           created_at, id
    FROM transactions WHERE kind = 'payout' OR (kind = 'void' AND scope LIKE 'channel-%');
