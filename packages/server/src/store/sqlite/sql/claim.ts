// The most urgent, then oldest, queued unkeyed tasks of one name become running attempts of one
// worker (keyed tasks: concurrency.ts).
// Reading them through tasks_claim (name, priority DESC, seq) keeps a claim O(limit) however long
// the queue is; INDEXED BY makes that a promise (the statement fails to prepare without the index)
// rather than a planner's choice. A paused name (a row in paused_names, one primary-key lookup)
// claims nothing.
/** What a claim writes to each task it starts: the next attempt, its worker, lease and deadline. */
export const startAttemptSet = `
SET state = 'running',
    attempt = attempt + 1,
    worker_id = :workerId,
    started_at = :now,
    lease_expires_at = :leaseExpiresAt,
    deadline_at = :now + timeout_ms + :deadlineGraceMs,
    percent = 0,
    message = '',
    last_sequence = last_sequence + 1`;

/** What a claim returns of each task it starts. */
export const startedColumns = "seq, priority, id, attempt, name, payload, timeout_ms, max_retries, last_sequence, created_at, run_at, trace_context";

export const claimSql = `
UPDATE tasks${startAttemptSet}
WHERE seq IN (
  SELECT seq FROM tasks INDEXED BY tasks_claim
  WHERE state = 'queued' AND concurrency_key IS NULL AND name = :name
    AND NOT EXISTS (SELECT 1 FROM paused_names WHERE name = :name)
  ORDER BY priority DESC, seq
  LIMIT :limit
)
RETURNING ${startedColumns}`;
