export const extendLeasesSql = `
UPDATE tasks SET lease_expires_at = :until
WHERE id = :taskId AND attempt = :attempt AND state = 'running'`;

export const expiredAttemptsSql = `
SELECT id, name, attempt, worker_id, (lease_expires_at <= :now) AS lease_expired
FROM tasks
WHERE state = 'running' AND (lease_expires_at <= :now OR deadline_at <= :now)`;

// After a time nobody could hear the workers: every running attempt gets until `until` to be reported.
export const extendAllLeasesSql = `
UPDATE tasks SET lease_expires_at = :until
WHERE state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < :until)`;
