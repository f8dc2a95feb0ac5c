// A failed or cancelled task back to queued for a new attempt series. The attempt number is kept
// (the next claim takes attempt + 1, so a fencing token is never reused); deferred_attempts, the
// attempts that do not use up max_retries, becomes every attempt so far, so the series has its
// whole budget. What the last series left (error, worker, progress, finish time) is cleared from
// the task; its events keep it. The trigger of 009 marks a keyed task's key as waiting.
export const retrySql = `
UPDATE tasks
SET state = 'queued',
    error = NULL,
    result = NULL,
    worker_id = NULL,
    percent = 0,
    message = '',
    finished_at = NULL,
    next_attempt_at = NULL,
    lease_expires_at = NULL,
    deadline_at = NULL,
    deferred_attempts = attempt,
    last_sequence = last_sequence + 1
WHERE id = :taskId AND state IN ('failed', 'cancelled')
RETURNING last_sequence, attempt, name`;

// Why a retry changed nothing: the task's state, or no row.
export const taskStateSql = `SELECT state, name FROM tasks WHERE id = ?`;
