// The PostgreSQL store lets PostgreSQL cache generic plans of its statements (planning the claim
// afresh each time cost more than running it). PostgreSQL makes such a plan after a statement's
// first executions, and on a new store those run while the tables are empty: this file checks
// that a plan made then still reads the indexes once the queue holds thousands of tasks, on the
// connections' own settings.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { connectionConfig, parsePostgresUrl } from "../../packages/server/src/store/postgres/driver.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { claimSql, plainClaimSql } from "../../packages/server/src/store/postgres/sql/claim.js";
import { completeSql } from "../../packages/server/src/store/postgres/sql/complete.js";
import { currentAttemptSql, retryLaterSql } from "../../packages/server/src/store/postgres/sql/fail.js";
import { feedSql, listEventsSql } from "../../packages/server/src/store/postgres/sql/events.js";
import { expiredAttemptsSql, extendLeasesSql } from "../../packages/server/src/store/postgres/sql/leases.js";
import { progressSql } from "../../packages/server/src/store/postgres/sql/progress.js";
import { getTaskSql } from "../../packages/server/src/store/postgres/sql/read.js";
import { readEventsAfterSql } from "../../packages/server/src/store/postgres/sql/watch.js";
import { newTask, terms } from "./conformance.js";
import { TestSchemas } from "./postgres-schema.js";

const schemas = new TestSchemas();

afterAll(async () => {
  await schemas.dropAll();
});

/** A value as an SQL literal an EXECUTE argument takes (arrays as '{...}', typed by the statement). */
function literal(client: pg.Client, value: unknown): string {
  if (value === null) return "NULL";
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) {
    const items = value.map((item: unknown) => (item === null ? "NULL" : `"${String(item).replace(/["\\]/g, "\\$&")}"`));
    return client.escapeLiteral(`{${items.join(",")}}`);
  }
  return client.escapeLiteral(String(value));
}

describe("PostgreSQL store: cached generic plans", () => {
  it("a plan cached while the tables were empty still reads the indexes once 10,000 tasks are queued", async () => {
    const { url } = schemas.create("plans");
    const store = new PostgresStore({ url, listen: false });
    await store.migrate();
    const client = new pg.Client(connectionConfig(parsePostgresUrl(url), "orchestrator plan test"));
    await client.connect();
    try {
      // No ANALYZE may invalidate the cached plans while the tables fill: that would hide the trap.
      for (const table of ["tasks", "task_events"]) await client.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
      // What the leader's first ANALYZE records on a new store: empty tables.
      await client.query("ANALYZE tasks, task_events");
      // PostgreSQL caches a generic plan after five executions when it looks no dearer than the
      // custom ones; forced here, so the first execution makes the plan that is then kept.
      await client.query("SET plan_cache_mode = force_generic_plan");
      const now = Date.now();
      const statements: Array<[string, string, unknown[]]> = [
        ["plain claim", plainClaimSql, ["w1", ["resize"], 8, now, now + 30_000, 5_000, [null], [null]]],
        ["claim", claimSql, ["w1", "resize", 8, now, now + 30_000, 5_000]],
        ["complete", completeSql, [["t1", "t2"], [1, 1], ["\\x00", "\\x00"], [now, now]]],
        ["progress", progressSql, ["t1", 1, 50, "half"]],
        ["current attempt", currentAttemptSql, ["t1", 1]],
        ["retry later", retryLaterSql, ["t1", 1, "boom", now]],
        ["extend leases", extendLeasesSql, [["t1", "t2"], [1, 1], [now, now]]],
        ["expired attempts", expiredAttemptsSql, [now]],
        ["get task", getTaskSql, ["t1"]],
        ["list events", listEventsSql, ["t1", 0]],
        ["feed", feedSql, ["0", 0, 500, ["7"]]],
        ["watch tasks", readEventsAfterSql, ["0", "0", 500, ["resize"], null, null, null]],
      ];
      const execute = (index: number, values: unknown[]): string => `EXECUTE hot_${index}(${values.map((value) => literal(client, value)).join(", ")})`;
      for (const [index, [, text, values]] of statements.entries()) {
        await client.query(`PREPARE hot_${index} AS ${text}`);
        await client.query("BEGIN");
        await client.query(execute(index, values));
        await client.query("ROLLBACK");
      }

      for (let start = 0; start < 10_000; start += 1_000) {
        await store.enqueue(Array.from({ length: 1_000 }, (_, i) => newTask(`q${start + i}`)), Date.now());
      }
      await store.claim([{ workerId: "w1", names: ["resize"], limit: 500 }], Date.now(), terms);

      for (const [index, [what, , values]] of statements.entries()) {
        const plan = (await client.query(`EXPLAIN ${execute(index, values)}`)).rows.map((row: Record<string, unknown>) => String(row["QUERY PLAN"])).join("\n");
        expect(plan, what).not.toMatch(/Seq Scan on (tasks|task_events)\b/);
        if (what.endsWith("claim")) expect(plan, what).toContain("tasks_claim");
      }
    } finally {
      await client.end();
      await store.close();
    }
  });
});
