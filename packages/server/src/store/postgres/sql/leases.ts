// One statement renews every named attempt that is still current. $1 task ids, $2 attempts, $3 until.
export const extendLeasesSql = `
UPDATE tasks t SET lease_expires_at = $3
FROM unnest($1::text[], $2::int[]) AS u(id, attempt)
WHERE t.id = u.id AND t.attempt = u.attempt AND t.state = 'running'`;

// Running attempts whose lease or deadline has passed, read through tasks_running. Rows another
// Scheduler is writing are skipped: they are changing anyway, and the next sweep sees them. $1 now.
export const expiredAttemptsSql = `
SELECT id, attempt, worker_id, (lease_expires_at <= $1) AS lease_expired
FROM tasks
WHERE state = 'running' AND (lease_expires_at <= $1 OR deadline_at <= $1)
ORDER BY seq
FOR UPDATE SKIP LOCKED`;

// After a time nobody could hear the workers: every running attempt gets until $1 to be reported.
export const extendAllLeasesSql = `
UPDATE tasks SET lease_expires_at = $1
WHERE state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < $1)`;
