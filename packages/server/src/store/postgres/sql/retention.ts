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
  DELETE FROM task_events WHERE task_id = ANY(ARRAY(SELECT id FROM doomed))
), keys AS (
  DELETE FROM idempotency_keys WHERE task_id = ANY(ARRAY(SELECT id FROM doomed))
), gone AS (
  DELETE FROM tasks WHERE seq = ANY(ARRAY(SELECT seq FROM doomed)) RETURNING 1
)
SELECT count(*) AS deleted FROM gone`;

// $1 before, $2 limit. Keys with no queued task, last visited at or before $1 (the row only
// remembers the key's turn and its last own bound; a later task of the key makes a new one). SKIP
// LOCKED: a key a claim is serving is left for the next batch.
export const deleteIdleKeysSql = `
DELETE FROM concurrency_keys k USING (
  SELECT name, key FROM concurrency_keys WHERE NOT waiting AND turn <= $1 ORDER BY turn LIMIT $2 FOR UPDATE SKIP LOCKED
) idle
WHERE k.name = idle.name AND k.key = idle.key`;

export const analyzeSql = `ANALYZE tasks, task_events, idempotency_keys, concurrency_keys`;
