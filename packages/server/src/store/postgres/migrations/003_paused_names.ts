import type { Migration } from "./index.js";

// Paused task names: a claim skips a name with a row here (a primary-key lookup per name claimed),
// so a pause committed through one Scheduler stops dispatch at every other at once, and survives restarts.
export const pausedNames: Migration = {
  version: 3,
  name: "paused names",
  sql: `
CREATE TABLE paused_names (
  name text PRIMARY KEY,
  reason text NOT NULL,
  paused_at bigint NOT NULL
);
`,
};
