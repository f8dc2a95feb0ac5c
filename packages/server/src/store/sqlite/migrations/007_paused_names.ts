import type { Migration } from "./index.js";

// Paused task names: a claim skips a name with a row here (a primary-key lookup per name claimed),
// so the pause is enforced by the store itself, for every Scheduler, and survives restarts.
export const pausedNames: Migration = {
  version: 7,
  name: "paused names",
  sql: `
CREATE TABLE paused_names (
  name TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  paused_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
};
