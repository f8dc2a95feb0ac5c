import type { Migration } from "./index.js";

// Rate limits per task name. A row holds the limit (max_starts per per_ms, both NULL when the name
// is only throttled) and the window being counted: window_start (a multiple of per_ms) and the
// starts counted in it; with per_key, each concurrency key of the name counts its own window in
// its concurrency_keys row (rate_window_start, rate_used). throttled_until holds every start of
// the name back after a handler reported that its upstream asked to slow down. deferred_attempts
// counts the attempts that ended that way, which do not use up max_retries.
export const rateLimits: Migration = {
  version: 10,
  name: "rate limits",
  sql: `
CREATE TABLE rate_limits (
  name            TEXT    PRIMARY KEY,
  max_starts      INTEGER,
  per_ms          INTEGER,
  window_start    INTEGER NOT NULL DEFAULT 0,
  used            INTEGER NOT NULL DEFAULT 0,
  per_key         INTEGER NOT NULL DEFAULT 0,
  throttled_until INTEGER,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE tasks ADD COLUMN deferred_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concurrency_keys ADD COLUMN rate_window_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concurrency_keys ADD COLUMN rate_used INTEGER NOT NULL DEFAULT 0;
`,
};
