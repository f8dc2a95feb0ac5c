// The dashboard's overview (GetTaskStats).

// Read from the (state, name) index alone: no table row is visited.
export const countByNameAndStateSql = `SELECT name, state, count(*) AS tasks FROM tasks GROUP BY state, name`;

// Read from the (finished_at, name, state) index alone (migration 012): only the tasks finished
// since :first are visited. The CAST: a bound JavaScript number arrives as REAL, so the division
// would not truncate. INDEXED BY: with or without statistics, the planner otherwise takes the
// (state, name) index and reads every succeeded task of the store (800 ms for a million, against
// 3 ms through this one).
export const finishedPerMinuteSql = `
SELECT name, state, CAST((finished_at - :first) / 60000 AS INTEGER) AS minute, count(*) AS tasks
FROM tasks INDEXED BY tasks_finished
WHERE finished_at >= :first AND state IN ('succeeded', 'failed')
GROUP BY name, state, minute`;

export const pausedNamesSql = `SELECT name FROM paused_names`;
