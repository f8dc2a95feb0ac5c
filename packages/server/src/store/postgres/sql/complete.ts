// Fenced: only the current attempt of a running task may complete it. $1 task, $2 attempt, $3 result, $4 now.
export const completeSql = `
UPDATE tasks
SET state = 'succeeded',
    result = $3,
    error = NULL,
    percent = 100,
    finished_at = $4,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1
WHERE id = $1 AND attempt = $2 AND state = 'running'
RETURNING last_sequence, worker_id`;
