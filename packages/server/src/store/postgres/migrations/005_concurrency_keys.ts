import type { Migration } from "./index.js";

// Concurrency keys (see the SQLite store's 009 for the model). A claim locks the key rows it
// serves (FOR UPDATE SKIP LOCKED) before it counts their running attempts in a later statement,
// so two Schedulers never both see room for the same last slot. The trigger upserts the key row
// when a keyed task becomes queued (an enqueue or a promotion). Two enqueues that share keys may
// lock them in opposite orders: the loser of that deadlock is run again whole (group-commit.ts).
export const concurrencyKeys: Migration = {
  version: 5,
  name: "concurrency keys",
  sql: `
ALTER TABLE tasks ADD COLUMN concurrency_key text;
ALTER TABLE tasks ADD COLUMN concurrency_limit integer;
CREATE TABLE concurrency_limits (
  name        text    PRIMARY KEY,
  max_running integer NOT NULL,
  updated_at  bigint  NOT NULL
);
CREATE TABLE concurrency_keys (
  name          text    NOT NULL,
  key           text    NOT NULL,
  waiting       boolean NOT NULL,
  turn          bigint  NOT NULL,
  request_limit integer,
  PRIMARY KEY (name, key)
);
CREATE INDEX concurrency_keys_turn ON concurrency_keys (name, turn, key) WHERE waiting;
CREATE INDEX concurrency_keys_idle ON concurrency_keys (turn) WHERE NOT waiting;
DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (name, priority DESC, seq) WHERE state = 'queued' AND concurrency_key IS NULL;
CREATE INDEX tasks_key_claim ON tasks (name, concurrency_key, priority DESC, seq) WHERE state = 'queued' AND concurrency_key IS NOT NULL;
CREATE INDEX tasks_key_running ON tasks (name, concurrency_key) WHERE state = 'running' AND concurrency_key IS NOT NULL;
CREATE FUNCTION tasks_key_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO concurrency_keys (name, key, waiting, turn, request_limit)
  VALUES (NEW.name, NEW.concurrency_key, true, NEW.created_at, NEW.concurrency_limit)
  ON CONFLICT (name, key) DO UPDATE
  SET waiting = true, request_limit = excluded.request_limit;
  RETURN NULL;
END $$;
CREATE TRIGGER tasks_key_queued_on_insert AFTER INSERT ON tasks
FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND NEW.state = 'queued') EXECUTE FUNCTION tasks_key_queued();
CREATE TRIGGER tasks_key_queued_on_update AFTER UPDATE OF state ON tasks
FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND NEW.state = 'queued' AND OLD.state <> 'queued') EXECUTE FUNCTION tasks_key_queued();
`,
};
