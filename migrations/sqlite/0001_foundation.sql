-- Aura foundation schema (SQLite). Timestamps are Unix milliseconds (UTC) in both backends so one query text
-- serves SQLite and PostgreSQL. Keep in step with migrations/postgres/0001_foundation.sql.

CREATE TABLE tickets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL,
    priority      TEXT    NOT NULL DEFAULT 'normal',
    requester     TEXT    NOT NULL,
    turns         INTEGER NOT NULL DEFAULT 0,
    max_turns     INTEGER NOT NULL,
    tokens_used   INTEGER NOT NULL DEFAULT 0,
    cost_micros   INTEGER NOT NULL DEFAULT 0,
    plan          TEXT,
    plan_digest   TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, id);

-- Where a ticket lives in chat: its root message and everything posted about it.
CREATE TABLE ticket_links (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id     INTEGER NOT NULL REFERENCES tickets (id),
    platform      TEXT    NOT NULL,
    conversation  TEXT    NOT NULL,
    thread        TEXT,
    message_id    TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (platform, conversation, message_id)
);
CREATE INDEX ticket_links_ticket ON ticket_links (ticket_id);
CREATE INDEX ticket_links_thread ON ticket_links (platform, conversation, thread);

-- Append-only, hash-chained. Row ids are assigned from audit_head.seq inside the writing transaction.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    ticket_id     INTEGER REFERENCES tickets (id),
    actor         TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    details       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL
);
CREATE INDEX audit_log_ticket ON audit_log (ticket_id, id);
CREATE INDEX audit_log_event ON audit_log (event);

-- One row: the chain's head. Updating it first in a transaction serialises audit writers.
CREATE TABLE audit_head (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    seq           INTEGER NOT NULL,
    last_hash     TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Every inbound chat event, committed before the platform's offset/ack advances.
CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    platform      TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    received_at   INTEGER NOT NULL,
    processed_at  INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    UNIQUE (platform, event_id)
);
CREATE INDEX inbox_pending ON inbox (processed_at, id);

-- Every outbound message, sent by the paced sender.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    platform        TEXT    NOT NULL,
    conversation    TEXT    NOT NULL,
    -- Sends in one lane go out in id order; a conversation's messages share a lane, button answers have their own.
    lane            TEXT    NOT NULL,
    ticket_id       INTEGER REFERENCES tickets (id),
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    remote_id       TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_lane ON outbox (platform, lane, status, id);

-- A plan waiting for a decision. Each button carries one nonce (approve or reject) and nothing else.
CREATE TABLE approvals (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    approve_nonce   TEXT    NOT NULL UNIQUE,
    reject_nonce    TEXT    NOT NULL UNIQUE,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id),
    plan_digest     TEXT    NOT NULL,
    requested_by    TEXT    NOT NULL,
    origin          TEXT    NOT NULL,
    message_outbox  INTEGER,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    decided_by      TEXT,
    decision        TEXT,
    comment         TEXT,
    -- The platform event that decided (a Matrix reaction), so its redaction can withdraw the decision.
    decided_via     TEXT,
    decided_at      INTEGER
);
CREATE INDEX approvals_ticket ON approvals (ticket_id, id);

-- The GitOps execution of an approved plan: deterministic branch and commit, the pull request once opened.
CREATE TABLE executions (
    ticket_id       INTEGER PRIMARY KEY REFERENCES tickets (id),
    branch          TEXT    NOT NULL,
    base_sha        TEXT    NOT NULL,
    -- Author/committer date of the commit, fixed at the first attempt so a retry makes the same commit.
    commit_date     TEXT    NOT NULL,
    commit_sha      TEXT,
    pr_number       INTEGER,
    pr_url          TEXT,
    -- Set when the pull request is first seen merged; observing times out from here.
    merge_sha       TEXT,
    merged_at       INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    started_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Resume points of platform streams (Telegram offset, Matrix sync token, Discord session).
CREATE TABLE cursors (
    name          TEXT    PRIMARY KEY,
    value         TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
);
