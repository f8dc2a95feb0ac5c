// Paused task names (see migrations/003): the claim skips them; these statements keep the table.

// $1 name, $2 reason, $3 now. A name already paused keeps its row (reason and time): the no-op
// update only locks it, so that two stores pausing one name at once both answer the row that won,
// and `fresh` (xmax = 0: inserted by this statement) tells which of them paused it.
export const pauseNameSql = `
INSERT INTO paused_names (name, reason, paused_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET reason = paused_names.reason
RETURNING name, reason, paused_at, (xmax = 0) AS fresh`;

export const resumeNameSql = `DELETE FROM paused_names WHERE name = $1 RETURNING name, reason, paused_at`;

export const listPausedNamesSql = `SELECT name, reason, paused_at FROM paused_names ORDER BY name`;
