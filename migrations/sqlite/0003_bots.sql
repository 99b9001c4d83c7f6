-- Monitoring agents (sqlite): scheduled runs, and the HTTP endpoints watchman checks with what it found.
-- Timestamps are Unix milliseconds. Keep in step with the other backend's 0003_bots.sql.

-- One row per run of a bot at a scheduled time, written in the same transaction as the messages it posts, so a
-- restart never posts a run twice.
CREATE TABLE bot_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    bot           TEXT    NOT NULL,
    scheduled_for INTEGER NOT NULL,
    -- posted (messages queued), quiet (ran, nothing to say) or failed.
    status        TEXT    NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    tokens        INTEGER NOT NULL DEFAULT 0,
    output        TEXT    NOT NULL DEFAULT '',
    error         TEXT,
    UNIQUE (bot, scheduled_for)
);

-- The last known state of every endpoint a watchman checks.
CREATE TABLE watch_targets (
    bot           TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    -- up or down
    state         TEXT    NOT NULL,
    since         INTEGER NOT NULL,
    last_checked  INTEGER NOT NULL,
    detail        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (bot, name)
);

-- Every change watchman saw (down, up again), kept for the briefing.
CREATE TABLE watch_findings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    bot           TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    detail        TEXT    NOT NULL DEFAULT '',
    -- For an "up" finding: how long the endpoint had been down.
    down_for_ms   INTEGER,
    observed_at   INTEGER NOT NULL
);
CREATE INDEX watch_findings_at ON watch_findings (observed_at);
