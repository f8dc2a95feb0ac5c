export const enqueueSql = `
INSERT INTO tasks (id, name, description, payload, state, max_retries, timeout_ms, retry_backoff_ms, created_at, last_sequence, priority, run_at, next_attempt_at, schedule_id, schedule_tick_ms, concurrency_key, concurrency_limit,
  trace_context)
VALUES (:id, :name, :description, :payload, :state, :maxRetries, :timeoutMs, :retryBackoffMs, :now, 1, :priority, :runAt, :nextAttemptAt, :scheduleId, :scheduleTickMs,
  :concurrencyKey, :concurrencyLimit, :traceContext)`;

export const findKeySql = `
SELECT k.fingerprint, e.task_id, e.sequence, e.state, e.attempt, e.percent, e.message, e.timestamp, e.worker_id, e.result, e.error, e.next_attempt_at
FROM idempotency_keys k JOIN task_events e ON e.task_id = k.task_id AND e.sequence = 1
WHERE k.key = :key AND k.created_at > :oldest`;

export const storeKeySql = `
INSERT OR REPLACE INTO idempotency_keys (key, task_id, created_at, fingerprint) VALUES (:key, :taskId, :now, :fingerprint)`;

export const forgetKeysSql = `DELETE FROM idempotency_keys WHERE created_at <= :before`;

export const countWaitingSql = `
SELECT (SELECT count(*) FROM tasks WHERE state = 'queued' AND concurrency_key IS NULL)
  + (SELECT count(*) FROM tasks WHERE state = 'queued' AND concurrency_key IS NOT NULL) + (SELECT count(*) FROM tasks WHERE state = 'retrying')
  + (SELECT count(*) FROM tasks WHERE state = 'scheduled') AS waiting`;

/**
 * Waiting tasks by name and state for the metrics scrape: a grouped count per state, each read
 * through an index that starts with the state (tasks_by_state_name), never the whole table.
 */
export const countWaitingByNameSql = `
SELECT name, state, count(*) AS tasks FROM tasks WHERE state = 'queued' GROUP BY state, name
UNION ALL SELECT name, state, count(*) FROM tasks WHERE state = 'retrying' GROUP BY state, name
UNION ALL SELECT name, state, count(*) FROM tasks WHERE state = 'scheduled' GROUP BY state, name`;
