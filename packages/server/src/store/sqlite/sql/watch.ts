// Queue-wide events (WatchTasks) in id order, which is commit order (one writer).

/**
 * The next :limit places (task_events ids) after :after; the columns of those the filter keeps (the
 * others' name is null). The page of ids is read first and bounded, so a filter that keeps few
 * events still costs at most :limit rows per read, and the cursor moves past what it skipped.
 */
export function readEventsAfterSql(filter: { names: boolean; states: boolean; key: boolean; schedule: boolean }): string {
  const eventConditions = filter.states ? "AND e.state IN (SELECT value FROM json_each(:states))" : "";
  const taskConditions = [
    filter.names ? "AND t.name IN (SELECT value FROM json_each(:names))" : "",
    filter.key ? "AND t.concurrency_key = :key" : "",
    filter.schedule ? "AND t.schedule_id = :schedule" : "",
  ].join(" ");
  return `
SELECT p.id AS place, t.name, e.task_id, e.sequence, e.state, e.attempt, e.percent, e.message, e.timestamp, e.worker_id,
  e.error, e.next_attempt_at
FROM (SELECT id FROM task_events WHERE id > :after ORDER BY id LIMIT :limit) AS p
LEFT JOIN task_events e ON e.id = p.id ${eventConditions}
LEFT JOIN tasks t ON t.id = e.task_id ${taskConditions}
ORDER BY p.id`;
}

// Every event stored so far is at or before it.
export const eventsHeadSql = `SELECT coalesce(max(id), 0) AS id FROM task_events`;
