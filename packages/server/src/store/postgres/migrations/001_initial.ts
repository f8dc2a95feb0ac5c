import type { Migration } from "./index.js";

// Times are epoch milliseconds (bigint) on the database's clock (the store shifts each caller's
// `now` by the measured skew). Only the partial indexes of the waiting and running states are on
// the dispatch path, so finished rows, however many, are never read by a claim or a sweep.
export const initialSchema: Migration = {
  version: 1,
  name: "initial",
  sql: `
CREATE TABLE tasks (
  seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- FIFO dispatch and list cursors
  id               text             NOT NULL UNIQUE,
  name             text             NOT NULL,
  description      text             NOT NULL,
  payload          bytea            NOT NULL,
  state            text             NOT NULL,
  attempt          integer          NOT NULL DEFAULT 0,   -- attempts started; fencing token of the current one
  max_retries      integer          NOT NULL,
  timeout_ms       bigint           NOT NULL,
  retry_backoff_ms bigint           NOT NULL,
  result           bytea,
  error            text,
  percent          double precision NOT NULL DEFAULT 0,
  message          text             NOT NULL DEFAULT '',
  worker_id        text,
  created_at       bigint           NOT NULL,
  started_at       bigint,
  finished_at      bigint,
  next_attempt_at  bigint,
  lease_expires_at bigint,
  deadline_at      bigint,
  last_sequence    integer          NOT NULL DEFAULT 0
) WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- The claim path: the oldest queued tasks of one name, read in order and locked with SKIP LOCKED.
CREATE INDEX tasks_queued ON tasks (name, seq) WHERE state = 'queued';
-- The running set (bounded by the workers' slots) for the lease sweep; deadline_at is set once per
-- attempt, so lease renewals change no indexed column and can stay HOT updates.
CREATE INDEX tasks_running ON tasks (deadline_at) WHERE state = 'running';
CREATE INDEX tasks_retrying ON tasks (next_attempt_at) WHERE state = 'retrying';
-- Retention, oldest finished first.
CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;

-- tx and id order the feed: rows are read in (tx, id) order, only for transactions older than
-- every transaction still running, so a row committed late is never skipped.
CREATE TABLE task_events (
  id              bigint GENERATED ALWAYS AS IDENTITY,
  tx              xid8             NOT NULL DEFAULT pg_current_xact_id(),
  task_id         text             NOT NULL,
  sequence        integer          NOT NULL,
  state           text             NOT NULL,
  attempt         integer          NOT NULL,
  percent         double precision NOT NULL,
  message         text             NOT NULL,
  timestamp       bigint           NOT NULL,
  worker_id       text,
  result          bytea,
  error           text,
  next_attempt_at bigint,
  PRIMARY KEY (task_id, sequence)
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX task_events_feed ON task_events (tx, id);

CREATE TABLE idempotency_keys (
  key         text   PRIMARY KEY,
  task_id     text   NOT NULL,
  created_at  bigint NOT NULL,
  fingerprint text
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_by_task ON idempotency_keys (task_id);

CREATE TABLE leadership (
  id         integer PRIMARY KEY CHECK (id = 1),
  holder     text,               -- NULL once released
  term       bigint  NOT NULL,
  renewed_at bigint  NOT NULL,
  expires_at bigint  NOT NULL
);
`,
};
