// Oldest finished first, through tasks_finished; only terminal states have finished_at.
export const finishedTasksSql = `
SELECT id FROM tasks
WHERE finished_at IS NOT NULL AND finished_at <= :before AND state IN ('succeeded', 'failed', 'cancelled')
ORDER BY finished_at
LIMIT :limit`;

export const deleteTaskEventsSql = `DELETE FROM task_events WHERE task_id = ?`;
export const deleteTaskKeysSql = `DELETE FROM idempotency_keys WHERE task_id = ?`;
export const deleteTaskSql = `DELETE FROM tasks WHERE id = ?`;
