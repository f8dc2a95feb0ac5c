import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openSqlite, usableSqliteDrivers } from "../../src/store/sqlite/driver.js";
import type { SqliteDatabase } from "../../src/store/sqlite/driver.js";
import { migrations } from "../../src/store/sqlite/migrations/index.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { SqliteStoreOptions } from "../../src/store/sqlite/sqlite-store.js";
import { byteList, bytes, describeTaskStoreConformance, newTask, T0, terms } from "./conformance.js";

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
  describeTaskStoreConformance(`sqlite file, ${driver}`, () => Promise.resolve(new SqliteStore({ path: freshPath(), driver })));
  describeTaskStoreConformance(`sqlite :memory:, ${driver}`, () => Promise.resolve(new SqliteStore({ path: ":memory:", driver })));
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
    expect(await after.expireAttempts(T0 + terms.leaseMs - 1, () => 0)).toEqual([]);
    const expired = await after.expireAttempts(T0 + terms.leaseMs, () => 0);
    expect(expired.map((e) => [e.taskId, e.attempt, e.workerId, e.reason])).toEqual([["running", 1, "w1", "lease expired"]]);
    expect(expired[0]?.event.sequence).toBe(4);

    const [reclaimed] = await after.claim([{ workerId: "w2", names: ["resize"], limit: 5 }], T0 + terms.leaseMs, terms);
    expect(reclaimed?.map((c) => c.taskId)).toEqual(["queued"]);
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
