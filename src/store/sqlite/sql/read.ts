const taskColumns = `id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms,
  result, error, percent, message, worker_id, created_at, started_at, finished_at, next_attempt_at, last_sequence, seq`;

export const getTaskSql = `SELECT ${taskColumns} FROM tasks WHERE id = ?`;

export function listTasksSql(filter: { state: boolean; name: boolean; cursor: boolean }): string {
  const where = [
    filter.state ? "state = :state" : null,
    filter.name ? "name = :name" : null,
    filter.cursor ? "seq < :cursor" : null,
  ].filter((clause) => clause !== null);
  return `SELECT ${taskColumns} FROM tasks ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT :limit`;
}

export const queuedNamesSql = `SELECT DISTINCT name FROM tasks WHERE state = 'queued'`;
