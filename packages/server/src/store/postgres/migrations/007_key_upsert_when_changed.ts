import type { Migration } from "./index.js";

// The trigger of 005 wrote a key's row on every enqueue of a keyed task, although the row is
// usually waiting already with the same bound: 100,000 tasks over 10,000 keys made 90,000 row
// versions that changed nothing, each one WAL, a dead tuple for vacuum, and index entries where
// the update is not HOT. Now the row is written only when it changes (ON CONFLICT ... WHERE still
// locks it, so a claim that moves the key meanwhile is ordered with the enqueue as before).
export const keyUpsertWhenChanged: Migration = {
  version: 7,
  name: "key upsert when changed",
  sql: `
CREATE OR REPLACE FUNCTION tasks_key_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO concurrency_keys (name, key, waiting, turn, request_limit)
  VALUES (NEW.name, NEW.concurrency_key, true, NEW.created_at, NEW.concurrency_limit)
  ON CONFLICT (name, key) DO UPDATE
  SET waiting = true, request_limit = excluded.request_limit
  WHERE NOT concurrency_keys.waiting OR concurrency_keys.request_limit IS DISTINCT FROM excluded.request_limit;
  RETURN NULL;
END $$;
`,
};
