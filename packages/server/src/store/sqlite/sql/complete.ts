// Fenced: only the current attempt of a running task may complete it.
export const completeSql = `
UPDATE tasks
SET state = 'succeeded',
    result = :result,
    error = NULL,
    percent = 100,
    finished_at = :now,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1
WHERE id = :taskId AND attempt = :attempt AND state = 'running'
RETURNING last_sequence, worker_id, name, concurrency_key`;
