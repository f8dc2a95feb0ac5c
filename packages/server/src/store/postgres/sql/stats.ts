// The dashboard's overview (GetTaskStats).

export const countByNameAndStateSql = `SELECT name, state, count(*) AS tasks FROM tasks GROUP BY name, state`;

// $1: where the first bucket starts, on the database's clock. Read through the (finished_at, name,
// state) index (migration 008): only the tasks finished since then are visited.
export const finishedPerMinuteSql = `
SELECT name, state, (finished_at - $1::bigint) / 60000 AS minute, count(*) AS tasks
FROM tasks
WHERE finished_at >= $1::bigint AND state IN ('succeeded', 'failed')
GROUP BY name, state, minute`;

export const pausedNamesSql = `SELECT name FROM paused_names`;
