import { selectionConditions, type SelectionShape } from "./selection.js";

const taskColumns = `id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms,
  result, error, percent, message, worker_id, created_at, started_at, finished_at, next_attempt_at, last_sequence, seq, priority, run_at, schedule_id, schedule_tick_ms,
  concurrency_key, concurrency_limit`;

// Listed tasks leave out payload and result (up to 1 MiB each), so a page stays far below the
// 4 MiB message limit; GetTask returns them.
const listedColumns = taskColumns.replace("payload,", "X'' AS payload,").replace("result,", "NULL AS result,");

export const getTaskSql = `SELECT ${taskColumns} FROM tasks WHERE id = ?`;

function whereClause(conditions: string[]): string {
  return conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
}

/** Newest first from :cursor (a seq) down; :limit rows. */
export function listTasksSql(shape: SelectionShape & { oneNameOneState: boolean; cursor: boolean }): string {
  const conditions = [...selectionConditions({ ...shape, ordered: true }), ...(shape.cursor ? ["seq < :cursor"] : [])];
  return `SELECT ${listedColumns} FROM tasks ${whereClause(conditions)} ORDER BY seq DESC LIMIT :limit`;
}

export function countTasksSql(shape: SelectionShape): string {
  return `SELECT count(*) AS tasks FROM tasks ${whereClause(selectionConditions(shape))}`;
}
