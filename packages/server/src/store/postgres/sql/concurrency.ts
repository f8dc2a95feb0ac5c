import { startAttemptSet, startedColumns } from "./claim.js";

// Concurrency keys (see migrations/005 and the SQLite store's concurrency.ts for the model). A
// keyed claim pass is three statements in the claim's transaction: lock the keys to visit, claim
// each key's share, move the visited keys to the back.

// $1 name, $2 how many keys. The least recently visited keys that may have queued tasks, locked
// with SKIP LOCKED: a key another Scheduler is serving is left to it, and the statements after
// this one (each with a fresh snapshot) count running attempts no other claim can change meanwhile.
export const lockWaitingKeysSql = `
SELECT k.key, coalesce(k.request_limit, l.max_running) AS max_running, k.rate_window_start, k.rate_used
FROM concurrency_keys k
LEFT JOIN concurrency_limits l ON l.name = k.name
WHERE k.name = $1 AND k.waiting
  AND NOT EXISTS (SELECT 1 FROM paused_names WHERE name = $1)
ORDER BY k.turn, k.key
LIMIT $2
FOR UPDATE OF k SKIP LOCKED`;

// $1 worker, $2 name, $3 keys, $4 now, $5 lease expiry, $6 deadline grace, $7 each key's bound
// (null: none), $8 each key's share of this pass. A key gets at most its share and its room (bound
// minus running attempts, read from tasks_key_running), highest priority then oldest first. The
// picks run once, as an array (see claim.ts).
export const claimOfKeysSql = `
UPDATE tasks t${startAttemptSet}
WHERE t.seq = ANY(ARRAY(
  SELECT q.seq
  FROM unnest($3::text[], $7::int[], $8::int[]) AS u(key, max_running, share)
  CROSS JOIN LATERAL (
    SELECT seq FROM tasks
    WHERE state = 'queued' AND name = $2 AND concurrency_key = u.key
    ORDER BY priority DESC, seq
    LIMIT greatest(0, least(u.share, coalesce(u.max_running - (
      SELECT count(*) FROM tasks r WHERE r.state = 'running' AND r.name = $2 AND r.concurrency_key = u.key
    ), u.share)))
    FOR UPDATE SKIP LOCKED
  ) q
))
RETURNING ${startedColumns}, t.concurrency_key`;

// $1 name, $2 keys, $3 now, $4 each key's rate window start, $5 the starts counted in it. Visited
// keys go to the back (served, or found at their bound: the keys behind them get their turn); a key
// with no queued task left stops being read until the trigger marks it waiting again. This
// statement sees this transaction's claims.
export const visitedKeysSql = `
UPDATE concurrency_keys k
SET turn = $3,
    rate_window_start = u.rate_window_start,
    rate_used = u.rate_used,
    waiting = EXISTS (SELECT 1 FROM tasks WHERE state = 'queued' AND name = $1 AND concurrency_key = k.key)
FROM unnest($2::text[], $4::bigint[], $5::int[]) AS u(key, rate_window_start, rate_used)
WHERE k.name = $1 AND k.key = u.key`;

// $1 name, $2 max running, $3 now.
export const setLimitSql = `
INSERT INTO concurrency_limits (name, max_running, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running, updated_at = excluded.updated_at
RETURNING name, max_running, updated_at`;

export const clearLimitSql = `DELETE FROM concurrency_limits WHERE name = $1 RETURNING name, max_running, updated_at`;

export const listLimitsSql = `SELECT name, max_running, updated_at FROM concurrency_limits ORDER BY name`;
