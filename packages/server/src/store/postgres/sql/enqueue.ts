import { storeEventsFrom } from "./events.js";

const enqueueInput = `
unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[], $9::int[], $10::bigint[], $11::text[],
    $12::text[], $13::bigint[], $14::text[], $15::int[], $16::text[])
  WITH ORDINALITY AS u(id, name, description, payload, max_retries, timeout_ms, retry_backoff_ms, created_at, priority, run_at, state,
    schedule_id, schedule_tick_ms, concurrency_key, concurrency_limit, trace_context, position)`;

const insertTasksFrom = (source: string): string => `
INSERT INTO tasks (id, name, description, payload, state, max_retries, timeout_ms, retry_backoff_ms, created_at, last_sequence,
  priority, run_at, next_attempt_at, schedule_id, schedule_tick_ms, concurrency_key, concurrency_limit, trace_context)
SELECT id, name, description, payload, state, max_retries, timeout_ms, retry_backoff_ms, created_at, 1,
  priority, run_at, CASE WHEN state = 'scheduled' THEN run_at END, schedule_id, schedule_tick_ms, concurrency_key, concurrency_limit, trace_context
FROM ${source}
ORDER BY position`;

// $1..$16: arrays in input order (id, name, description, payload, max_retries, timeout_ms,
// retry_backoff_ms, created_at, priority, run_at, state, schedule_id, schedule_tick_ms, concurrency_key, concurrency_limit,
// trace_context). $16 is NULL when no task has a trace context: unnest pads a NULL array with NULLs,
// so an untraced batch sends no array of NULLs. One statement for many tasks (of one or
// several enqueue calls); identity values follow the ordinality, so seq keeps the input order. A
// scheduled task waits for its run_at in next_attempt_at.
export const enqueueSql = insertTasksFrom(enqueueInput);

// The same in one trip (see GroupCommit): the statement also stores each task's first event
// (firstEvent: the state is its message, the creation its time).
export const enqueueInOneTripSql = `
WITH u AS MATERIALIZED (SELECT * FROM ${enqueueInput}),
inserted AS (${insertTasksFrom("u")}),
${storeEventsFrom("SELECT id, 1, state, 0, 0, state, created_at, NULL, NULL, NULL, CASE WHEN state = 'scheduled' THEN run_at END FROM u ORDER BY position")}
SELECT count(*) AS tasks FROM u`;

// $1 keys, $2 task ids, $3 fingerprints, $4 now, $5 oldest live creation time. A key is taken when
// it is new or its holder's retention ran out; a live key is left alone and not returned. Two
// stores inserting one key concurrently: the second waits for the first to commit, then finds it live.
export const claimKeysSql = `
INSERT INTO idempotency_keys (key, task_id, created_at, fingerprint)
SELECT key, task_id, $4, fingerprint FROM unnest($1::text[], $2::text[], $3::text[]) AS u(key, task_id, fingerprint)
ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, created_at = excluded.created_at, fingerprint = excluded.fingerprint
WHERE idempotency_keys.created_at <= $5
RETURNING key`;

// The holders of keys that were live: their fingerprint and task (null if it was deleted).
export const keyHoldersSql = `
SELECT k.key, k.task_id AS holder_id, k.fingerprint, t.id, t.name, t.description, t.payload, t.state, t.attempt, t.max_retries,
  t.timeout_ms, t.retry_backoff_ms, t.result, t.error, t.percent, t.message, t.worker_id, t.created_at, t.started_at,
  t.finished_at, t.next_attempt_at, t.last_sequence, t.seq, t.priority, t.run_at, t.schedule_id, t.schedule_tick_ms,
  t.concurrency_key, t.concurrency_limit
FROM idempotency_keys k LEFT JOIN tasks t ON t.id = k.task_id
WHERE k.key = ANY($1::text[])`;

// A live key whose task is gone (deleted by hand) is taken over: $1 key, $2 task id, $3 now, $4 fingerprint.
export const takeOverKeySql = `UPDATE idempotency_keys SET task_id = $2, created_at = $3, fingerprint = $4 WHERE key = $1`;

export const forgetKeysSql = `DELETE FROM idempotency_keys WHERE created_at <= $1`;

// Three counts, so each reads its partial index (an IN list would match none and scan the table).
export const countWaitingSql = `
SELECT (SELECT count(*) FROM tasks WHERE state = 'queued' AND concurrency_key IS NULL)
  + (SELECT count(*) FROM tasks WHERE state = 'queued' AND concurrency_key IS NOT NULL) + (SELECT count(*) FROM tasks WHERE state = 'retrying')
  + (SELECT count(*) FROM tasks WHERE state = 'scheduled') AS waiting`;

// Waiting tasks by name and state for the metrics scrape: one grouped count per partial index
// (queued unkeyed and keyed, retrying, scheduled), added up by name and state.
export const countWaitingByNameSql = `
SELECT name, state, sum(tasks)::bigint AS tasks FROM (
  SELECT name, state, count(*) AS tasks FROM tasks WHERE state = 'queued' AND concurrency_key IS NULL GROUP BY name, state
  UNION ALL SELECT name, state, count(*) FROM tasks WHERE state = 'queued' AND concurrency_key IS NOT NULL GROUP BY name, state
  UNION ALL SELECT name, state, count(*) FROM tasks WHERE state = 'retrying' GROUP BY name, state
  UNION ALL SELECT name, state, count(*) FROM tasks WHERE state = 'scheduled' GROUP BY name, state
) waiting GROUP BY name, state`;
