import { PostgresStore } from "./postgres/postgres-store.js";
import type { PostgresStoreOptions } from "./postgres/postgres-store.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { SqliteStoreOptions } from "./sqlite/sqlite-store.js";
import type { TaskStore } from "./store.js";

/** Each backend's own options, beside the URL that chooses the backend. */
export interface OpenStoreOptions {
  sqlite?: Omit<SqliteStoreOptions, "path">;
  postgres?: Omit<PostgresStoreOptions, "url">;
}

export type StoreKind = "sqlite" | "postgres";

/** Which backend a store URL names: `sqlite:<path>` (or `sqlite::memory:`), `postgres://…`. */
export function storeKind(url: string): StoreKind {
  if (url.startsWith("sqlite:")) return "sqlite";
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return "postgres";
  throw new Error(`store "${url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@")}" is neither sqlite:<path> nor postgres://user@host:5432/database`);
}

/** The store a URL names, not yet migrated (call migrate() first). */
export function openStore(url: string, options: OpenStoreOptions = {}): TaskStore {
  if (storeKind(url) === "sqlite") {
    const path = url.slice("sqlite:".length);
    if (path === "") throw new Error('store "sqlite:" names no file; use sqlite:./data/orchestrator.db');
    return new SqliteStore({ ...options.sqlite, path });
  }
  return new PostgresStore({ ...options.postgres, url });
}
