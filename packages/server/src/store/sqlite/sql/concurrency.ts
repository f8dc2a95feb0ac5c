import { startAttemptSet, startedColumns } from "./claim.js";

// Concurrency keys (see migrations/009). A keyed claim is a pass over the name's waiting keys,
// least recently served first: each key gets up to its room (its bound minus its running
// attempts) of its own queued tasks, highest priority then oldest, and is then moved to the back.

// The keys to serve next: those that may have queued tasks, least recently served first. Keys at
// their bound were served recently, so they sit at the back: the pass reads about :limit rows.
export const waitingKeysSql = `
SELECT k.key, coalesce(k.request_limit, l.max_running) AS max_running, k.rate_window_start, k.rate_used
FROM concurrency_keys k INDEXED BY concurrency_keys_turn
LEFT JOIN concurrency_limits l ON l.name = k.name
WHERE k.name = :name AND k.waiting = 1
  AND NOT EXISTS (SELECT 1 FROM paused_names WHERE name = :name)
ORDER BY k.turn, k.key
LIMIT :limit`;

// The names whose claims need the keyed pass (see SqliteStore.keyedNames).
export const keyedNamesSql = `SELECT DISTINCT name FROM concurrency_keys`;

// Reads at most the bound's worth of index entries.
export const runningOfKeySql = `
SELECT count(*) AS running FROM tasks INDEXED BY tasks_key_running
WHERE name = :name AND concurrency_key = :key AND state = 'running'`;

export const claimOfKeySql = `
UPDATE tasks${startAttemptSet}
WHERE seq IN (
  SELECT seq FROM tasks INDEXED BY tasks_key_claim
  WHERE state = 'queued' AND name = :name AND concurrency_key = :key
  ORDER BY priority DESC, seq
  LIMIT :limit
)
RETURNING ${startedColumns}`;

// A visited key goes to the back (served, or found at its bound: the keys behind it get their
// turn); a key with no queued task left stops being read until the trigger marks it waiting again.
// The key's rate window is written back (unchanged without a per-key rate limit).
export const visitedKeySql = `
UPDATE concurrency_keys
SET turn = :now,
    rate_window_start = :rateWindowStart,
    rate_used = :rateUsed,
    waiting = EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_key_claim WHERE state = 'queued' AND name = :name AND concurrency_key = :key)
WHERE name = :name AND key = :key`;

export const setLimitSql = `
INSERT INTO concurrency_limits (name, max_running, updated_at) VALUES (:name, :maxRunning, :now)
ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running, updated_at = excluded.updated_at`;

export const clearLimitSql = `DELETE FROM concurrency_limits WHERE name = ? RETURNING name, max_running, updated_at`;

export const listLimitsSql = `SELECT name, max_running, updated_at FROM concurrency_limits ORDER BY name`;
