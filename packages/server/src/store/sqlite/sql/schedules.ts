const scheduleColumns = `id, key, cron, time_zone, task_name, description, payload, timeout_ms, max_retries, retry_backoff_ms,
  priority, overlap, catch_up, paused, next_fire_at, last_tick_ms, last_task_id, created_at, updated_at`;

export const insertScheduleSql = `
INSERT INTO schedules (${scheduleColumns})
VALUES (:id, :key, :cron, :timeZone, :taskName, :description, :payload, :timeoutMs, :maxRetries, :retryBackoffMs,
  :priority, :overlap, :catchUp, :paused, :nextFireAt, :lastTickMs, :lastTaskId, :createdAt, :updatedAt)`;

export const getScheduleSql = `SELECT ${scheduleColumns} FROM schedules WHERE id = :idOrKey OR key = :idOrKey`;

export const listSchedulesSql = `SELECT ${scheduleColumns} FROM schedules ORDER BY seq LIMIT :limit`;

export const updateScheduleSql = `
UPDATE schedules SET cron = :cron, time_zone = :timeZone, task_name = :taskName, description = :description, payload = :payload,
  timeout_ms = :timeoutMs, max_retries = :maxRetries, retry_backoff_ms = :retryBackoffMs, priority = :priority,
  overlap = :overlap, catch_up = :catchUp, paused = :paused, next_fire_at = :nextFireAt, updated_at = :updatedAt
WHERE id = :id
RETURNING ${scheduleColumns}`;

export const deleteScheduleSql = `DELETE FROM schedules WHERE id = :id`;

export const dueSchedulesSql = `
SELECT ${scheduleColumns} FROM schedules WHERE next_fire_at IS NOT NULL AND next_fire_at <= :now ORDER BY next_fire_at LIMIT :limit`;

export const nextScheduleFireAtSql = `SELECT min(next_fire_at) AS next FROM schedules WHERE next_fire_at IS NOT NULL`;

// The firing's compare-and-set: moves next_fire_at only from the value the firer read.
export const moveNextFireSql = `
UPDATE schedules SET next_fire_at = :nextFireAt, last_tick_ms = :lastTickMs, last_task_id = coalesce(:lastTaskId, last_task_id), updated_at = :now
WHERE id = :scheduleId AND next_fire_at = :expectedNextFireAt`;
