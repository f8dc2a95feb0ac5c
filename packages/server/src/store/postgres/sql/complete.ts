// Fenced: only the current attempt of a running task may complete it. One statement for the
// completions of a batch: $1 task ids, $2 attempts, $3 results, $4 times (the caller passes each
// attempt once). The id = ANY test lets the planner find the rows through the id index even with
// no statistics yet (a fresh table), where it would otherwise hash-join the whole table.
export const completeSql = `
UPDATE tasks t
SET state = 'succeeded',
    result = u.result,
    error = NULL,
    percent = 100,
    finished_at = u.finished_at,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = t.last_sequence + 1
FROM unnest($1::text[], $2::int[], $3::bytea[], $4::bigint[]) AS u(id, attempt, result, finished_at)
WHERE t.id = ANY($1::text[]) AND t.id = u.id AND t.attempt = u.attempt AND t.state = 'running'
RETURNING t.id, t.attempt, t.last_sequence, t.worker_id, t.name, t.concurrency_key`;
