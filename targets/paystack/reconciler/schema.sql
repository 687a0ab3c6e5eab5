-- reconciler: what each pass looked at and what it did.

CREATE TABLE IF NOT EXISTS passes (
    id           bigserial PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    examined     int NOT NULL,
    resolved     int NOT NULL,
    errors       int NOT NULL
);

CREATE TABLE IF NOT EXISTS actions (
    id          bigserial PRIMARY KEY,
    subject     text NOT NULL CHECK (subject IN ('payment', 'payout')),
    subject_id  uuid NOT NULL,
    seen_state  text NOT NULL,       -- the gateway's state when the pass found it
    finding     text NOT NULL,       -- what the bank said
    action      text NOT NULL,       -- what the reconciler told the gateway
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE VIEW evidence_passes AS
    SELECT id, started_at, finished_at, examined, resolved, errors FROM passes;
CREATE OR REPLACE VIEW evidence_actions AS
    SELECT id, subject, subject_id, seen_state, finding, action, at FROM actions;
