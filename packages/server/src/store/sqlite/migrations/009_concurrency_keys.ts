import type { Migration } from "./index.js";

// Concurrency keys. A task may carry a key (and its own bound); tasks of one name and key run at
// most their bound at once, and a claim serves the name's keys in turn. concurrency_keys holds one
// row per (name, key) that has had queued tasks: `waiting` says it may still have some (set by the
// trigger whenever a keyed task becomes queued, cleared by the claim that finds none left), `turn`
// when it was last served, so the least recently served key comes first. Running attempts are
// counted from tasks_key_running (at most the bound's worth of rows per key), never kept as a
// counter that every completion would have to update. Retention deletes the rows of keys with no
// queued task that were last visited before its cutoff (concurrency_keys_idle).
// tasks_claim is rebuilt for unkeyed tasks only: a keyed backlog is never on the unkeyed claim's path.
// SQLite has no trigger for INSERT OR UPDATE: both triggers run this body.
const markKeyWaiting = `BEGIN
  INSERT INTO concurrency_keys (name, key, waiting, turn, request_limit)
  VALUES (NEW.name, NEW.concurrency_key, 1, NEW.created_at, NEW.concurrency_limit)
  ON CONFLICT (name, key) DO UPDATE SET waiting = 1, request_limit = excluded.request_limit;
END;`;

export const concurrencyKeys: Migration = {
  version: 9,
  name: "concurrency keys",
  sql: `
ALTER TABLE tasks ADD COLUMN concurrency_key TEXT;
ALTER TABLE tasks ADD COLUMN concurrency_limit INTEGER;
CREATE TABLE concurrency_limits (
  name        TEXT    PRIMARY KEY,
  max_running INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE concurrency_keys (
  name          TEXT    NOT NULL,
  key           TEXT    NOT NULL,
  waiting       INTEGER NOT NULL,
  turn          INTEGER NOT NULL,
  request_limit INTEGER,
  PRIMARY KEY (name, key)
) WITHOUT ROWID;
CREATE INDEX concurrency_keys_turn ON concurrency_keys (name, turn, key) WHERE waiting = 1;
CREATE INDEX concurrency_keys_idle ON concurrency_keys (turn) WHERE waiting = 0;
DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (name, priority DESC, seq) WHERE state = 'queued' AND concurrency_key IS NULL;
CREATE INDEX tasks_key_claim ON tasks (name, concurrency_key, priority DESC, seq) WHERE state = 'queued' AND concurrency_key IS NOT NULL;
CREATE INDEX tasks_key_running ON tasks (name, concurrency_key) WHERE state = 'running' AND concurrency_key IS NOT NULL;
CREATE TRIGGER tasks_key_queued_on_insert AFTER INSERT ON tasks
WHEN NEW.concurrency_key IS NOT NULL AND NEW.state = 'queued'
${markKeyWaiting}
CREATE TRIGGER tasks_key_queued_on_update AFTER UPDATE OF state ON tasks
WHEN NEW.concurrency_key IS NOT NULL AND NEW.state = 'queued'
${markKeyWaiting}
`,
};
