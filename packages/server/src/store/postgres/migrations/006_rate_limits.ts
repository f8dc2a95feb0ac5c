import type { Migration } from "./index.js";

// Rate limits per task name (see the SQLite store's 010 for the model). A claim of a limited name
// locks its row (FOR UPDATE) for the rest of its transaction, so two Schedulers never both spend
// the window's last starts. A per-key limit counts each key's window in its concurrency_keys row,
// which the keyed claim has locked already.
export const rateLimits: Migration = {
  version: 6,
  name: "rate limits",
  sql: `
CREATE TABLE rate_limits (
  name            text    PRIMARY KEY,
  max_starts      integer,
  per_ms          bigint,
  window_start    bigint  NOT NULL DEFAULT 0,
  used            integer NOT NULL DEFAULT 0,
  per_key         boolean NOT NULL DEFAULT false,
  throttled_until bigint,
  updated_at      bigint  NOT NULL
);
ALTER TABLE tasks ADD COLUMN deferred_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE concurrency_keys ADD COLUMN rate_window_start bigint NOT NULL DEFAULT 0;
ALTER TABLE concurrency_keys ADD COLUMN rate_used integer NOT NULL DEFAULT 0;
`,
};
