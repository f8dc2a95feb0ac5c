// Up to $2 tasks finished at or before $1, oldest first (through tasks_finished), deleted with
// their events and idempotency keys in one statement. SKIP LOCKED: a row being written is left
// for the next batch.
export const deleteFinishedSql = `
WITH doomed AS MATERIALIZED (
  SELECT seq, id FROM tasks
  WHERE finished_at IS NOT NULL AND finished_at <= $1 AND state IN ('succeeded', 'failed', 'cancelled')
  ORDER BY finished_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), events AS (
  DELETE FROM task_events e USING doomed d WHERE e.task_id = d.id
), keys AS (
  DELETE FROM idempotency_keys k USING doomed d WHERE k.task_id = d.id
), gone AS (
  DELETE FROM tasks t USING doomed d WHERE t.seq = d.seq RETURNING 1
)
SELECT count(*) AS deleted FROM gone`;

export const analyzeSql = `ANALYZE tasks, task_events, idempotency_keys`;
