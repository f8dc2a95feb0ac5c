import { storeEventsFrom } from "./events.js";

// Fenced: only the current attempt of a running task may complete it. One statement for the
// completions of a batch: $1 task ids, $2 attempts, $3 results, $4 times (the caller passes each
// attempt once). The id = ANY test lets the planner find the rows through the id index even with
// no statistics yet (a fresh table), where it would otherwise hash-join the whole table.
const completeUpdate = `
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
WHERE t.id = ANY($1::text[]) AND t.id = u.id AND t.attempt = u.attempt AND t.state = 'running'`;

const completedColumns = "t.id, t.attempt, t.last_sequence, t.worker_id, t.name, t.concurrency_key";

export const completeSql = `${completeUpdate}
RETURNING ${completedColumns}`;

// The same in one trip (see GroupCommit): the statement stores the completions' events, and when
// an attempt of a keyed task ended, sends the hint that its key's waiting tasks may start (on any
// Scheduler), its names as encodeHint writes them or "any name" when they do not fit.
// $5 channel, $6 this store's hint sender id, $7 the largest payload.
export const completeInOneTripSql = `
WITH done AS (
  ${completeUpdate}
  RETURNING ${completedColumns}, u.result, u.finished_at
), ${storeEventsFrom("SELECT id, last_sequence, 'succeeded', attempt, 100, 'succeeded', finished_at, worker_id, result, NULL, NULL FROM done")},
freed AS (
  SELECT pg_notify($5, CASE WHEN octet_length(names) <= $7 THEN names ELSE json_build_object('from', $6::text, 'work', NULL)::text END)
  FROM (
    SELECT json_build_object('from', $6::text, 'work', array_agg(DISTINCT name))::text AS names
    FROM done WHERE concurrency_key IS NOT NULL HAVING count(*) > 0
  ) hint
)
SELECT id, attempt, last_sequence, worker_id, name, concurrency_key, (SELECT count(*) FROM freed) AS hinted FROM done`;
