// The bench's direct view of PostgreSQL: a fresh schema per deployment, the database's own cost
// counters (pg_stat_database, pg_stat_user_tables), and a transaction held open the way an
// analytics job holds one. These are the database's figures, not the run's results: the run's
// tasks are read through the Gateway's API (api-reader.ts).
import pg from "pg";

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

/**
 * The database's own view of a PostgreSQL deployment: its cost counters and table sizes, read on
 * a connection of the bench's. The run's tasks are read through the API (api-reader.ts), not here.
 */
export class PostgresCounters {
  readonly connection: CountedConnection;

  constructor(readonly schema: BenchSchema) {
    this.connection = new CountedConnection(schema.databaseUrl);
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
  /**
   * Statements the bench's own connections had sent when the counters were read, and its reads
   * through the API (each one transaction of the Scheduler's: a list page or a count).
   */
  benchStatements: number;
}

/**
 * Reads the database's cost counters. They are updated with a delay: a backend reports its counts
 * at most once a second while busy and about 10 s after it went idle (or when it exits), so the
 * final reading is taken after the Scheduler has stopped and its connections have closed.
 */
export async function readCounters(counters: PostgresCounters, apiReads = 0, ownConnections: readonly CountedConnection[] = []): Promise<DatabaseCounters> {
  // PG15+: flush this session's own pending counts before reading (older servers lack the function).
  await counters.connection.query("SELECT pg_stat_force_next_flush()").catch(() => undefined);
  const [database] = await counters.connection.query<{ commits: number }>(
    "SELECT xact_commit::float8 AS commits FROM pg_stat_database WHERE datname = current_database()");
  const [tables] = await counters.connection.query<{ rows: number }>(`
    SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::float8 AS rows
    FROM pg_stat_user_tables WHERE schemaname = $1`, [counters.schema.name]);
  const benchStatements = apiReads + [counters.connection, ...ownConnections].reduce((sum, connection) => sum + connection.statements, 0);
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
  async horizonAge(counters: PostgresCounters): Promise<number> {
    const [row] = await counters.connection.query<{ age: number }>(
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
