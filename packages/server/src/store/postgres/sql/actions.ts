import { selectionConditions } from "./selection.js";

// One batch of a bulk operator action: the selection's tasks ($1-$6, selectionValues) after $7 up
// to $9 in store order (seq), at most $8, locked, with what the action needs of each. The caller narrows the
// selection's states to those the action applies to, so a task the action changed is not selected
// by the next batch. FOR UPDATE (not SKIP LOCKED): a task being written is waited for, not skipped,
// since the next batch starts after it.
export const actionBatchSql = `
SELECT seq, id, state, name, worker_id, concurrency_key FROM tasks
WHERE ${selectionConditions(1)} AND seq > $7 AND seq <= $9
ORDER BY seq
LIMIT $8
FOR UPDATE`;

// The end of the store order: a batch that found fewer than its limit goes on past its span only
// while tasks lie beyond it.
export const lastSeqSql = `SELECT max(seq) AS last FROM tasks`;

// A bulk delete's batch, with the tasks' events and idempotency keys, as retention deletes them
// (retention.ts): $1-$6 the selection (narrowed to finished states), $7 after, $8 limit, $9 up to.
export const deleteBatchSql = `
WITH doomed AS MATERIALIZED (
  SELECT seq, id FROM tasks
  WHERE ${selectionConditions(1)} AND seq > $7 AND seq <= $9
  ORDER BY seq
  LIMIT $8
  FOR UPDATE
), events AS (
  DELETE FROM task_events WHERE task_id = ANY(ARRAY(SELECT id FROM doomed))
), keys AS (
  DELETE FROM idempotency_keys WHERE task_id = ANY(ARRAY(SELECT id FROM doomed))
), gone AS (
  DELETE FROM tasks WHERE seq = ANY(ARRAY(SELECT seq FROM doomed)) RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS deleted, (SELECT count(*) FROM doomed) AS matched, (SELECT max(seq) FROM doomed) AS found,
  (SELECT max(seq) FROM tasks) AS last`;
