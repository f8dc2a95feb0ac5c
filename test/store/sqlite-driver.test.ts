// The driver seam under the store: each driver this Node can run must behave as better-sqlite3
// does where the store and the error mapping depend on it (codes, binding, transactions).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openSqlite, usableSqliteDrivers } from "../../packages/server/src/store/sqlite/driver.js";
import type { SqliteDatabase, SqliteDriverName } from "../../packages/server/src/store/sqlite/driver.js";
import { sqliteResultCodeName } from "../../packages/server/src/store/sqlite/result-codes.js";

let directory = "";

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "orchestrator-sqlite-driver-"));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** What `operation` threw, so its properties can be checked. */
function thrown(operation: () => unknown): Error & { code?: unknown } {
  try {
    operation();
  } catch (error) {
    return error as Error & { code?: unknown };
  }
  throw new Error("expected the operation to throw");
}

describe("sqliteResultCodeName", () => {
  it("names primary and extended codes as better-sqlite3 does", () => {
    expect(sqliteResultCodeName(13)).toBe("SQLITE_FULL");
    expect(sqliteResultCodeName(778)).toBe("SQLITE_IOERR_WRITE");
    expect(sqliteResultCodeName(2067)).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(sqliteResultCodeName(1555)).toBe("SQLITE_CONSTRAINT_PRIMARYKEY");
    expect(sqliteResultCodeName(5)).toBe("SQLITE_BUSY");
  });

  it("falls back to the primary code for an extended code it does not know", () => {
    expect(sqliteResultCodeName(10 | (99 << 8))).toBe("SQLITE_IOERR");
    expect(sqliteResultCodeName(99)).toBe("UNKNOWN_SQLITE_ERROR_99");
  });
});

it("runs at least one driver on this Node", () => {
  expect(usableSqliteDrivers().length).toBeGreaterThan(0);
});

describe.each(usableSqliteDrivers())("SQLite driver %s", (driver: SqliteDriverName) => {
  const opened: SqliteDatabase[] = [];
  let files = 0;

  function open(path = ":memory:", options: { readonly?: boolean; fileMustExist?: boolean } = {}): SqliteDatabase {
    const db = openSqlite(path, { ...options, driver });
    opened.push(db);
    return db;
  }

  function table(): SqliteDatabase {
    const db = open();
    db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, email TEXT UNIQUE, n INTEGER NOT NULL DEFAULT 0, b BLOB)");
    return db;
  }

  afterEach(() => {
    for (const db of opened.splice(0)) if (db.open) db.close();
  });

  it("reports its name", () => {
    expect(open().driver).toBe(driver);
  });

  it("puts SQLite's extended result-code name in each error's code", () => {
    const db = table();
    const insert = db.prepare("INSERT INTO t (id, email) VALUES (?, ?)");
    insert.run("a", "a@example.com");
    expect(thrown(() => insert.run("a", "other@example.com"))).toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY", message: "UNIQUE constraint failed: t.id" });
    expect(thrown(() => insert.run("b", "a@example.com"))).toMatchObject({ code: "SQLITE_CONSTRAINT_UNIQUE" });
    expect(thrown(() => db.prepare("INSERT INTO t (id, n) VALUES ('c', NULL)").run())).toMatchObject({ code: "SQLITE_CONSTRAINT_NOTNULL" });
    expect(thrown(() => db.prepare("SELEKT 1"))).toMatchObject({ code: "SQLITE_ERROR" });
    expect(thrown(() => db.exec("INSERT INTO nowhere VALUES (1)"))).toMatchObject({ code: "SQLITE_ERROR" });
  });

  it("reports a full database as SQLITE_FULL, and keeps working once there is room", () => {
    const db = table();
    const pages = Number(db.pragma("page_count", { simple: true }));
    db.pragma(`max_page_count = ${pages + 2}`);
    const insert = db.prepare("INSERT INTO t (id, b) VALUES (?, ?)");
    const write = db.transaction((count: number) => {
      for (let i = 0; i < count; i++) insert.run(`row-${i}`, new Uint8Array(4096));
    });
    expect(thrown(() => write(50))).toMatchObject({ code: "SQLITE_FULL" });
    expect(db.inTransaction).toBe(false);
    expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(0);
    db.pragma("max_page_count = 1000000");
    write(50);
    expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(50);
  });

  it("refuses to create a file that must exist, and to write a read-only one", () => {
    files += 1;
    const path = join(directory, `${driver.replace(":", "-")}-${files}.db`);
    expect(thrown(() => open(path, { readonly: true, fileMustExist: true }))).toMatchObject({ code: "SQLITE_CANTOPEN" });
    const writer = open(path);
    writer.exec("CREATE TABLE t (n INTEGER)");
    const reader = open(path, { readonly: true, fileMustExist: true });
    expect(thrown(() => reader.exec("INSERT INTO t VALUES (1)"))).toMatchObject({ code: "SQLITE_READONLY" });
  });

  it("binds and reads as better-sqlite3 does: undefined as NULL, extra named values ignored, BLOBs as Buffers", () => {
    const db = table();
    const insert = db.prepare("INSERT INTO t (id, email, b) VALUES (:id, :email, :b)");
    expect(insert.run({ id: "a", email: undefined, b: new Uint8Array([0, 1, 255]), unused: "ignored" })).toMatchObject({ changes: 1 });
    insert.run({ id: "b", email: null, b: null });
    const row = db.prepare("SELECT id, email, n, b FROM t WHERE id = ?").get("a") as Record<string, unknown>;
    expect(row).toEqual({ id: "a", email: null, n: 0, b: Buffer.from([0, 1, 255]) });
    expect(Buffer.isBuffer(row.b)).toBe(true);
    expect(Buffer.isBuffer(db.prepare("SELECT b FROM t WHERE id = 'a'").pluck().get())).toBe(true);
    expect(db.prepare("SELECT id FROM t WHERE id > ? ORDER BY id").pluck().all("")).toEqual(["a", "b"]);
    expect([...db.prepare("SELECT id FROM t ORDER BY id").iterate()]).toEqual([{ id: "a" }, { id: "b" }]);
    expect(db.prepare("SELECT id FROM t WHERE id = ?").get("none")).toBeUndefined();
  });

  it("answers pragmas as rows, or as one value when simple", () => {
    const db = open();
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5000);
    expect(db.pragma("cache_size", { simple: true })).toBe(-16000);
    expect(db.pragma("user_version")).toEqual([{ user_version: 0 }]);
  });

  it("commits a transaction that returns and rolls back one that throws", () => {
    const db = table();
    const insert = db.prepare("INSERT INTO t (id) VALUES (?)");
    const ids = (): unknown[] => db.prepare("SELECT id FROM t ORDER BY id").pluck().all();
    expect(db.transaction((id: string) => { insert.run(id); return "done"; })("a")).toBe("done");
    expect(thrown(() => db.transaction(() => { insert.run("b"); throw new Error("no"); })()).message).toBe("no");
    expect(ids()).toEqual(["a"]);
    expect(db.inTransaction).toBe(false);
  });

  it("nests transactions as savepoints: an inner failure undoes only the inner writes", () => {
    const db = table();
    const insert = db.prepare("INSERT INTO t (id) VALUES (?)");
    const inner = db.transaction((id: string) => insert.run(id));
    const outer = db.transaction(() => {
      insert.run("outer");
      inner("inner-1");
      expect(thrown(() => inner("outer")).code).toBe("SQLITE_CONSTRAINT_PRIMARYKEY");
      inner("inner-2");
      expect(db.inTransaction).toBe(true);
    });
    outer();
    expect(db.prepare("SELECT id FROM t ORDER BY id").pluck().all()).toEqual(["inner-1", "inner-2", "outer"]);
  });
});
