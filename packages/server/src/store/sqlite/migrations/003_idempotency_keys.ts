import type { Migration } from "./index.js";

export const idempotencyKeys: Migration = {
  version: 3,
  name: "idempotency keys",
  sql: `
CREATE TABLE idempotency_keys (
  key        TEXT    PRIMARY KEY,
  task_id    TEXT    NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
`,
};
