// The oldest queued tasks of one name become running attempts of one worker. Reading them through
// tasks_by_state_name keeps a claim O(limit) however long the queue is.
export const claimSql = `
UPDATE tasks
SET state = 'running',
    attempt = attempt + 1,
    worker_id = :workerId,
    started_at = :now,
    lease_expires_at = :leaseExpiresAt,
    deadline_at = :now + timeout_ms + :deadlineGraceMs,
    percent = 0,
    message = '',
    last_sequence = last_sequence + 1
WHERE seq IN (
  SELECT seq FROM tasks
  WHERE state = 'queued' AND name = :name
  ORDER BY seq
  LIMIT :limit
)
RETURNING seq, id, attempt, name, payload, timeout_ms, max_retries, last_sequence`;
