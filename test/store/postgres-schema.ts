/**
 * A PostgreSQL schema of its own for a test (or a test file): created empty, dropped afterwards,
 * so suites never share tables nor touch the public schema. PostgreSQL 15 runs on 127.0.0.1:5432
 * with trust auth (ORCHESTRATOR_TEST_POSTGRES_URL overrides the server).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const testPostgresServer = process.env.ORCHESTRATOR_TEST_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test";

export interface TestSchema {
  schema: string;
  /** The store URL: the server with ?schema=<schema>. */
  url: string;
  drop(): Promise<void>;
}

/** Runs one statement on a short-lived connection (admin work a test does beside the stores). */
export async function adminQuery<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: testPostgresServer });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh schema name (the store creates the schema on migrate; drop() removes it and everything in it). */
export function createTestSchema(prefix = "test"): TestSchema {
  const schema = `${prefix}_${randomBytes(6).toString("hex")}`;
  const url = new URL(testPostgresServer);
  url.searchParams.set("schema", schema);
  return {
    schema,
    url: url.toString(),
    drop: async () => {
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

/** Schemas made through it are dropped together (e.g. in afterAll). */
export class TestSchemas {
  private readonly made: TestSchema[] = [];

  create(prefix?: string): TestSchema {
    const schema = createTestSchema(prefix);
    this.made.push(schema);
    return schema;
  }

  async dropAll(): Promise<void> {
    for (const schema of this.made.splice(0)) await schema.drop();
  }
}

/** Runs `body` on a connection whose search_path is `schema` (to look at a store's tables as an outsider). */
export async function withSchemaClient<T>(schema: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testPostgresServer, options: `-c search_path="${schema}"` });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}
