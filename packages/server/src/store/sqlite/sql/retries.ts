export const promoteDueRetriesSql = `
UPDATE tasks SET state = 'queued', next_attempt_at = NULL
WHERE state = 'retrying' AND next_attempt_at <= :now
RETURNING name`;

export const nextRetryAtSql = `
SELECT min(next_attempt_at) AS due FROM tasks WHERE state = 'retrying'`;
