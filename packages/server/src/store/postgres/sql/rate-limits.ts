// Rate limits per task name (see migrations/006 and the SQLite store's rate-limits.ts). A claim
// of a name starts with its gate: the name's rate limit row, locked for the rest of the claim's
// transaction (a Scheduler claiming the same limited name waits for this one, so the window's last
// starts are spent once), and whether the name has keys waiting, in one round trip.

// $1 name.
export const nameGateSql = `
SELECT r.max_starts, r.per_ms, r.per_key, r.window_start, r.used, r.throttled_until,
  EXISTS (SELECT 1 FROM concurrency_keys WHERE name = $1 AND waiting) AS has_keys
FROM (VALUES (1)) AS one
LEFT JOIN LATERAL (SELECT * FROM rate_limits WHERE name = $1 FOR UPDATE) AS r ON true`;

// $1 name, $2 window start, $3 starts counted in it (the claim's own included).
export const countStartsSql = `UPDATE rate_limits SET window_start = $2, used = $3 WHERE name = $1`;

// $1 name, $2 max starts, $3 window (ms), $4 now, $5 per key.
export const setRateLimitSql = `
INSERT INTO rate_limits (name, max_starts, per_ms, per_key, updated_at) VALUES ($1, $2, $3, $5, $4)
ON CONFLICT (name) DO UPDATE
SET max_starts = excluded.max_starts, per_ms = excluded.per_ms, per_key = excluded.per_key, updated_at = excluded.updated_at
RETURNING name, max_starts, per_ms, per_key, updated_at`;

// The row stays (without a limit): it may still hold a throttle. Returns the limit it removed.
export const clearRateLimitSql = `
UPDATE rate_limits r SET max_starts = NULL, per_ms = NULL, used = 0
FROM (SELECT name, max_starts, per_ms, per_key FROM rate_limits WHERE name = $1 AND max_starts IS NOT NULL FOR UPDATE) AS old
WHERE r.name = old.name
RETURNING r.name, old.max_starts, old.per_ms, old.per_key, r.updated_at`;

export const listRateLimitsSql = `SELECT name, max_starts, per_ms, per_key, updated_at FROM rate_limits WHERE max_starts IS NOT NULL ORDER BY name`;

// $1 name, $2 until, $3 now. Holds every start of the name back until $2 (a later throttle wins).
export const throttleNameSql = `
INSERT INTO rate_limits (name, throttled_until, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET throttled_until = greatest(rate_limits.throttled_until, excluded.throttled_until)`;

// $1 task, $2 attempt, $3 next attempt at. Fenced like a failure; the attempt is counted as
// deferred, so it does not use up max_retries.
export const deferAttemptSql = `
UPDATE tasks
SET state = 'retrying',
    error = NULL,
    next_attempt_at = $3,
    lease_expires_at = NULL,
    deadline_at = NULL,
    deferred_attempts = deferred_attempts + 1,
    last_sequence = last_sequence + 1
WHERE id = $1 AND attempt = $2 AND state = 'running'
RETURNING last_sequence, name, worker_id, percent, concurrency_key`;
