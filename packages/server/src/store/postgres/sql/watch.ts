// Queue-wide events (WatchTasks) in (tx, id) order: the writing transaction's id, then the row's.
// A transaction's id is taken at its first write, not at its commit, so a transaction still
// running can commit rows behind rows already committed. A read therefore stops at the settled
// horizon: only rows of transactions below the oldest one still running (pg_snapshot_xmin of the
// statement's snapshot) are read; every transaction below it has ended, so no row can appear
// behind the cursor later, and every Scheduler reads the same rows in the same order. The price: a
// transaction that stays open (on any database of the server) holds every reader back until it ends.

// The next $3 places (tx, id) after ($1 tx, $2 id), read from task_events_feed, then the columns of
// those the filter keeps ($4 names, $5 states: text[] or null; $6 concurrency key, $7 schedule id:
// text or null); the others' columns are null. The page is bounded before the filter, so a filter
// that keeps few events costs at most $3 index entries per read, and the cursor moves past them.
// The ORDER BY names the table's columns (as the feed's does): a bare "tx" would be text.
export const readEventsAfterSql = `
WITH page AS MATERIALIZED (
  SELECT tx, id
  FROM task_events
  WHERE (tx, id) > ($1::xid8, $2::bigint) AND tx < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
  ORDER BY task_events.tx, task_events.id
  LIMIT $3
)
SELECT page.tx::text AS place_tx, page.id AS place_id, kept.*
FROM page
LEFT JOIN LATERAL (
  SELECT t.name, e.task_id, e.sequence, e.state, e.attempt, e.percent, e.message, e.timestamp, e.worker_id, e.error, e.next_attempt_at
  FROM task_events e
  JOIN tasks t ON t.id = e.task_id
  WHERE e.tx = page.tx AND e.id = page.id
    AND ($4::text[] IS NULL OR t.name = ANY($4::text[]))
    AND ($5::text[] IS NULL OR e.state = ANY($5::text[]))
    AND ($6::text IS NULL OR t.concurrency_key = $6::text)
    AND ($7::text IS NULL OR t.schedule_id = $7::text)
  LIMIT 1
) kept ON true`;

// Where a reader that starts now begins: every transaction below this one has ended.
export const eventsHeadSql = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS tx`;
