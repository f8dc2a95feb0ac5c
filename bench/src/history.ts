// A store that has been in use: `count` finished tasks (and their three events each) written into
// a fresh store before its Scheduler starts, as months of history would leave them. W1-history and
// W2-history run W1 and W2 on such a store: finished rows must never be on the claim path.
import { openSqlite } from "orchestrator-ts/internal";
import { CountedConnection, type BenchSchema } from "./postgres.js";

/** The history's task name: no worker handles it (the run's tasks are told apart by creation time: see api-reader.ts). */
export const historyTaskName = "bench-history";

/** Each history task: queued, ran once, succeeded, a day before the run (well inside retention). */
const dayMs = 24 * 3600 * 1000;

/**
 * Writes the history into a migrated SQLite file (its Scheduler stopped). Returns the highest seq
 * the history took: every task the run submits has a higher one.
 */
export function writeSqliteHistory(path: string, count: number, now = Date.now()): number {
  const db = openSqlite(path);
  try {
    db.transaction(() => {
      db.prepare(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
        INSERT INTO tasks (id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms, result, percent,
                           message, worker_id, created_at, started_at, finished_at, last_sequence)
        SELECT printf('00000000-0000-7000-8000-%012d', i), :name, '', X'', 'succeeded', 1, 3, 300000, 1000, X'7b7d', 100,
               'succeeded', 'history-worker', :base + i, :base + i + 1, :base + i + 2, 3
        FROM n`).run({ count, name: historyTaskName, base: now - dayMs });
      db.prepare(`
        INSERT INTO task_events (task_id, sequence, state, attempt, percent, message, timestamp, worker_id, result)
        SELECT t.id, e.sequence, e.state, e.attempt, e.percent, e.state, t.created_at + e.sequence - 1,
               CASE WHEN e.sequence > 1 THEN t.worker_id END, CASE WHEN e.sequence = 3 THEN t.result END
        FROM tasks t, (SELECT 1 AS sequence, 'queued' AS state, 0 AS attempt, 0 AS percent
                       UNION ALL SELECT 2, 'running', 1, 0 UNION ALL SELECT 3, 'succeeded', 1, 100) e
        WHERE t.name = :name`).run({ name: historyTaskName });
    })();
    return Number((db.prepare("SELECT coalesce(max(seq), 0) AS seq FROM tasks").get() as { seq: number }).seq);
  } finally {
    db.close();
  }
}

/** The same for a migrated PostgreSQL schema, vacuumed and analysed afterwards, as autovacuum would have. */
export async function writePostgresHistory(schema: BenchSchema, count: number, now = Date.now()): Promise<number> {
  const connection = new CountedConnection(schema.databaseUrl);
  const quoted = `"${schema.name.replaceAll('"', '""')}"`;
  try {
    await connection.query("BEGIN");
    await connection.query(`
      INSERT INTO ${quoted}.tasks (id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms, result, percent,
                                   message, worker_id, created_at, started_at, finished_at, last_sequence)
      SELECT '00000000-0000-7000-8000-' || lpad(i::text, 12, '0'), $2, '', ''::bytea, 'succeeded', 1, 3, 300000, 1000, '\\x7b7d'::bytea, 100,
             'succeeded', 'history-worker', $3::bigint + i, $3::bigint + i + 1, $3::bigint + i + 2, 3
      FROM generate_series(1, $1::int) AS i`, [count, historyTaskName, now - dayMs]);
    await connection.query(`
      INSERT INTO ${quoted}.task_events (task_id, sequence, state, attempt, percent, message, timestamp, worker_id, result)
      SELECT t.id, e.sequence, e.state, e.attempt, e.percent, e.state, t.created_at + e.sequence - 1,
             CASE WHEN e.sequence > 1 THEN t.worker_id END, CASE WHEN e.sequence = 3 THEN t.result END
      FROM ${quoted}.tasks t,
           (VALUES (1, 'queued', 0, 0), (2, 'running', 1, 0), (3, 'succeeded', 1, 100)) AS e(sequence, state, attempt, percent)
      WHERE t.name = $1`, [historyTaskName]);
    await connection.query("COMMIT");
    // Otherwise autovacuum would find millions of freshly inserted rows and work through them
    // during the measured run, which history that accumulated over months never asks of it.
    await connection.query(`VACUUM (ANALYZE) ${quoted}.tasks`);
    await connection.query(`VACUUM (ANALYZE) ${quoted}.task_events`);
    const [row] = await connection.query<{ seq: string }>(`SELECT coalesce(max(seq), 0) AS seq FROM ${quoted}.tasks`);
    return Number(row?.seq ?? 0);
  } finally {
    await connection.close();
  }
}

/**
 * The dashboard's store: `count` tasks over ten names, spread evenly over the last day (so the
 * overview's last 15 minutes hold about 1% of them), 2% queued (no worker takes their names),
 * 3% failed, 2% cancelled, the rest succeeded. No events: the first screen reads none.
 */
const dashboardStates = `CASE WHEN i % 100 < 2 THEN 'queued' WHEN i % 100 < 5 THEN 'failed' WHEN i % 100 < 7 THEN 'cancelled' ELSE 'succeeded' END`;

export function writeSqliteDashboardHistory(path: string, count: number, now = Date.now()): number {
  const db = openSqlite(path);
  try {
    db.prepare(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count),
      shaped AS (SELECT i, ${dashboardStates} AS state, CAST(:base + i * :step AS INTEGER) AS created FROM n)
      INSERT INTO tasks (id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms, result, error, percent,
                         message, worker_id, created_at, started_at, finished_at, last_sequence)
      SELECT printf('00000000-0000-7000-8000-%012d', i), 'report-' || (i % 10), '', X'7b7d', state, CASE WHEN state = 'queued' THEN 0 ELSE 1 END, 3, 300000, 1000,
             CASE WHEN state = 'succeeded' THEN X'7b7d' END, CASE WHEN state = 'failed' THEN 'boom' END, 0, state,
             CASE WHEN state = 'queued' THEN NULL ELSE 'history-worker' END, created,
             CASE WHEN state = 'queued' THEN NULL ELSE created + 10 END, CASE WHEN state = 'queued' THEN NULL ELSE created + 50 END, 0
      FROM shaped`).run({ count, base: now - dayMs, step: dayMs / count });
    return Number((db.prepare("SELECT coalesce(max(seq), 0) AS seq FROM tasks").get() as { seq: number }).seq);
  } finally {
    db.close();
  }
}

export async function writePostgresDashboardHistory(schema: BenchSchema, count: number, now = Date.now()): Promise<number> {
  const connection = new CountedConnection(schema.databaseUrl);
  const quoted = `"${schema.name.replaceAll('"', '""')}"`;
  try {
    await connection.query(`
      INSERT INTO ${quoted}.tasks (id, name, description, payload, state, attempt, max_retries, timeout_ms, retry_backoff_ms, result, error, percent,
                                   message, worker_id, created_at, started_at, finished_at, last_sequence)
      SELECT '00000000-0000-7000-8000-' || lpad(i::text, 12, '0'), 'report-' || (i % 10), '', '\\x7b7d'::bytea, state,
             CASE WHEN state = 'queued' THEN 0 ELSE 1 END, 3, 300000, 1000,
             CASE WHEN state = 'succeeded' THEN '\\x7b7d'::bytea END, CASE WHEN state = 'failed' THEN 'boom' END, 0, state,
             CASE WHEN state = 'queued' THEN NULL ELSE 'history-worker' END, created,
             CASE WHEN state = 'queued' THEN NULL ELSE created + 10 END, CASE WHEN state = 'queued' THEN NULL ELSE created + 50 END, 0
      FROM (SELECT i, ${dashboardStates} AS state, ($2::bigint + (i * $3::double precision))::bigint AS created
            FROM generate_series(1, $1::int) AS i) AS shaped`, [count, now - dayMs, dayMs / count]);
    await connection.query(`VACUUM (ANALYZE) ${quoted}.tasks`);
    const [row] = await connection.query<{ seq: string }>(`SELECT coalesce(max(seq), 0) AS seq FROM ${quoted}.tasks`);
    return Number(row?.seq ?? 0);
  } finally {
    await connection.close();
  }
}
