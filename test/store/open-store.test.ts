import { afterAll, describe, expect, it } from "vitest";
import { openStore, storeKind } from "../../packages/server/src/store/open-store.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { SqliteStore } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import { newTask, T0 } from "./conformance.js";
import { TestSchemas } from "./postgres-schema.js";

const schemas = new TestSchemas();

afterAll(async () => {
  await schemas.dropAll();
});

describe("openStore", () => {
  it("chooses the backend from the URL", () => {
    expect(storeKind("sqlite:./data/orchestrator.db")).toBe("sqlite");
    expect(storeKind("postgres://root@127.0.0.1:5432/test")).toBe("postgres");
    expect(storeKind("postgresql://root@127.0.0.1/test")).toBe("postgres");
    expect(() => storeKind("mysql://root:secret@h/db")).toThrow(/mysql:\/\/root:\*\*\*@h\/db.*neither sqlite:<path> nor postgres:\/\//);
  });

  it("refuses a sqlite: URL without a file", async () => {
    await expect(openStore("sqlite:")).rejects.toThrow(/names no file/);
  });

  it("opens a working store of each kind", async () => {
    for (const url of ["sqlite::memory:", schemas.create("open").url]) {
      const store = await openStore(url, { postgres: { poolSize: 2 } });
      expect(store).toBeInstanceOf(url.startsWith("sqlite") ? SqliteStore : PostgresStore);
      try {
        await store.migrate();
        await store.enqueue([newTask("t1")], T0);
        expect((await store.getTask("t1"))?.state).toBe("queued");
      } finally {
        await store.close();
      }
    }
  });
});
