// node-postgres (`pg`) set up for the store: a connection string with an optional `schema` query
// parameter (the store's tables live there; it becomes the connections' search_path), a pool
// whose int8 columns read as numbers (every bigint here is epoch milliseconds or a row counter,
// far below 2^53), and the clock skew between this process and the database.
import { createHash } from "node:crypto";
import pg from "pg";
import type { Clock } from "../../util/clock.js";

export interface PostgresTarget {
  /** The connection string pg gets (without the `schema` parameter). */
  connectionString: string;
  /** Where the store's tables live. */
  schema: string;
  /** The database as messages name it: no password. */
  label: string;
}

const schemaPattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Reads `postgres://user[:password]@host[:port]/database[?schema=name&...]`. */
export function parsePostgresUrl(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`"${redact(url)}" is not a PostgreSQL URL; expected postgres://user@host:5432/database`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new Error(`"${redact(url)}" is not a PostgreSQL URL (it must start with postgres://)`);
  }
  const schema = parsed.searchParams.get("schema") ?? "public";
  if (!schemaPattern.test(schema)) {
    throw new Error(`schema "${schema}" in the PostgreSQL URL must be letters, digits and _ (not starting with a digit), at most 63`);
  }
  parsed.searchParams.delete("schema");
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || "(default database)";
  const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : "";
  const label = `postgres://${user}${parsed.host}/${database}${schema === "public" ? "" : ` (schema ${schema})`}`;
  return { connectionString: parsed.toString(), schema, label };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/** int8 (bigint, count(*)) as a number; everything else as pg parses it by default. */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary"): unknown {
    if (oid === pg.types.builtins.INT8 && format !== "binary") return (value: string) => Number(value);
    return format === "binary" ? pg.types.getTypeParser(oid, "binary") : pg.types.getTypeParser(oid, "text");
  },
};

/** What every connection of the store (pooled or the listener's) is opened with. */
export function connectionConfig(target: PostgresTarget, applicationName: string): pg.ClientConfig {
  return {
    connectionString: target.connectionString,
    // A quoted identifier keeps the schema's case; only [A-Za-z0-9_] gets here, so nothing to escape.
    // Sequential scans are priced out. A queue's tables change size by orders of magnitude within a
    // minute, and PostgreSQL caches a generic plan for a prepared statement after its first
    // executions: on a new store those run while `tasks` is empty, and a plan made then scanned the
    // whole table on every claim and completion until the next ANALYZE (W1 drained 600-1,300
    // tasks/s that way). Every hot statement has an index to use, and with sequential scans priced
    // out the plan made on an empty table is the one made on a full one (the claim's: tasks_claim;
    // test/store/postgres-plans.test.ts), so the cached generic plans are safe to keep. Planning
    // each statement afresh instead cost 0.3 ms for the claim on an idle VM, more than running it.
    options: `-c search_path="${target.schema}" -c enable_seqscan=off`,
    application_name: applicationName,
    types: types as pg.CustomTypesConfig,
  };
}

export function createPool(target: PostgresTarget, poolSize: number, onIdleError: (error: Error) => void, applicationName = "orchestrator scheduler"): pg.Pool {
  // Pipelined: a statement is sent without waiting for the answer to the one before, so a commit
  // batch sends BEGIN with its first statement and COMMIT with its last (see GroupCommit).
  const pool = new pg.Pool({ ...connectionConfig(target, applicationName), pipeline: true, max: poolSize, idleTimeoutMillis: 30_000 });
  // An idle pooled connection that the server closes (restart, pg_terminate_backend) emits 'error'
  // on the pool; without a listener that would end the process. The pool replaces it on next use.
  pool.on("error", onIdleError);
  return pool;
}

/** Double quotes an identifier that matched schemaPattern (or any other trusted name). */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export interface ClockSkew {
  /** Database time minus this process's clock, in ms: add it to a local time to get the database's. */
  skewMs: number;
  /** Half the round trip of the measurement: how far the true skew may be from skewMs. */
  uncertaintyMs: number;
}

/**
 * Measures how far the database's clock is from `clock`: the database's time is taken as of the
 * middle of the round trip. Leases and deadlines are compared on the database's clock, so that
 * Schedulers whose clocks disagree still agree on when a lease ran out.
 */
export async function measureClockSkew(pool: pg.Pool, clock: Clock): Promise<ClockSkew> {
  // On a connection already open (a first query would count the connect in the round trip), the
  // best of three round trips.
  const client = await pool.connect();
  try {
    let best: ClockSkew | null = null;
    for (let round = 0; round < 3; round += 1) {
      const before = clock.now();
      const result = await client.query<{ now: number }>("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now");
      const after = clock.now();
      const measured = { skewMs: Math.round(Number(result.rows[0]?.now) - (before + after) / 2), uncertaintyMs: Math.ceil((after - before) / 2) };
      if (best === null || measured.uncertaintyMs < best.uncertaintyMs) best = measured;
    }
    client.release();
    return best as ClockSkew;
  } catch (error) {
    client.release(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}

const statementNames = new Map<string, string>();

/**
 * The query as a named (prepared) statement: each connection parses and plans it once, not on
 * every call. The name is derived from the text, so it is the same on every connection.
 */
export function prepared(text: string, values: unknown[] = []): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `orchestrator_${createHash("sha1").update(text).digest("hex").slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

/**
 * A read that counts across the whole table (the overview's counts, CountTasks): the store's
 * connections price sequential scans out (connectionConfig), and reading a million rows through an
 * index instead takes three to four times as long. Sequential scans are allowed for this
 * transaction alone; the statement's text is read only this way, so its cached plan is made so too.
 */
export async function readScanning<R extends pg.QueryResultRow>(pool: pg.Pool, text: string, values: unknown[] = []): Promise<R[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN READ ONLY");
    await client.query("SET LOCAL enable_seqscan = on");
    const { rows } = await client.query<R>(prepared(text, values));
    await client.query("COMMIT");
    return rows;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
