// Retrying tasks whose backoff ran out, and scheduled tasks that are due (earliest first, at most
// $2: see promoteBatch), back to queued in one statement. The due rows are locked once with SKIP
// LOCKED, then updated by primary key with no state test (see claim.ts): Schedulers promoting at
// once each move different tasks, and none is moved twice. A promoted scheduled task gets the next
// sequence number, for the queued event the store records. $1 now.
export const promoteDueSql = `
WITH retried AS (
  UPDATE tasks t SET state = 'queued', next_attempt_at = NULL
  WHERE t.seq = ANY(ARRAY(
    SELECT seq FROM tasks WHERE state = 'retrying' AND next_attempt_at <= $1
    ORDER BY next_attempt_at
    FOR UPDATE SKIP LOCKED
  ))
  RETURNING t.seq, t.id, t.name, t.last_sequence, false AS scheduled
), due AS (
  UPDATE tasks t SET state = 'queued', next_attempt_at = NULL, last_sequence = t.last_sequence + 1
  WHERE t.seq = ANY(ARRAY(
    SELECT seq FROM tasks WHERE state = 'scheduled' AND next_attempt_at <= $1
    ORDER BY next_attempt_at, seq
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ))
  RETURNING t.seq, t.id, t.name, t.last_sequence, true AS scheduled
)
SELECT * FROM retried UNION ALL SELECT * FROM due`;

// Each min() reads its partial index's first entry; least() ignores NULLs.
export const nextDueAtSql = `
SELECT least((SELECT min(next_attempt_at) FROM tasks WHERE state = 'retrying'),
             (SELECT min(next_attempt_at) FROM tasks WHERE state = 'scheduled')) AS due`;
