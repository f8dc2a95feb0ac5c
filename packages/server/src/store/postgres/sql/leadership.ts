// One conditional upsert on the database's clock: $1 holder, $2 now, $3 ttl. The row is taken when
// there is none, it was released, its holder renews, or its term ran out; a change of holder (or
// a holder coming back after its term ran out) raises the term. `previous` is the row as this
// statement found it (how long since the last renewal); `taken` is empty when someone else holds it.
export const acquireLeadershipSql = `
WITH previous AS (
  SELECT holder, term, renewed_at, expires_at FROM leadership WHERE id = 1
), taken AS (
  INSERT INTO leadership AS l (id, holder, term, renewed_at, expires_at) VALUES (1, $1::text, 1, $2::bigint, $2::bigint + $3::bigint)
  ON CONFLICT (id) DO UPDATE SET
    holder = excluded.holder,
    term = CASE WHEN l.holder = excluded.holder AND l.expires_at > excluded.renewed_at THEN l.term ELSE l.term + 1 END,
    renewed_at = excluded.renewed_at,
    expires_at = excluded.expires_at
  WHERE l.holder IS NULL OR l.holder = excluded.holder OR l.expires_at <= excluded.renewed_at
  RETURNING term
)
SELECT (SELECT term FROM taken) AS taken_term, p.holder, p.term, p.renewed_at
FROM (SELECT 1) AS one LEFT JOIN previous p ON true`;

// Who holds it now (after losing a race, `previous` may be older than the winner's row).
export const readLeadershipSql = `SELECT holder, term, renewed_at, expires_at FROM leadership WHERE id = 1`;

// The renewal time stays: the next leader learns from it how long nobody swept. $1 holder.
export const releaseLeadershipSql = `UPDATE leadership SET holder = NULL WHERE id = 1 AND holder = $1`;
