import { storeEventsFrom } from "./events.js";

/**
 * What a claim writes to each task it starts: the next attempt, its worker, lease and deadline.
 * $1 worker, $4 now, $5 lease expiry, $6 deadline grace (in every claim statement).
 */
export const startAttemptSet = `
SET state = 'running',
    attempt = t.attempt + 1,
    worker_id = $1,
    started_at = $4,
    lease_expires_at = $5,
    deadline_at = $4 + t.timeout_ms + $6,
    percent = 0,
    message = '',
    last_sequence = t.last_sequence + 1`;

/** What a claim returns of each task it starts. */
export const startedColumns = "t.seq, t.priority, t.id, t.attempt, t.name, t.payload, t.timeout_ms, t.max_retries, t.last_sequence, t.created_at, t.run_at, t.trace_context";

// The most urgent, then oldest, queued unkeyed tasks of one name become running attempts of one
// worker (keyed tasks: concurrency.ts).
// The inner SELECT reads tasks_claim in (name, priority DESC, seq) order and skips rows another Scheduler has locked, so
// concurrent claims never wait for each other nor hand out one task twice. The locked pick runs
// once, as an array (a subquery in FROM may be rescanned, and LIMIT with SKIP LOCKED then picks
// more rows than asked), and the rows are then found by primary key (= ANY of the array), whatever
// the statistics say (a join here was planned as a scan of the whole queue on a fresh table). No
// state test out here: the pick locked the rows while queued, so none can have changed, and a state
// test lets the planner read the whole queue index filtering on seq (64 ms at 20,000 queued).
// A paused name (a row in paused_names) claims nothing: the NOT EXISTS depends on $2 alone, so it
// is one primary-key lookup run once (a one-time filter), and the queue is still read from tasks_claim.
// $1 worker, $2 name, $3 limit, $4 now, $5 lease expiry, $6 deadline grace.
export const claimSql = `
UPDATE tasks t${startAttemptSet}
WHERE t.seq = ANY(ARRAY(
  SELECT seq FROM tasks
  WHERE state = 'queued' AND concurrency_key IS NULL AND name = $2
    AND NOT EXISTS (SELECT 1 FROM paused_names WHERE name = $2)
  ORDER BY priority DESC, seq
  LIMIT $3
  FOR UPDATE SKIP LOCKED
))
RETURNING ${startedColumns}`;

// The first try of every claim: the worker's names in its order, in one statement, up to the first
// name that is gated (a rate limit, a throttle not yet passed, or waiting keys: two one-time index
// lookups per name; the row a cleared limit or a passed throttle leaves behind gates nothing).
// Each plain name before it gives its most urgent, then oldest, queued tasks until $3 are taken:
// the names are read in order by a nested loop, so a later name's queue is read only while the
// earlier ones left room, and no row is locked that is not started.
//
// A name's queue is read in two parts: after the name's cursor ($7 priority, $8 seq: where this
// process's last claim of it ended) at the cursor's priority, then its lower priorities; a name
// with no cursor (null) is read whole in the second part. The rows of "parts" come out in the
// names' order, the part after the cursor first (a lateral VALUES per name, no sort). Claimed tasks leave dead entries at the
// head of tasks_claim that a transaction held open elsewhere keeps from being cleaned, and a read
// from the head would step over every one of them on every claim; a read from the cursor does not.
// The store forgets a cursor whenever a task of the name may have become queued before it.
//
// It answers at least one row: the tasks it started, and on every row `stopped_at`, the 1-based
// position of the first gated name in $2 (null when none is). The caller claims that name the full
// way and goes on with the names after it. A limit set by a transaction that commits while this
// statement runs applies from the next claim.
// $1 worker, $2 names, $3 limit, $4 now, $5 lease expiry, $6 deadline grace, $7 and $8 the cursors.
const plainClaim = (storeEvents: boolean): string => `
WITH names AS MATERIALIZED (
  SELECT n.name, n.position, n.after_priority, n.after_seq,
    EXISTS (SELECT 1 FROM rate_limits WHERE name = n.name AND (max_starts IS NOT NULL OR throttled_until > $4))
      OR EXISTS (SELECT 1 FROM concurrency_keys WHERE name = n.name AND waiting) AS gated
  FROM unnest($2::text[], $7::int[], $8::bigint[]) WITH ORDINALITY AS n(name, after_priority, after_seq, position)
), stop AS MATERIALIZED (
  SELECT min(position) AS stopped_at FROM names WHERE gated
), parts AS MATERIALIZED (
  SELECT n.name, part.after_cursor, n.after_priority, n.after_seq
  FROM names n
  CROSS JOIN LATERAL (VALUES (true), (false)) AS part(after_cursor)
  WHERE n.position < coalesce((SELECT stopped_at FROM stop), 2147483647)
    AND (n.after_seq IS NOT NULL OR NOT part.after_cursor)
), started AS (
UPDATE tasks t${startAttemptSet}
WHERE t.seq = ANY(ARRAY(
  SELECT coalesce(at_cursor.seq, below.seq)
  FROM parts p
  LEFT JOIN LATERAL (
    SELECT seq FROM tasks
    WHERE p.after_cursor AND state = 'queued' AND concurrency_key IS NULL AND name = p.name
      AND priority = p.after_priority AND seq > p.after_seq
      AND NOT EXISTS (SELECT 1 FROM paused_names WHERE name = p.name)
    ORDER BY seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  ) AS at_cursor ON true
  LEFT JOIN LATERAL (
    SELECT seq FROM tasks
    WHERE NOT p.after_cursor AND state = 'queued' AND concurrency_key IS NULL AND name = p.name
      AND priority < coalesce(p.after_priority, 2147483647)
      AND NOT EXISTS (SELECT 1 FROM paused_names WHERE name = p.name)
    ORDER BY priority DESC, seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  ) AS below ON true
  WHERE coalesce(at_cursor.seq, below.seq) IS NOT NULL
  LIMIT $3
))
RETURNING ${startedColumns}
)${storeEvents ? `, ${storeEventsFrom("SELECT id, last_sequence, 'running', attempt, 0, 'attempt ' || attempt || ' started', $4, $1, NULL, NULL, NULL FROM started")}` : ""}
SELECT s.*, stop.stopped_at FROM stop LEFT JOIN started s ON true`;

export const plainClaimSql = plainClaim(false);

// The same in one trip (see GroupCommit): the statement also stores each started attempt's event
// (recordClaimed's), and the caller does not claim past a gated name (stopped_at) in this batch.
export const plainClaimInOneTripSql = plainClaim(true);
