const scheduleColumns = `id, key, cron, time_zone, task_name, description, payload, timeout_ms, max_retries, retry_backoff_ms,
  priority, overlap, catch_up, paused, next_fire_at, last_tick_ms, last_task_id, created_at, updated_at`;

/** The parameter order of insertScheduleSql ($1..$19), names as scheduleParams gives them. */
export const scheduleParamOrder = [
  "id", "key", "cron", "timeZone", "taskName", "description", "payload", "timeoutMs", "maxRetries", "retryBackoffMs",
  "priority", "overlap", "catchUp", "paused", "nextFireAt", "lastTickMs", "lastTaskId", "createdAt", "updatedAt",
] as const;

// A taken key inserts nothing and returns no row; the caller then reads the holder (in the same
// transaction: a concurrent insert of the key waits for the first to commit, then conflicts).
export const insertScheduleSql = `
INSERT INTO schedules (${scheduleColumns})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::int::boolean, $15, $16, $17, $18, $19)
ON CONFLICT (key) DO NOTHING
RETURNING id`;

export const getScheduleSql = `SELECT ${scheduleColumns} FROM schedules WHERE id = $1 OR key = $1 ORDER BY (id = $1) DESC LIMIT 1`;

export const scheduleByKeySql = `SELECT ${scheduleColumns} FROM schedules WHERE key = $1`;

export const listSchedulesSql = `SELECT ${scheduleColumns} FROM schedules ORDER BY seq LIMIT $1`;

/** The parameter order of updateScheduleSql. */
export const updateParamOrder = [
  "id", "cron", "timeZone", "taskName", "description", "payload", "timeoutMs", "maxRetries", "retryBackoffMs",
  "priority", "overlap", "catchUp", "paused", "nextFireAt", "updatedAt",
] as const;

export const updateScheduleSql = `
UPDATE schedules SET cron = $2, time_zone = $3, task_name = $4, description = $5, payload = $6, timeout_ms = $7,
  max_retries = $8, retry_backoff_ms = $9, priority = $10, overlap = $11, catch_up = $12, paused = $13::int::boolean,
  next_fire_at = $14, updated_at = $15
WHERE id = $1
RETURNING ${scheduleColumns}`;

export const deleteScheduleSql = `DELETE FROM schedules WHERE id = $1`;

export const dueSchedulesSql = `
SELECT ${scheduleColumns} FROM schedules WHERE next_fire_at IS NOT NULL AND next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2`;

export const nextScheduleFireAtSql = `SELECT min(next_fire_at) AS next FROM schedules WHERE next_fire_at IS NOT NULL`;

// The firing's compare-and-set: $1 id, $2 the next_fire_at the firer read, $3 the new one, $4 last
// tick, $5 last task id (null: keep), $6 now. A concurrent firer waits on the row lock, then
// finds next_fire_at moved and updates nothing.
export const moveNextFireSql = `
UPDATE schedules SET next_fire_at = $3, last_tick_ms = $4, last_task_id = coalesce($5, last_task_id), updated_at = $6
WHERE id = $1 AND next_fire_at = $2`;
