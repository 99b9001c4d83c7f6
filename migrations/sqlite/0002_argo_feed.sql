-- The Argo CD feed (sqlite): the last known state of every Application, its incidents and its deploys.
-- Timestamps are Unix milliseconds. Keep in step with the other backend's 0002_argo_feed.sql.

-- One row per Application the watcher has seen. A restart reads what was announced from here, so known states
-- are never announced again.
CREATE TABLE argo_apps (
    name               TEXT    PRIMARY KEY,
    health             TEXT    NOT NULL,
    sync               TEXT    NOT NULL,
    revision           TEXT,
    -- Since when a bad health has been seen without being announced yet (the flap filter).
    pending_since      INTEGER,
    -- The incident announced and not yet recovered.
    incident_id        INTEGER,
    -- The last revision announced as deployed (synced and settled Healthy).
    deployed_revision  TEXT,
    -- When the synced revision last changed (a Degraded soon after it proposes a revert).
    revision_changed_at INTEGER,
    updated_at         INTEGER  NOT NULL
);

-- An announced incident: one message per feed channel, edited in place until the recovery closes it.
CREATE TABLE argo_incidents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app           TEXT    NOT NULL,
    health        TEXT    NOT NULL,
    revision      TEXT,
    details       TEXT    NOT NULL DEFAULT '',
    -- JSON array of the outbox ids of the announcement (one per channel), the targets of the edits.
    messages      TEXT    NOT NULL DEFAULT '[]',
    -- The ticket proposing the revert, when the incident followed a sync.
    ticket_id     INTEGER  REFERENCES tickets (id),
    opened_at     INTEGER  NOT NULL,
    closed_at     INTEGER
);
CREATE INDEX argo_incidents_app ON argo_incidents (app, id);
CREATE INDEX argo_incidents_opened ON argo_incidents (opened_at);

-- A revision announced as deployed: synced and Healthy after the revision changed. Unique, so never twice.
CREATE TABLE argo_deploys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app           TEXT    NOT NULL,
    revision      TEXT    NOT NULL,
    deployed_at   INTEGER  NOT NULL,
    UNIQUE (app, revision)
);
CREATE INDEX argo_deploys_at ON argo_deploys (deployed_at);
