export const cancelSql = `
UPDATE tasks
SET state = 'cancelled',
    error = :reason,
    finished_at = :now,
    next_attempt_at = NULL,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1
WHERE id = :taskId AND state IN ('scheduled', 'queued', 'running', 'retrying')
RETURNING last_sequence, attempt, percent`;
