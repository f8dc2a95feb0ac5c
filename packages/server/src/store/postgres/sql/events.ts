const eventColumns = "task_id, sequence, state, attempt, percent, message, timestamp, worker_id, result, error, next_attempt_at";

// Every event a commit batch recorded, in one statement: $1..$11 are arrays in recording order.
// Answers the transaction's id, so the feed can tell this process's rows from other writers'.
export const insertEventsSql = `
WITH inserted AS (
  INSERT INTO task_events (${eventColumns})
  SELECT ${eventColumns}
  FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::float8[], $6::text[], $7::bigint[], $8::text[], $9::bytea[], $10::text[], $11::bigint[])
    WITH ORDINALITY AS u(${eventColumns}, position)
  ORDER BY position
)
SELECT pg_current_xact_id()::text AS tx`;

// The same, with the commit's LISTEN/NOTIFY hint in the same round trip: $12 channel, $13 payload.
export const insertEventsAndNotifySql = `${insertEventsSql}, pg_notify($12, $13)`;

// The last statement of a one-trip batch, whose writes stored their own events (see
// GroupCommit): the transaction's id, null when the batch wrote nothing, and then no hint either.
// $1 channel, $2 payload.
export const oneTripEndSql = `
SELECT pg_current_xact_id_if_assigned()::text AS tx,
  (SELECT count(*) FROM (SELECT pg_notify($1, $2) WHERE pg_current_xact_id_if_assigned() IS NOT NULL) hint) AS hinted`;

/**
 * What a one-trip write's statement adds to store the events of the rows it wrote: a
 * data-modifying CTE named "stored", the event columns in task_events' order from `select`.
 */
export const storeEventsFrom = (select: string): string => `
stored AS (
  INSERT INTO task_events (${eventColumns})
  ${select}
)`;

// $1 task, $2 after sequence.
export const listEventsSql = `
SELECT ${eventColumns}
FROM task_events
WHERE task_id = $1 AND sequence > $2
ORDER BY sequence`;

// The feed reads committed rows in (tx, id) order after where its last read ended; transactions
// still running at that read (older than its end) may commit rows behind it later, so their rows
// are read again by id until they end. A page is the next $3 rows' places (tx, id); only the rows
// of other writers' transactions are read whole: the reader's own transactions (`own`, a hashed
// NOT IN) were reported at their commit; a single Scheduler at W1 load read back about 18,000 such
// rows a second and dropped them (with the poll off it drained 12% faster). Each statement answers one
// row at least: the transactions running at its snapshot (`running`), how many places the page
// scanned and the last of them (null when it is empty), with the row's columns null when no row
// of the page is another writer's, in no order (the reader orders them: ordering here would sort).
// The ORDER BYs name the table's columns: a bare "tx" would be the text the SELECT makes of it,
// and text puts "100" before "99" (pages would skip rows) and cannot be read from
// task_events_feed (every read would sort the table).
const feedPage = (where: string, own: string): string => `
WITH snapshot AS MATERIALIZED (SELECT array(SELECT pg_snapshot_xip(pg_current_snapshot())::text) AS running),
page AS MATERIALIZED (
  SELECT tx, id, row_number() OVER (ORDER BY task_events.tx, task_events.id) AS place
  FROM task_events
  WHERE ${where}
  ORDER BY task_events.tx, task_events.id
  LIMIT $3
)
SELECT snapshot.running, extent.scanned, last.last_tx, last.last_id, other.*
FROM snapshot
CROSS JOIN (SELECT count(*)::int AS scanned FROM page) extent
LEFT JOIN LATERAL (SELECT page.tx::text AS last_tx, page.id AS last_id FROM page WHERE page.place = extent.scanned) last ON true
LEFT JOIN LATERAL (
  SELECT e.*
  FROM page
  -- One index probe per row kept (LIMIT keeps the planner from joining by a scan of the table).
  CROSS JOIN LATERAL (SELECT id, tx::text AS tx, ${eventColumns} FROM task_events WHERE tx = page.tx AND id = page.id LIMIT 1) e
  WHERE page.tx NOT IN (SELECT unnest(${own}::xid8[]))
) other ON true`;

// Rows after ($1 tx, $2 id), $3 places at most, not of the transactions $4.
export const feedSql = feedPage("(tx, id) > ($1::xid8, $2::bigint)", "$4");

// Rows of the transactions $4 (still running at the last read) after ($1 tx, $2 id), $3 places at
// most, not of the transactions $5.
export const feedPendingSql = feedPage("tx = ANY($4::xid8[]) AND (tx, id) > ($1::xid8, $2::bigint)", "$5");

// Where a feed that starts now begins: every transaction before this one has ended.
export const feedStartSql = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS tx`;
