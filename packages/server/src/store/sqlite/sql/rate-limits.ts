// Rate limits per task name (see migrations/010). A claim of a name reads its gate first; when a
// limit applies, the claim takes no more than the window's remaining starts and then counts them.

export const rateGateSql = `SELECT max_starts, per_ms, per_key, window_start, used, throttled_until FROM rate_limits WHERE name = ?`;

// The names whose claims read their gate, and until when (see SqliteStore.gatedUntil).
export const gatedNamesSql = `SELECT name, max_starts, throttled_until FROM rate_limits`;

// The window the claim counted in, and the starts counted in it (the claim's own included).
export const countStartsSql = `UPDATE rate_limits SET window_start = :windowStart, used = :used WHERE name = :name`;

export const setRateLimitSql = `
INSERT INTO rate_limits (name, max_starts, per_ms, per_key, updated_at) VALUES (:name, :maxStarts, :perMs, :perKey, :now)
ON CONFLICT (name) DO UPDATE
SET max_starts = excluded.max_starts, per_ms = excluded.per_ms, per_key = excluded.per_key, updated_at = excluded.updated_at`;

// The row stays (without a limit): it may still hold a throttle.
export const clearRateLimitSql = `UPDATE rate_limits SET max_starts = NULL, per_ms = NULL, used = 0 WHERE name = ?`;

export const rateLimitSql = `SELECT name, max_starts, per_ms, per_key, updated_at FROM rate_limits WHERE name = ? AND max_starts IS NOT NULL`;

export const listRateLimitsSql = `SELECT name, max_starts, per_ms, per_key, updated_at FROM rate_limits WHERE max_starts IS NOT NULL ORDER BY name`;

// Holds every start of the name back until :until (a later throttle wins).
export const throttleNameSql = `
INSERT INTO rate_limits (name, throttled_until, updated_at) VALUES (:name, :until, :now)
ON CONFLICT (name) DO UPDATE SET throttled_until = max(coalesce(throttled_until, 0), excluded.throttled_until)`;

// Fenced like a failure; the attempt is counted as deferred, so it does not use up max_retries.
export const deferAttemptSql = `
UPDATE tasks
SET state = 'retrying',
    error = NULL,
    next_attempt_at = :nextAttemptAt,
    lease_expires_at = NULL,
    deadline_at = NULL,
    deferred_attempts = deferred_attempts + 1,
    last_sequence = last_sequence + 1
WHERE id = :taskId AND attempt = :attempt AND state = 'running'
RETURNING last_sequence, name, worker_id, percent, concurrency_key`;
