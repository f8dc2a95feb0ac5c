export const insertEventSql = `
INSERT INTO task_events (task_id, sequence, state, attempt, percent, message, timestamp, worker_id, result, error, next_attempt_at)
VALUES (:taskId, :sequence, :state, :attempt, :percent, :message, :timestamp, :workerId, :result, :error, :nextAttemptAt)`;

export const listEventsSql = `
SELECT task_id, sequence, state, attempt, percent, message, timestamp, worker_id, result, error, next_attempt_at
FROM task_events
WHERE task_id = ? AND sequence > ?
ORDER BY sequence`;
