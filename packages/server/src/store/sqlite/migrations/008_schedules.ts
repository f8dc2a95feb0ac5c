import type { Migration } from "./index.js";

// Cron schedules (008: 007 is another change's number; migrations apply by set membership, so a
// gap is harmless). next_fire_at is NULL while paused; times are wall-clock ms as the cron gives
// them. A fired task names its schedule and tick; the unique index makes a second task for one
// tick impossible whatever the idempotency keys' retention.
export const schedules: Migration = {
  version: 8,
  name: "schedules",
  sql: `
CREATE TABLE schedules (
  seq              INTEGER PRIMARY KEY,
  id               TEXT    NOT NULL UNIQUE,
  key              TEXT    UNIQUE,
  cron             TEXT    NOT NULL,
  time_zone        TEXT    NOT NULL,
  task_name        TEXT    NOT NULL,
  description      TEXT    NOT NULL,
  payload          BLOB    NOT NULL,
  timeout_ms       INTEGER NOT NULL,
  max_retries      INTEGER NOT NULL,
  retry_backoff_ms INTEGER NOT NULL,
  priority         INTEGER NOT NULL,
  overlap          TEXT    NOT NULL,
  catch_up         TEXT    NOT NULL,
  paused           INTEGER NOT NULL,
  next_fire_at     INTEGER,
  last_tick_ms     INTEGER,
  last_task_id     TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
ALTER TABLE tasks ADD COLUMN schedule_id TEXT;
ALTER TABLE tasks ADD COLUMN schedule_tick_ms INTEGER;
CREATE UNIQUE INDEX tasks_schedule_tick ON tasks (schedule_id, schedule_tick_ms) WHERE schedule_id IS NOT NULL;
`,
};
