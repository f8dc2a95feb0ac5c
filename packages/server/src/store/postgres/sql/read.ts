const taskColumns = `id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms,
  result, error, percent, message, worker_id, created_at, started_at, finished_at, next_attempt_at, last_sequence, seq, priority, run_at, schedule_id, schedule_tick_ms,
  concurrency_key, concurrency_limit`;

// Listed tasks leave out payload and result (up to 1 MiB each), so a page stays far below the
// 4 MiB message limit; GetTask returns them.
const listedColumns = taskColumns.replace("payload,", "''::bytea AS payload,").replace("result,", "NULL::bytea AS result,");

export const getTaskSql = `SELECT ${taskColumns} FROM tasks WHERE id = $1`;

/** The listing statement for this filter, and the order of its parameters (limit always last). */
export function listTasksSql(filter: { state: boolean; name: boolean; cursor: boolean }): { text: string; parameters: Array<"state" | "name" | "cursor" | "limit"> } {
  const parameters: Array<"state" | "name" | "cursor" | "limit"> = [];
  const where: string[] = [];
  const add = (parameter: "state" | "name" | "cursor", clause: (placeholder: string) => string): void => {
    parameters.push(parameter);
    where.push(clause(`$${parameters.length}`));
  };
  if (filter.state) add("state", (p) => `state = ${p}`);
  if (filter.name) add("name", (p) => `name = ${p}`);
  if (filter.cursor) add("cursor", (p) => `seq < ${p}`);
  parameters.push("limit");
  const text = `SELECT ${listedColumns} FROM tasks ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT $${parameters.length}`;
  return { text, parameters };
}
