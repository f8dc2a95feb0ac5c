// $1 now.
export const promoteDueRetriesSql = `
WITH due AS MATERIALIZED (
  SELECT seq FROM tasks WHERE state = 'retrying' AND next_attempt_at <= $1
  ORDER BY next_attempt_at
  FOR UPDATE SKIP LOCKED
)
UPDATE tasks t SET state = 'queued', next_attempt_at = NULL
FROM due
WHERE t.seq = due.seq AND t.state = 'retrying'
RETURNING t.name`;

export const nextRetryAtSql = `SELECT min(next_attempt_at) AS due FROM tasks WHERE state = 'retrying'`;
