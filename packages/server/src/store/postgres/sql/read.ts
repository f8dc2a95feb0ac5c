import { selectionConditions } from "./selection.js";

const taskColumns = `id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms,
  result, error, percent, message, worker_id, created_at, started_at, finished_at, next_attempt_at, last_sequence, seq, priority, run_at, schedule_id, schedule_tick_ms,
  concurrency_key, concurrency_limit`;

// Listed tasks leave out payload and result (up to 1 MiB each), so a page stays far below the
// 4 MiB message limit; GetTask returns them.
const listedColumns = taskColumns.replace("payload,", "''::bytea AS payload,").replace("result,", "NULL::bytea AS result,");

export const getTaskSql = `SELECT ${taskColumns} FROM tasks WHERE id = $1`;

// $1-$6 the selection, $7 the cursor (a seq; null for the first page), $8 the limit. Newest first.
export const listTasksSql = `
SELECT ${listedColumns} FROM tasks
WHERE ${selectionConditions(1)}
  AND ($7::bigint IS NULL OR seq < $7::bigint)
ORDER BY seq DESC
LIMIT $8`;

// $1-$6 the selection.
export const countTasksSql = `SELECT count(*) AS tasks FROM tasks WHERE ${selectionConditions(1)}`;
