import type { Migration } from "./index.js";

// Delayed tasks wait in state 'scheduled' with their due time in next_attempt_at (the column a
// retry waits on too, so one promotion path and one timer serve both); run_at keeps the start the
// client asked for after the task is promoted. Claims read queued tasks of a name highest
// priority first, then oldest, from tasks_claim, which replaces tasks_queued (name, seq): every
// claim would otherwise maintain two queue indexes. Adding a column with a constant default
// rewrites no rows; the index builds hold a write lock on tasks while they run.
export const delaysAndPriorities: Migration = {
  version: 2,
  name: "delays and priorities",
  sql: `
ALTER TABLE tasks ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN run_at bigint;
CREATE INDEX tasks_claim ON tasks (name, priority DESC, seq) WHERE state = 'queued';
DROP INDEX tasks_queued;
CREATE INDEX tasks_scheduled ON tasks (next_attempt_at) WHERE state = 'scheduled';
`,
};
