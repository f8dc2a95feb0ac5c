export const readLeadershipSql = `SELECT holder, term, renewed_at, expires_at FROM leadership WHERE id = 1`;

export const writeLeadershipSql = `
INSERT INTO leadership (id, holder, term, renewed_at, expires_at) VALUES (1, :holder, :term, :now, :expiresAt)
ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, term = excluded.term, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at`;

// The renewal time stays: the next leader learns from it how long nobody swept.
export const releaseLeadershipSql = `UPDATE leadership SET holder = NULL WHERE id = 1 AND holder = :holder`;
