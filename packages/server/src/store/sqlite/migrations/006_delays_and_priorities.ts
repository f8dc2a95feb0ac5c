import type { Migration } from "./index.js";

// Delayed tasks wait in state 'scheduled' with their due time in next_attempt_at (the column a
// retry waits on too, so one promotion path and one timer serve both); run_at keeps the start the
// client asked for after the task is promoted. Claims read queued tasks of a name highest
// priority first, then oldest, straight from tasks_claim, so a claim stays O(limit).
export const delaysAndPriorities: Migration = {
  version: 6,
  name: "delays and priorities",
  sql: `
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN run_at INTEGER;
CREATE INDEX tasks_claim ON tasks (name, priority DESC, seq) WHERE state = 'queued';
CREATE INDEX tasks_scheduled_due ON tasks (next_attempt_at) WHERE state = 'scheduled';
`,
};
