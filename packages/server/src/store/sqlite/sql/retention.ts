// Oldest finished first, through tasks_finished; only terminal states have finished_at.
export const finishedTasksSql = `
SELECT id FROM tasks
WHERE finished_at IS NOT NULL AND finished_at <= :before AND state IN ('succeeded', 'failed', 'cancelled')
ORDER BY finished_at
LIMIT :limit`;

export const deleteTaskEventsSql = `DELETE FROM task_events WHERE task_id = ?`;
export const deleteTaskKeysSql = `DELETE FROM idempotency_keys WHERE task_id = ?`;
export const deleteTaskSql = `DELETE FROM tasks WHERE id = ?`;

// Keys with no queued task, last visited at or before :before (the row only remembers the key's turn
// and its last own bound; a later task of the key makes a new one).
export const deleteIdleKeysSql = `
DELETE FROM concurrency_keys WHERE (name, key) IN (
  SELECT name, key FROM concurrency_keys INDEXED BY concurrency_keys_idle WHERE waiting = 0 AND turn <= :before ORDER BY turn LIMIT :limit
)`;
