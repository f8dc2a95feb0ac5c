import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { GroupCommit } from "../../packages/server/src/store/sqlite/group-commit.js";
import { openSqlite, usableSqliteDrivers } from "../../packages/server/src/store/sqlite/driver.js";
import type { SqliteDatabase } from "../../packages/server/src/store/sqlite/driver.js";
import { migrations } from "../../packages/server/src/store/sqlite/migrations/index.js";
import { storeErrorFrom } from "../../packages/server/src/store/sqlite/store-errors.js";
import { SqliteStore } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import { claimSql } from "../../packages/server/src/store/sqlite/sql/claim.js";
import { countWaitingByNameSql } from "../../packages/server/src/store/sqlite/sql/enqueue.js";
import { nextDueAtSql, promoteDueScheduledSql } from "../../packages/server/src/store/sqlite/sql/retries.js";
import type { SqliteStoreOptions } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import { byteList, bytes, describeTaskStoreConformance, newTask, noBackoff, T0, terms } from "./conformance.js";

let directory = "";
let fileCount = 0;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "orchestrator-sqlite-store-"));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** A path no store has used yet, inside this file's temporary directory. */
function freshPath(): string {
  fileCount += 1;
  return join(directory, `store-${fileCount}.db`);
}

/** Reads the file through a second, read-only connection, as an outside observer would. */
function inspect<T>(path: string, read: (db: SqliteDatabase) => T): T {
  const db = openSqlite(path, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

// Every driver this Node can run (node:sqlite on 22.16+ and 24, better-sqlite3 on 20 and 22): the
// suite that passes on one must pass on the other.
for (const driver of usableSqliteDrivers()) {
  describeTaskStoreConformance(`sqlite file, ${driver}`, (options) => Promise.resolve(new SqliteStore({ path: freshPath(), driver, ...options })));
  describeTaskStoreConformance(`sqlite :memory:, ${driver}`, (options) => Promise.resolve(new SqliteStore({ path: ":memory:", driver, ...options })));
}

describe.each(usableSqliteDrivers())("SqliteStore on a file, %s", (driver) => {
  const opened: SqliteStore[] = [];

  async function openStore(options: SqliteStoreOptions): Promise<SqliteStore> {
    const store = new SqliteStore({ driver, ...options });
    opened.push(store);
    await store.migrate();
    return store;
  }

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  it("keeps a paused name paused across close and reopen", async () => {
    const path = freshPath();
    const before = await openStore({ path });
    await before.pauseName("resize", "deploying", T0);
    await before.enqueue([newTask("held")], T0 + 1);
    await before.close();
    const after = await openStore({ path });
    expect(await after.listPausedNames()).toEqual([{ name: "resize", reason: "deploying", pausedAt: T0 }]);
    const [claimed] = await after.claim([{ workerId: "w1", names: ["resize"], limit: 10 }], T0 + 2, terms);
    expect(claimed).toEqual([]);
    await after.resumeName("resize");
    const [resumed] = await after.claim([{ workerId: "w1", names: ["resize"], limit: 10 }], T0 + 3, terms);
    expect(resumed?.map((attempt) => attempt.taskId)).toEqual(["held"]);
  });

  it("keeps keyed tasks bound, rate limits and throttles in force across close and reopen (the claim's fast path knows them from the file)", async () => {
    const path = freshPath();
    const before = await openStore({ path });
    await before.setConcurrencyLimit("resize", 1, T0);
    await before.setRateLimit("email", 1, 60_000, T0);
    await before.enqueue([newTask("a1", { concurrencyKey: "A" }), newTask("a2", { concurrencyKey: "A" }), newTask("e1", { name: "email" }), newTask("e2", { name: "email" }),
      newTask("s1", { name: "sms" }), newTask("s2", { name: "sms" })], T0);
    const [first] = await before.claim([{ workerId: "w1", names: ["resize", "email", "sms"], limit: 3 }], T0 + 1, terms);
    expect(first?.map((attempt) => attempt.taskId).sort()).toEqual(["a1", "e1", "s1"]);
    await before.deferRateLimited({ taskId: "s1", attempt: 1 }, 10_000, "upstream said slow down", T0 + 2);
    await before.close();

    const after = await openStore({ path });
    // a1 still runs (bound 1), email's minute allows no second start, sms is throttled until T0 + 10,002.
    const [second] = await after.claim([{ workerId: "w2", names: ["resize", "email", "sms"], limit: 10 }], T0 + 3, terms);
    expect(second).toEqual([]);
    await after.complete({ taskId: "a1", attempt: 1 }, bytes("ok"), T0 + 4);
    const [third] = await after.claim([{ workerId: "w2", names: ["resize", "email", "sms"], limit: 10 }], T0 + 5, terms);
    expect(third?.map((attempt) => attempt.taskId)).toEqual(["a2"]);
  });

  it("keeps queued, running and finished tasks across close and reopen", async () => {
    const path = freshPath();
    const before = await openStore({ path });
    await before.enqueue([newTask("finished"), newTask("running"), newTask("queued")], T0);
    const [claimed] = await before.claim([{ workerId: "w1", names: ["resize"], limit: 2 }], T0, terms);
    expect(claimed?.map((c) => c.taskId)).toEqual(["finished", "running"]);
    await before.progress({ taskId: "running", attempt: 1 }, 30, "a third", T0 + 1);
    await before.complete({ taskId: "finished", attempt: 1 }, new Uint8Array([1, 0, 255]), T0 + 2);
    await before.close();

    const after = await openStore({ path });
    expect(await after.getTask("queued")).toMatchObject({ state: "queued", attempt: 0 });
    expect(await after.getTask("running")).toMatchObject({ state: "running", attempt: 1, workerId: "w1", percent: 30, message: "a third" });
    const finished = await after.getTask("finished");
    expect(finished).toMatchObject({ state: "succeeded", finishedAt: T0 + 2 });
    expect(byteList(finished?.result)).toEqual([1, 0, 255]);
    expect((await after.listEvents("running", 0)).map((e) => e.sequence)).toEqual([1, 2, 3]);
    expect(await after.countWaiting()).toBe(1);

    // The running attempt kept its lease: it is not expired early, and it is once the lease passes.
    expect(await after.expireAttempts(T0 + terms.leaseMs - 1, noBackoff)).toEqual([]);
    const expired = await after.expireAttempts(T0 + terms.leaseMs, noBackoff);
    expect(expired.map((e) => [e.taskId, e.attempt, e.workerId, e.reason])).toEqual([["running", 1, "w1", "lease expired"]]);
    expect(expired[0]?.event.sequence).toBe(4);

    const [reclaimed] = await after.claim([{ workerId: "w2", names: ["resize"], limit: 5 }], T0 + terms.leaseMs, terms);
    expect(reclaimed?.map((c) => c.taskId)).toEqual(["queued"]);
  });

  it("claims and promotes through partial indexes in order: no scan of the table, no sort of the queue", async () => {
    const path = freshPath();
    const store = await openStore({ path });
    await store.enqueue(Array.from({ length: 200 }, (_, i) => newTask(`t${i}`, { priority: i % 7, runAt: i % 2 === 0 ? T0 + i : null })), T0);
    await store.analyze();
    const plans = inspect(path, (db) => [claimSql, promoteDueScheduledSql, nextDueAtSql].map((text) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all({ workerId: "w", name: "resize", limit: 10, now: T0, leaseExpiresAt: 0, deadlineGraceMs: 0 }) as Array<{ detail: string }>)
        .map((row) => row.detail).join("\n")));
    const [claimPlan, promotePlan, nextDuePlan] = plans;
    expect(claimPlan).toContain("tasks_claim");
    // The paused-name test is a primary-key search of paused_names, not a scan.
    expect(claimPlan).toMatch(/SEARCH paused_names USING PRIMARY KEY/);
    expect(claimPlan).not.toMatch(/SCAN paused_names/);
    expect(promotePlan).toContain("tasks_scheduled_due");
    expect(nextDuePlan).toContain("tasks_scheduled_due");
    for (const plan of plans) {
      expect(plan).not.toMatch(/TEMP B-TREE/);
      expect(plan).not.toMatch(/SCAN tasks(?! USING)/);
    }
  });

  it("counts waiting tasks by name and state through the (state, name) index: no scan of the finished rows, no sort", async () => {
    const path = freshPath();
    const store = await openStore({ path });
    await store.enqueue(Array.from({ length: 200 }, (_, i) => newTask(`t${i}`, { name: `n${i % 5}` })), T0);
    await store.analyze();
    const [plan] = inspect(path, (db) => [(db.prepare(`EXPLAIN QUERY PLAN ${countWaitingByNameSql}`).all() as Array<{ detail: string }>).map((row) => row.detail).join("\n")]);
    expect(plan?.match(/SEARCH tasks USING COVERING INDEX tasks_by_state_name \(state=\?\)/g), plan).toHaveLength(3);
    expect(plan).not.toMatch(/TEMP B-TREE/);
    expect(plan).not.toMatch(/SCAN tasks/);
  });

  it("commits writes still pending when the store is closed", async () => {
    const path = freshPath();
    const before = await openStore({ path });
    const pending = before.enqueue([newTask("t1")], T0);
    await before.close();
    expect(await pending).toMatchObject([{ taskId: "t1", sequence: 1 }]);

    const after = await openStore({ path });
    expect((await after.getTask("t1"))?.state).toBe("queued");
  });

  it("migrate() is idempotent, on one connection and after reopening", async () => {
    const path = freshPath();
    const first = await openStore({ path });
    await first.migrate();
    await first.enqueue([newTask("t1")], T0);
    await first.migrate();
    expect((await first.getTask("t1"))?.state).toBe("queued");
    await first.close();

    const second = await openStore({ path });
    await second.migrate();
    expect((await second.getTask("t1"))?.state).toBe("queued");
    await second.close();

    const versions = inspect(path, (db) => db.prepare("SELECT version FROM schema_migrations ORDER BY version").pluck().all());
    expect(versions).toEqual(migrations.map((migration) => migration.version));
  });

  it("answers a key stored before fingerprints existed with its task, whatever the request (nothing to compare)", async () => {
    const path = freshPath();
    const store = await openStore({ path });
    await store.enqueue([newTask("a", { idempotencyKey: "old-key" })], T0);
    store["db"].prepare("UPDATE idempotency_keys SET fingerprint = NULL").run();
    const [again] = await store.enqueue([newTask("b", { idempotencyKey: "old-key", payload: bytes("another request") })], T0 + 1);
    expect(again?.taskId).toBe("a");
    expect(await store.getTask("b")).toBeNull();
  });

  it("puts the file in WAL mode", async () => {
    const path = freshPath();
    const store = await openStore({ path });
    await store.enqueue([newTask("t1")], T0);
    expect(store["db"].pragma("journal_mode", { simple: true })).toBe("wal");
    expect(inspect(path, (db) => db.pragma("journal_mode", { simple: true }))).toBe("wal");
  });

  it.each([
    { synchronous: undefined, level: 2 },
    { synchronous: "full", level: 2 },
    { synchronous: "normal", level: 1 },
  ] as const)("works with synchronous=$synchronous (SQLite level $level)", async ({ synchronous, level }) => {
    const path = freshPath();
    const store = await openStore({ path, ...(synchronous ? { synchronous } : {}) });
    expect(store["db"].pragma("synchronous", { simple: true })).toBe(level);
    await store.enqueue([newTask("t1"), newTask("t2")], T0);
    const [claimed] = await store.claim([{ workerId: "w1", names: ["resize"], limit: 2 }], T0, terms);
    expect(claimed).toHaveLength(2);
    expect(await store.complete({ taskId: "t1", attempt: 1 }, bytes("done"), T0 + 1)).toMatchObject({ state: "succeeded" });
    await store.close();

    const reopened = await openStore({ path, ...(synchronous ? { synchronous } : {}) });
    expect(byteList((await reopened.getTask("t1"))?.result)).toEqual(byteList(bytes("done")));
    expect((await reopened.getTask("t2"))?.state).toBe("running");
  });
});

describe("SQLite errors", () => {
  it("maps SQLITE_FULL and SQLITE_IOERR* to RESOURCE_EXHAUSTED naming the data directory, and leaves other errors alone", () => {
    const sqliteError = (code: string): Error => Object.assign(new Error("database or disk is full"), { code });
    const full = storeErrorFrom(sqliteError("SQLITE_FULL"), "/var/lib/orchestrator") as OrchestratorError;
    expect(full).toBeInstanceOf(OrchestratorError);
    expect(full.code).toBe(Code.ResourceExhausted);
    expect(full.rawMessage).toContain("the scheduler's disk is full (data directory /var/lib/orchestrator)");
    for (const code of ["SQLITE_IOERR", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC"]) {
      const ioError = storeErrorFrom(sqliteError(code), "/d") as OrchestratorError;
      expect(ioError.code, code).toBe(Code.ResourceExhausted);
      expect(ioError.rawMessage, code).toContain(`(${code}, data directory /d)`);
    }
    const constraint = sqliteError("SQLITE_CONSTRAINT_UNIQUE");
    expect(storeErrorFrom(constraint, "/d")).toBe(constraint);
    expect(storeErrorFrom(sqliteError("ENOENT"), "/d")).toBeInstanceOf(Error);
  });

  it("fails the whole batch when a write's error rolled back the transaction itself, so no later write commits on its own", async () => {
    const db = openSqlite(":memory:");
    try {
      db.exec("CREATE TABLE t (x INTEGER)");
      const writes = new GroupCommit(db);
      const outcomes = await Promise.allSettled([
        writes.run(() => db.prepare("INSERT INTO t VALUES (1)").run()),
        // As SQLite does on SQLITE_FULL or SQLITE_IOERR in the middle of a transaction.
        writes.run(() => {
          db.exec("ROLLBACK");
          throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
        }),
        writes.run(() => db.prepare("INSERT INTO t VALUES (3)").run()),
      ]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected", "rejected"]);
      expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });
});
