export const progressSql = `
UPDATE tasks
SET percent = :percent,
    message = :message,
    last_sequence = last_sequence + 1
WHERE id = :taskId AND attempt = :attempt AND state = 'running'
RETURNING last_sequence, worker_id`;
