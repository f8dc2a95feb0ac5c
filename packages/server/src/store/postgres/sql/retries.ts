// The due rows are locked once, then updated by primary key, with no state test (see claim.ts). $1 now.
export const promoteDueRetriesSql = `
UPDATE tasks t SET state = 'queued', next_attempt_at = NULL
WHERE t.seq = ANY(ARRAY(
  SELECT seq FROM tasks WHERE state = 'retrying' AND next_attempt_at <= $1
  ORDER BY next_attempt_at
  FOR UPDATE SKIP LOCKED
))
RETURNING t.name`;

// Due scheduled tasks, earliest first, at most $2 (see promoteBatch); each records a queued event.
// Locked with SKIP LOCKED, so Schedulers promoting at once each move different tasks. $1 now.
export const promoteDueScheduledSql = `
UPDATE tasks t SET state = 'queued', next_attempt_at = NULL, last_sequence = t.last_sequence + 1
WHERE t.seq = ANY(ARRAY(
  SELECT seq FROM tasks WHERE state = 'scheduled' AND next_attempt_at <= $1
  ORDER BY next_attempt_at, seq
  LIMIT $2
  FOR UPDATE SKIP LOCKED
))
RETURNING t.seq, t.id, t.name, t.last_sequence`;

// Each min() reads its partial index's first entry; least() ignores NULLs.
export const nextDueAtSql = `
SELECT least((SELECT min(next_attempt_at) FROM tasks WHERE state = 'retrying'),
             (SELECT min(next_attempt_at) FROM tasks WHERE state = 'scheduled')) AS due`;
