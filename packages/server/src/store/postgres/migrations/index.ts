/**
 * Numbered migrations, applied in order, each once, inside one transaction with its version row.
 * Never edit a migration that has shipped: add the next number.
 */
import type pg from "pg";
import { quoteIdentifier } from "../driver.js";
import { initialSchema } from "./001_initial.js";
import { delaysAndPriorities } from "./002_delays_and_priorities.js";
import { pausedNames } from "./003_paused_names.js";
import { schedules } from "./004_schedules.js";
import { concurrencyKeys } from "./005_concurrency_keys.js";
import { rateLimits } from "./006_rate_limits.js";
import { keyUpsertWhenChanged } from "./007_key_upsert_when_changed.js";
import { finishedByName } from "./008_finished_by_name.js";
import { traceContext } from "./009_trace_context.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  initialSchema, delaysAndPriorities, pausedNames, schedules, concurrencyKeys, rateLimits, keyUpsertWhenChanged, finishedByName, traceContext,
];

/** The first key of the advisory lock the migrations of every schema take (the second is the schema's hash). */
const migrationLockClass = 0x6f726368; // "orch"

/**
 * Creates the schema if missing and applies the migrations not yet applied, holding a session
 * advisory lock for the schema: Schedulers starting together wait for the first, then find
 * nothing left to do.
 */
export async function runMigrations(client: pg.ClientBase, schema: string, now: number): Promise<void> {
  await client.query("SELECT pg_advisory_lock($1, hashtext($2))", [migrationLockClass, schema]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${quoteIdentifier(schema)}.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
    const applied = await client.query<{ version: number }>(`SELECT version FROM ${quoteIdentifier(schema)}.schema_migrations`);
    const done = new Set(applied.rows.map((row) => Number(row.version)));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query("BEGIN");
      try {
        await client.query(`SET LOCAL search_path = ${quoteIdentifier(schema)}`);
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${quoteIdentifier(schema)}.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [migration.version, migration.name, now]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw error;
      }
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [migrationLockClass, schema]);
  }
}
