import type { Migration } from "./index.js";

// The maintenance leadership (one row), and what retention needs to find finished tasks oldest
// first and drop their idempotency keys without reading the whole table.
export const leadershipAndRetention: Migration = {
  version: 5,
  name: "leadership and retention",
  sql: `
CREATE TABLE leadership (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  holder     TEXT,                -- NULL once released
  term       INTEGER NOT NULL,
  renewed_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX idempotency_keys_by_task ON idempotency_keys (task_id);
`,
};
