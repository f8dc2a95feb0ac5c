// Locks the task, so the state read and the cancel see one version of it. $1 task.
export const lockTaskSql = `SELECT state, worker_id, name, concurrency_key FROM tasks WHERE id = $1 FOR UPDATE`;

// $2 reason, $3 now.
const cancelSet = `
SET state = 'cancelled',
    error = $2,
    finished_at = $3,
    next_attempt_at = NULL,
    lease_expires_at = NULL,
    deadline_at = NULL,
    last_sequence = last_sequence + 1`;

// $1 task, $2 reason, $3 now.
export const cancelSql = `
UPDATE tasks
${cancelSet}
WHERE id = $1 AND state IN ('scheduled', 'queued', 'running', 'retrying')
RETURNING last_sequence, attempt, percent`;

// $1 seqs (locked by actionBatchSql), $2 reason, $3 now. cancelSql for each of a bulk cancel's batch.
export const cancelManySql = `
UPDATE tasks
${cancelSet}
WHERE seq = ANY($1::bigint[]) AND state IN ('scheduled', 'queued', 'running', 'retrying')
RETURNING id, last_sequence, attempt, percent`;
