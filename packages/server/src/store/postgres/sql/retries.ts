// The due rows are locked once, then updated by primary key, with no state test (see claim.ts). $1 now.
export const promoteDueRetriesSql = `
UPDATE tasks t SET state = 'queued', next_attempt_at = NULL
WHERE t.seq = ANY(ARRAY(
  SELECT seq FROM tasks WHERE state = 'retrying' AND next_attempt_at <= $1
  ORDER BY next_attempt_at
  FOR UPDATE SKIP LOCKED
))
RETURNING t.name`;

export const nextRetryAtSql = `SELECT min(next_attempt_at) AS due FROM tasks WHERE state = 'retrying'`;
