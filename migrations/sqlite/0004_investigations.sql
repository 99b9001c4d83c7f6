-- @mention debugging (SQLite): one row per question asked of Aura. Timestamps are Unix milliseconds.
-- Keep in step with migrations/postgres/0004_investigations.sql.

CREATE TABLE investigations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    platform      TEXT    NOT NULL,
    conversation  TEXT    NOT NULL,
    thread        TEXT,
    -- The question message; the answer replies to it.
    message_id    TEXT    NOT NULL,
    requester     TEXT    NOT NULL,
    question      TEXT    NOT NULL,
    -- queued → running → answered; limited and busy were refused at intake and never run.
    status        TEXT    NOT NULL,
    -- How it ended: llm, findings, llm_failed, over_budget, no_cluster, rate_limited, busy.
    outcome       TEXT,
    -- The deterministic findings, as shown to the user (secrets masked).
    findings      TEXT    NOT NULL DEFAULT '',
    answer        TEXT,
    tokens        INTEGER NOT NULL DEFAULT 0,
    -- The ticket opened from it with `escalate`.
    ticket_id     INTEGER REFERENCES tickets (id),
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    UNIQUE (platform, conversation, message_id)
);
CREATE INDEX investigations_requester ON investigations (requester, created_at);
CREATE INDEX investigations_status ON investigations (status, id);
