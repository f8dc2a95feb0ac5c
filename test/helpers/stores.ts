// The stores every Scheduler and end-to-end suite runs against (as Kysely runs each suite once per
// dialect): the embedded SQLite file and a shared PostgreSQL. Each test store is its own SQLite
// folder or its own PostgreSQL schema, removed afterwards.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { adminQuery, testPostgresServer } from "../store/postgres-schema.js";
import { SqliteStore } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import type { TaskRecord, TaskEvent, TaskStore } from "../../packages/server/src/store/store.js";
import { tempDir } from "./processes.js";

export type StoreBackend = "sqlite" | "postgres";
export const storeBackends: readonly StoreBackend[] = ["sqlite", "postgres"];

export { adminQuery };

export interface TestStore {
  readonly backend: StoreBackend;
  /** What a Scheduler process is given as --store. */
  readonly url: string;
  /** A store on the same data, to read invariants through (closed by the caller). */
  open(): Promise<TaskStore>;
  remove(): Promise<void>;
}

/** A fresh store; for SQLite, in `dataDir` (orchestrator.db, as a Scheduler's --data-dir) when given. */
export async function createTestStore(backend: StoreBackend, dataDir?: string): Promise<TestStore> {
  if (backend === "sqlite") {
    const directory = dataDir ? { path: dataDir, remove: () => undefined } : tempDir("orchestrator-store-");
    const path = join(directory.path, "orchestrator.db");
    return {
      backend, url: `sqlite:${path}`,
      open: () => Promise.resolve(new SqliteStore({ path })),
      remove: () => Promise.resolve(directory.remove()),
    };
  }
  const schema = `t_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  const url = `${testPostgresServer}?schema=${schema}`;
  return {
    backend, url,
    open: async () => {
      const { PostgresStore } = await import("../../packages/server/src/store/postgres/postgres-store.js");
      return new PostgresStore({ url });
    },
    remove: () => adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).then(() => undefined),
  };
}

export interface StoreContents {
  tasks: Map<string, TaskRecord>;
  events: Map<string, TaskEvent[]>;
}

/** Every task (with its events) as the store answers for it: how tests read invariants, on any backend. */
export async function readAllTasks(testStore: TestStore): Promise<StoreContents> {
  const store = await testStore.open();
  try {
    const tasks = new Map<string, TaskRecord>();
    const events = new Map<string, TaskEvent[]>();
    let cursor: string | undefined;
    do {
      const page = await store.listTasks({ limit: 500, cursor });
      for (const listed of page.tasks) {
        const task = await store.getTask(listed.id);
        if (task) tasks.set(task.id, task);
        events.set(listed.id, await store.listEvents(listed.id, 0));
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return { tasks, events };
  } finally {
    await store.close();
  }
}
