export const currentAttemptSql = `
SELECT attempt, max_retries, retry_backoff_ms, worker_id, percent, deferred_attempts, name, concurrency_key
FROM tasks
WHERE id = :taskId AND attempt = :attempt AND state = 'running'`;

export const retryLaterSql = `
UPDATE tasks
SET state = 'retrying',
    error = :error,
    next_attempt_at = :nextAttemptAt,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1
WHERE id = :taskId AND attempt = :attempt AND state = 'running'
RETURNING last_sequence`;

export const failFinallySql = `
UPDATE tasks
SET state = 'failed',
    error = :error,
    finished_at = :now,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1
WHERE id = :taskId AND attempt = :attempt AND state = 'running'
RETURNING last_sequence`;
