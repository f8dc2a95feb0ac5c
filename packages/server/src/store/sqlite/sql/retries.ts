export const promoteDueRetriesSql = `
UPDATE tasks SET state = 'queued', next_attempt_at = NULL
WHERE state = 'retrying' AND next_attempt_at <= :now
RETURNING name`;

// Earliest due first, at most :limit (see promoteBatch); each promoted task records a queued event.
export const promoteDueScheduledSql = `
UPDATE tasks SET state = 'queued', next_attempt_at = NULL, last_sequence = last_sequence + 1
WHERE seq IN (
  SELECT seq FROM tasks WHERE state = 'scheduled' AND next_attempt_at <= :now
  ORDER BY next_attempt_at, seq
  LIMIT :limit
)
RETURNING seq, id, name, last_sequence`;

// Each min() reads its partial index's first entry (an IN list would match neither index).
export const nextDueAtSql = `
SELECT (SELECT min(next_attempt_at) FROM tasks WHERE state = 'retrying') AS retry,
       (SELECT min(next_attempt_at) FROM tasks WHERE state = 'scheduled') AS scheduled`;
