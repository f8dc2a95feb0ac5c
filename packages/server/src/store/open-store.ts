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

/** A store URL for messages and logs: a password in it is never shown. */
export function redactStoreUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/** Which backend a store URL names: `sqlite:<path>` (or `sqlite::memory:`), `postgres://…`. */
export function storeKind(url: string): StoreKind {
  if (url.startsWith("sqlite:")) return "sqlite";
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return "postgres";
  throw new Error(`store "${redactStoreUrl(url)}" is neither sqlite:<path> nor postgres://user@host:5432/database`);
}

/**
 * The store a URL names, not yet migrated (call migrate() first). The PostgreSQL store and its
 * driver are loaded only when asked for, so the embedded default never loads them.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<TaskStore> {
  if (storeKind(url) === "sqlite") {
    const path = url.slice("sqlite:".length);
    if (path === "") throw new Error('store "sqlite:" names no file; use sqlite:./data/orchestrator.db');
    return new SqliteStore({ ...options.sqlite, path });
  }
  const { PostgresStore } = await import("./postgres/postgres-store.js");
  return new PostgresStore({ ...options.postgres, url });
}
