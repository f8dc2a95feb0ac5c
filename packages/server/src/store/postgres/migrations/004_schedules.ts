import type { Migration } from "./index.js";

// Cron schedules (004: 003 is another change's number; migrations apply by set membership, so a
// gap is harmless). next_fire_at is NULL while paused; schedule times are wall-clock ms as the
// cron gives them, not the database's clock (a firing compares next_fire_at for equality only).
// A fired task names its schedule and tick; the unique index makes a second task for one tick
// impossible whatever the idempotency keys' retention.
export const schedules: Migration = {
  version: 4,
  name: "schedules",
  sql: `
CREATE TABLE schedules (
  seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id               text    NOT NULL UNIQUE,
  key              text    UNIQUE,
  cron             text    NOT NULL,
  time_zone        text    NOT NULL,
  task_name        text    NOT NULL,
  description      text    NOT NULL,
  payload          bytea   NOT NULL,
  timeout_ms       bigint  NOT NULL,
  max_retries      integer NOT NULL,
  retry_backoff_ms bigint  NOT NULL,
  priority         integer NOT NULL,
  overlap          text    NOT NULL,
  catch_up         text    NOT NULL,
  paused           boolean NOT NULL,
  next_fire_at     bigint,
  last_tick_ms     bigint,
  last_task_id     text,
  created_at       bigint  NOT NULL,
  updated_at       bigint  NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
ALTER TABLE tasks ADD COLUMN schedule_id text;
ALTER TABLE tasks ADD COLUMN schedule_tick_ms bigint;
CREATE UNIQUE INDEX tasks_schedule_tick ON tasks (schedule_id, schedule_tick_ms) WHERE schedule_id IS NOT NULL;
`,
};
