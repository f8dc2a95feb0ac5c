// $1 task. A failed or cancelled task back to queued for a new attempt series. The attempt number
// is kept (the next claim takes attempt + 1, so a fencing token is never reused); deferred_attempts,
// the attempts that do not use up max_retries, becomes every attempt so far, so the series has its
// whole budget. What the last series left (error, worker, progress, finish time) is cleared from
// the task; its events keep it. The trigger of 005 marks a keyed task's key as waiting.
const retrySet = `
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
    last_sequence = last_sequence + 1`;

export const retrySql = `
UPDATE tasks
${retrySet}
WHERE id = $1 AND state IN ('failed', 'cancelled')
RETURNING last_sequence, attempt, name`;

// $1 seqs (locked by actionBatchSql). retrySql for each of a bulk retry's batch.
export const retryManySql = `
UPDATE tasks
${retrySet}
WHERE seq = ANY($1::bigint[]) AND state IN ('failed', 'cancelled')
RETURNING id, last_sequence, attempt, name`;
