import type { Migration } from "./index.js";

// A queue-wide order of events (WatchTasks): task_events becomes a rowid table whose id is that
// order. One writer commits at a time, so id order is commit order. AUTOINCREMENT, because without
// it SQLite reuses the ids of deleted rows at the end of the table, and retention can delete the
// newest events (every task finished long ago): a reused id would land behind a client's cursor.
// Events stored before this migration get ids in timestamp order (their commit order is not known).
const eventColumns = "task_id, sequence, state, attempt, percent, message, timestamp, worker_id, result, error, next_attempt_at";

export const eventOrder: Migration = {
  version: 11,
  name: "event order",
  sql: `
CREATE TABLE task_events_ordered (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
  UNIQUE (task_id, sequence)
);
INSERT INTO task_events_ordered (${eventColumns})
SELECT ${eventColumns} FROM task_events ORDER BY timestamp, task_id, sequence;
DROP TABLE task_events;
ALTER TABLE task_events_ordered RENAME TO task_events;
`,
};
