import type { Migration } from "./index.js";

export const initialSchema: Migration = {
  version: 1,
  name: "initial",
  sql: `
CREATE TABLE tasks (
  seq              INTEGER PRIMARY KEY,        -- insertion order: FIFO dispatch and list cursors
  id               TEXT    NOT NULL UNIQUE,
  name             TEXT    NOT NULL,
  description      TEXT    NOT NULL,
  payload          BLOB    NOT NULL,
  state            TEXT    NOT NULL,
  attempt          INTEGER NOT NULL DEFAULT 0,  -- attempts started; fencing token of the current one
  max_retries      INTEGER NOT NULL,
  timeout_ms       INTEGER NOT NULL,
  retry_backoff_ms INTEGER NOT NULL,
  result           BLOB,
  error            TEXT,
  percent          REAL    NOT NULL DEFAULT 0,
  message          TEXT    NOT NULL DEFAULT '',
  worker_id        TEXT,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  next_attempt_at  INTEGER,
  lease_expires_at INTEGER,
  deadline_at      INTEGER,
  last_sequence    INTEGER NOT NULL DEFAULT 0
);

-- (state, name) entries are ordered by seq, so a claim reads the oldest queued tasks of a name
-- straight from the index.
CREATE INDEX tasks_by_state_name ON tasks (state, name);
CREATE INDEX tasks_by_name ON tasks (name);
CREATE INDEX tasks_retry_due ON tasks (next_attempt_at) WHERE state = 'retrying';
CREATE INDEX tasks_running_by_worker ON tasks (worker_id) WHERE state = 'running';
CREATE INDEX tasks_running_by_lease ON tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_running_by_deadline ON tasks (deadline_at) WHERE state = 'running';

CREATE TABLE task_events (
  task_id         TEXT    NOT NULL,
  sequence        INTEGER NOT NULL,
  state           TEXT    NOT NULL,
  attempt         INTEGER NOT NULL,
  percent         REAL    NOT NULL,
  message         TEXT    NOT NULL,
  timestamp       INTEGER NOT NULL,
  worker_id       TEXT,
  result          BLOB,
  error           TEXT,
  next_attempt_at INTEGER,
  PRIMARY KEY (task_id, sequence)
) WITHOUT ROWID;
`,
};
