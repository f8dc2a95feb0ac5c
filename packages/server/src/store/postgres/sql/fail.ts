// Locks the current attempt's row, so the retry decision and the write see one version of it.
// $1 task, $2 attempt.
export const currentAttemptSql = `
SELECT attempt, max_retries, retry_backoff_ms, worker_id, percent, name, concurrency_key, deferred_attempts
FROM tasks
WHERE id = $1 AND attempt = $2 AND state = 'running'
FOR UPDATE`;

// $1 task, $2 attempt, $3 error, $4 next attempt at.
export const retryLaterSql = `
UPDATE tasks
SET state = 'retrying',
    error = $3,
    next_attempt_at = $4,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1
WHERE id = $1 AND attempt = $2 AND state = 'running'
RETURNING last_sequence`;

// $1 task, $2 attempt, $3 error, $4 now.
export const failFinallySql = `
UPDATE tasks
SET state = 'failed',
    error = $3,
    finished_at = $4,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1
WHERE id = $1 AND attempt = $2 AND state = 'running'
RETURNING last_sequence`;
