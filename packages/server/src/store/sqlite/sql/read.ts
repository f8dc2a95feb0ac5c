const taskColumns = `id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms,
  result, error, percent, message, worker_id, created_at, started_at, finished_at, next_attempt_at, last_sequence, seq, priority, run_at, schedule_id, schedule_tick_ms,
  concurrency_key, concurrency_limit`;

// Listed tasks leave out payload and result (up to 1 MiB each), so a page stays far below the
// 4 MiB message limit; GetTask returns them.
const listedColumns = taskColumns.replace("payload,", "X'' AS payload,").replace("result,", "NULL AS result,");

export const getTaskSql = `SELECT ${taskColumns} FROM tasks WHERE id = ?`;

export function listTasksSql(filter: { state: boolean; name: boolean; cursor: boolean }): string {
  const where = [
    filter.state ? "state = :state" : null,
    filter.name ? "name = :name" : null,
    filter.cursor ? "seq < :cursor" : null,
  ].filter((clause) => clause !== null);
  return `SELECT ${listedColumns} FROM tasks ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT :limit`;
}
