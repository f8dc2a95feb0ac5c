// The bench's direct view of PostgreSQL: a fresh schema per deployment, the ground-truth reader of
// its `tasks` table, the database's own cost counters (pg_stat_database, pg_stat_user_tables), and
// a transaction held open the way an analytics job holds one. A measuring tool may read the
// database directly; the tests go through the store or the API instead.
import pg from "pg";
import type { StoreFacts, StoreView } from "./db.js";
import { sleep } from "./util.js";

/** The database the PostgreSQL runs use; each deployment gets a schema of its own in it. */
export const benchPostgresUrl = process.env.ORCHESTRATOR_BENCH_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test";

/** bigint (epoch ms, counters) as numbers: every value read here is far below 2^53. */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary"): unknown {
    if (oid === pg.types.builtins.INT8 && format !== "binary") return (value: string) => Number(value);
    return format === "binary" ? pg.types.getTypeParser(oid, "binary") : pg.types.getTypeParser(oid, "text");
  },
};

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The URL without a `schema` parameter: what pg itself connects with. */
function connectionString(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.delete("schema");
  return parsed.toString();
}

/**
 * One connection of the bench, counting the statements it sends: each is a transaction of its
 * own, and pg_stat_database counts those commits too, so the cost per task subtracts them.
 */
export class CountedConnection {
  private readonly client: pg.Client;
  private connected: Promise<unknown> | undefined;
  statements = 0;

  constructor(url = benchPostgresUrl, applicationName = "orchestrator bench") {
    this.client = new pg.Client({ connectionString: connectionString(url), application_name: applicationName, types: types as pg.CustomTypesConfig });
    // A server-side close (someone's pg_terminate_backend) must not end the bench process.
    this.client.on("error", () => undefined);
  }

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    this.connected ??= this.client.connect();
    await this.connected;
    this.statements++;
    return (await this.client.query<R>(text, values)).rows;
  }

  async close(): Promise<void> {
    if (this.connected) await this.client.end().catch(() => undefined);
  }
}

let schemaCounter = 0;

/**
 * A fresh store for one deployment: a database of its own on the server of
 * ORCHESTRATOR_BENCH_POSTGRES_URL, holding a fresh schema; both dropped after. A database of its
 * own makes pg_stat_database's commit count the deployment's alone (other sessions on a shared
 * server commit elsewhere) and keeps a held transaction's horizon from reaching other databases'
 * tables. Where the user may not create databases, the schema goes into the URL's database.
 */
export class BenchSchema {
  readonly name = `bench_${process.pid}_${Date.now().toString(36)}_${schemaCounter++}`;
  /** The database created for this deployment, if the server allowed it. */
  private ownDatabase: string | undefined;

  /** Where the schema lives: the deployment's own database, or the URL's. */
  get databaseUrl(): string {
    const url = new URL(benchPostgresUrl);
    if (this.ownDatabase) url.pathname = `/${this.ownDatabase}`;
    return url.toString();
  }

  /** Whether the database is shared with whatever else uses the URL's database. */
  get sharedDatabase(): boolean {
    return this.ownDatabase === undefined;
  }

  get storeUrl(): string {
    const url = new URL(this.databaseUrl);
    url.searchParams.set("schema", this.name);
    return url.toString();
  }

  async create(): Promise<void> {
    try {
      await admin(benchPostgresUrl, `CREATE DATABASE ${quote(this.name)}`);
      this.ownDatabase = this.name;
    } catch (error) {
      process.stderr.write(`  could not create a database of its own (${error instanceof Error ? error.message : String(error)}); the schema goes into the URL's database, shared with its other users\n`);
    }
    await admin(this.databaseUrl, `CREATE SCHEMA ${quote(this.name)}`);
  }

  async drop(): Promise<void> {
    if (this.ownDatabase) await admin(benchPostgresUrl, `DROP DATABASE IF EXISTS ${quote(this.ownDatabase)} WITH (FORCE)`);
    else await admin(this.databaseUrl, `DROP SCHEMA IF EXISTS ${quote(this.name)} CASCADE`);
  }
}

async function admin(url: string, statement: string): Promise<void> {
  const connection = new CountedConnection(url);
  try {
    await connection.query(statement);
  } finally {
    await connection.close();
  }
}

/** The ground truth of a PostgreSQL deployment: its schema's `tasks` table, read directly. */
export class PostgresStoreReader implements StoreView {
  readonly connection: CountedConnection;
  private readonly tasks: string;

  /** afterSeq: only tasks after it count (a preloaded history is not the run's). */
  constructor(readonly schema: BenchSchema, private readonly afterSeq = 0) {
    this.connection = new CountedConnection(schema.databaseUrl);
    this.tasks = `${quote(schema.name)}.tasks`;
  }

  async waitForSucceeded(expected: number, timeoutMs: number, intervalMs = 100): Promise<number> {
    return this.waitForSucceededAfter(this.afterSeq, expected, timeoutMs, intervalMs);
  }

  async startedAt(): Promise<Map<string, number>> {
    const rows = await this.connection.query<{ id: string; startedAt: number }>(
      `SELECT id, started_at AS "startedAt" FROM ${this.tasks} WHERE seq > $1 AND started_at IS NOT NULL`, [this.afterSeq]);
    return new Map(rows.map((row) => [row.id, Number(row.startedAt)]));
  }

  async startDelays(): Promise<number[]> {
    const rows = await this.connection.query<{ delay: string }>(
      `SELECT started_at - run_at AS delay FROM ${this.tasks} WHERE seq > $1 AND run_at IS NOT NULL AND started_at IS NOT NULL`, [this.afterSeq]);
    return rows.map((row) => Number(row.delay));
  }

  facts(): Promise<StoreFacts> {
    return this.factsAfter(this.afterSeq);
  }

  /** The highest `seq` (insertion order) so far: tasks submitted later all have a higher one. */
  async lastSeq(): Promise<number> {
    const [row] = await this.connection.query<{ seq: number }>(`SELECT coalesce(max(seq), 0) AS seq FROM ${this.tasks}`);
    return row?.seq ?? 0;
  }

  /**
   * Waits until `expected` tasks after `seq` have succeeded. Polls count incrementally: the leading
   * run of succeeded tasks is counted once and skipped by later polls, so a poll reads the rows from
   * the first unfinished task on (a page at most), not every row of the run. (A full count reads
   * every version of every row while a transaction holds the horizon: 20-40 ms of the database's
   * CPU per poll in W1-horizon, taken from the system under test.)
   */
  async waitForSucceededAfter(seq: number, expected: number, timeoutMs: number, intervalMs = 100): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const progress = { after: seq, counted: 0 };
    let succeeded = await this.succeededSoFar(progress);
    while (succeeded < expected && Date.now() < deadline) {
      await sleep(Math.max(100, intervalMs));
      succeeded = await this.succeededSoFar(progress);
    }
    return succeeded;
  }

  /**
   * The succeeded tasks after the `after` of the first call: those before the first unfinished task
   * (kept in `progress`, so the next call starts there) plus those in the page after it. Below the
   * true count only while tasks beyond that page have finished too; exact once all have.
   */
  private async succeededSoFar(progress: { after: number; counted: number }): Promise<number> {
    const page = 500;
    for (;;) {
      const rows = await this.connection.query<{ seq: number; done: boolean }>(
        `SELECT seq, state = 'succeeded' AS done FROM ${this.tasks} WHERE seq > $1 ORDER BY seq LIMIT ${page}`, [progress.after]);
      let index = 0;
      for (; index < rows.length && rows[index]?.done; index++) {
        progress.after = Number(rows[index]?.seq);
        progress.counted += 1;
      }
      if (index < rows.length || rows.length < page) return progress.counted + rows.slice(index).filter((row) => row.done).length;
    }
  }

  /** The facts of the tasks after `seq` (0: all of them). */
  async factsAfter(seq: number): Promise<StoreFacts> {
    const [row] = await this.connection.query<StoreFacts>(`
      SELECT count(*) AS total,
             count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
             count(*) FILTER (WHERE attempt <> 1) AS "notFirstAttempt",
             min(created_at) AS "minCreatedAt",
             min(started_at) AS "minStartedAt",
             max(finished_at) AS "maxFinishedAt"
      FROM ${this.tasks} WHERE seq > $1`, [seq]);
    if (!row) throw new Error("no facts row");
    return row;
  }

  /** Dead row versions and the size of the hot tables, as the statistics last saw them. */
  async bloat(): Promise<{ deadTuples: number; tablesMb: number }> {
    const [row] = await this.connection.query<{ dead: number; bytes: number }>(`
      SELECT coalesce(sum(n_dead_tup), 0)::float8 AS dead, coalesce(sum(pg_total_relation_size(relid)), 0)::float8 AS bytes
      FROM pg_stat_user_tables WHERE schemaname = $1 AND relname IN ('tasks', 'task_events')`, [this.schema.name]);
    return { deadTuples: row?.dead ?? Number.NaN, tablesMb: Math.round(((row?.bytes ?? Number.NaN) / 1024 / 1024) * 10) / 10 };
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

export interface DatabaseCounters {
  /** pg_stat_database.xact_commit of the whole database (other sessions' commits included, if it is shared). */
  commits: number;
  /** n_tup_ins + n_tup_upd + n_tup_del summed over the schema's tables. */
  rowsWritten: number;
  /** Statements the bench's own connections had sent when the counters were read. */
  benchStatements: number;
}

/**
 * Reads the database's cost counters. They are updated with a delay: a backend reports its counts
 * at most once a second while busy and about 10 s after it went idle (or when it exits), so the
 * final reading is taken after the Scheduler has stopped and its connections have closed.
 */
export async function readCounters(reader: PostgresStoreReader, ownConnections: readonly CountedConnection[] = []): Promise<DatabaseCounters> {
  // PG15+: flush this session's own pending counts before reading (older servers lack the function).
  await reader.connection.query("SELECT pg_stat_force_next_flush()").catch(() => undefined);
  const [database] = await reader.connection.query<{ commits: number }>(
    "SELECT xact_commit::float8 AS commits FROM pg_stat_database WHERE datname = current_database()");
  const [tables] = await reader.connection.query<{ rows: number }>(`
    SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::float8 AS rows
    FROM pg_stat_user_tables WHERE schemaname = $1`, [reader.schema.name]);
  const benchStatements = [reader.connection, ...ownConnections].reduce((sum, connection) => sum + connection.statements, 0);
  return { commits: database?.commits ?? Number.NaN, rowsWritten: tables?.rows ?? Number.NaN, benchStatements };
}

/** The database's work between two readings, less the bench's own statements. */
export function costBetween(before: DatabaseCounters, after: DatabaseCounters, tasks: number): { commitsPerTask: number; rowsWrittenPerTask: number; commits: number; benchStatements: number } {
  const benchStatements = after.benchStatements - before.benchStatements;
  const commits = after.commits - before.commits - benchStatements;
  const rows = after.rowsWritten - before.rowsWritten;
  return { commits, benchStatements, commitsPerTask: commits / tasks, rowsWrittenPerTask: rows / tasks };
}

export type HeldSnapshotKind = "xid" | "snapshot";

/**
 * A REPEATABLE READ transaction left open, as a long analytics query leaves one: `xid` has written
 * (txid_current() assigns a transaction id), `snapshot` has only read. Either holds back the
 * horizon below which VACUUM may remove dead row versions, for the whole database.
 */
export class HeldTransaction {
  readonly connection: CountedConnection;

  constructor(readonly kind: HeldSnapshotKind, private readonly schema: BenchSchema) {
    this.connection = new CountedConnection(schema.databaseUrl, "orchestrator bench analytics");
  }

  private pid = 0;

  async begin(): Promise<void> {
    await this.connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
    if (this.kind === "xid") await this.connection.query("SELECT txid_current()");
    else await this.connection.query(`SELECT 1 FROM ${quote(this.schema.name)}.tasks LIMIT 1`);
    const [row] = await this.connection.query<{ pid: number; xmin: string | null }>(
      "SELECT pid, backend_xmin::text AS xmin FROM pg_stat_activity WHERE pid = pg_backend_pid()");
    // Without a snapshot held, the phase would measure nothing but the baseline again.
    if (!row?.xmin) throw new Error(`the ${this.kind} transaction holds no snapshot (backend_xmin is null)`);
    this.pid = row.pid;
  }

  /** How many transaction ids the database has moved past this transaction's horizon (read from another session). */
  async horizonAge(reader: PostgresStoreReader): Promise<number> {
    const [row] = await reader.connection.query<{ age: number }>(
      "SELECT greatest(age(backend_xid), age(backend_xmin))::float8 AS age FROM pg_stat_activity WHERE pid = $1", [this.pid]);
    return row?.age ?? Number.NaN;
  }

  async end(): Promise<void> {
    try {
      await this.connection.query("ROLLBACK");
    } finally {
      await this.connection.close();
    }
  }
}
