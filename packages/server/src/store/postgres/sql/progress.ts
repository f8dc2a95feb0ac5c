// Fenced by attempt and state. $1 task, $2 attempt, $3 percent, $4 message.
export const progressSql = `
UPDATE tasks
SET percent = $3,
    message = $4,
    last_sequence = last_sequence + 1
WHERE id = $1 AND attempt = $2 AND state = 'running'
RETURNING last_sequence, worker_id`;
