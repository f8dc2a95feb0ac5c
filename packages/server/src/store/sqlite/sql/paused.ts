// Paused task names (see migrations/007): the claim skips them; these statements keep the table.

export const pausedNameSql = `SELECT name, reason, paused_at FROM paused_names WHERE name = ?`;

export const pauseNameSql = `INSERT INTO paused_names (name, reason, paused_at) VALUES (:name, :reason, :now) ON CONFLICT (name) DO NOTHING`;

export const resumeNameSql = `DELETE FROM paused_names WHERE name = ? RETURNING name, reason, paused_at`;

export const listPausedNamesSql = `SELECT name, reason, paused_at FROM paused_names ORDER BY name`;
