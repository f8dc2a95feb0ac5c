// One statement renews every named attempt that is still current, each until its own time.
// $1 task ids, $2 attempts, $3 until (database clock).
export const extendLeasesSql = `
UPDATE tasks t SET lease_expires_at = u.until
FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(id, attempt, until)
WHERE t.id = ANY($1::text[]) AND t.id = u.id AND t.attempt = u.attempt AND t.state = 'running'`;

// Running attempts whose lease or deadline has passed, read through tasks_running (deadline_at
// is set exactly while running). Rows another
// Scheduler is writing are skipped: they are changing anyway, and the next sweep sees them. $1 now.
export const expiredAttemptsSql = `
SELECT id, name, attempt, worker_id, (lease_expires_at <= $1) AS lease_expired
FROM tasks
WHERE deadline_at IS NOT NULL AND state = 'running' AND (lease_expires_at <= $1 OR deadline_at <= $1)
ORDER BY seq
FOR UPDATE SKIP LOCKED`;

// After a time nobody could hear the workers: every running attempt gets until $1 to be reported.
export const extendAllLeasesSql = `
UPDATE tasks SET lease_expires_at = $1
WHERE deadline_at IS NOT NULL AND state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < $1)`;
