// The PostgreSQL store's connections are pipelined: a commit batch sends BEGIN with its first
// statement and COMMIT right behind its last, without waiting for their answers. These tests hold
// the batch to what it promised before: writes of one batch commit together or not at all, a
// failing write fails alone, and the event feed never reports this process's own commit as
// another writer's, even when that commit becomes visible before its id has been read.
import type pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createPool, parsePostgresUrl } from "../../packages/server/src/store/postgres/driver.js";
import { GroupCommit } from "../../packages/server/src/store/postgres/group-commit.js";
import type { MergeableWrite, Transaction } from "../../packages/server/src/store/postgres/group-commit.js";
import { EventFeed } from "../../packages/server/src/store/postgres/listener.js";
import type { Notifier } from "../../packages/server/src/store/postgres/listener.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { LocalSignals } from "../../packages/server/src/store/signals.js";
import type { TaskEvent } from "../../packages/server/src/store/store.js";
import { newTask } from "./conformance.js";
import { TestSchemas, withSchemaClient } from "./postgres-schema.js";

const schemas = new TestSchemas();
const pools: pg.Pool[] = [];

afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.end();
});

afterAll(async () => {
  await schemas.dropAll();
});

async function poolOnTable(): Promise<{ pool: pg.Pool; schema: string }> {
  const { schema, url } = schemas.create("pipeline");
  await withSchemaClient("public", (client) => client.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".rows (id int PRIMARY KEY)`));
  const pool = createPool(parsePostgresUrl(url), 2, () => undefined, "orchestrator pipeline test");
  pools.push(pool);
  return { pool, schema };
}

/** A group commit whose finish step runs `finish`; each commit's recorded events go to `committed`. */
function groupCommit(
  pool: pg.Pool, finish: (tx: Transaction) => Promise<void> = () => Promise.resolve(), committed: TaskEvent[][] = [],
  options: ConstructorParameters<typeof GroupCommit>[2] = {},
): GroupCommit {
  return new GroupCommit(pool, { skew: () => Promise.resolve(0), finish, committed: (recorded) => committed.push(recorded.events), errorFrom: (error) => error }, options);
}

const insertRow = (id: number) => async (tx: Transaction): Promise<number> => {
  await tx.query("INSERT INTO rows (id) VALUES ($1)", [id]);
  return id;
};

/** Inserts of rows, each recording its event before the answer (as a submit does), all in one statement: one-trip writes. */
const upfrontInserts: MergeableWrite<number, number> = {
  oneTrip: () => true,
  runMany: async (tx, ids) => {
    const inserted = tx.query("INSERT INTO rows (id) SELECT unnest($1::int[])", [ids]);
    for (const id of ids) tx.log.record({ taskId: `row-${id}`, sequence: 1 } as TaskEvent);
    await inserted;
    return ids;
  },
};

/**
 * The pool with each statement's sending and answer logged by its first word ("send BEGIN",
 * "answer BEGIN"), in the order they happen.
 */
function loggingPool(pool: pg.Pool, log: string[]): pg.Pool {
  const connect = async (): Promise<pg.PoolClient> => {
    const client = await pool.connect();
    const query = client.query.bind(client) as (config: string | pg.QueryConfig, ...rest: unknown[]) => Promise<pg.QueryResult>;
    const logged = (config: string | pg.QueryConfig, ...rest: unknown[]): Promise<pg.QueryResult> => {
      // The client goes back to the pool with this query: the pool's own calls (values, callback) pass unlogged.
      if (rest.length > 0) return query(config, ...rest);
      const word = (typeof config === "string" ? config : config.text).trim().split(/\s+/)[0] ?? "";
      log.push(`send ${word}`);
      return query(config).then((result) => {
        log.push(`answer ${word}`);
        return result;
      });
    };
    return Object.assign(client, { query: logged });
  };
  return { connect } as unknown as pg.Pool;
}

async function storedIds(schema: string): Promise<number[]> {
  const result = await withSchemaClient(schema, (client) => client.query<{ id: number }>("SELECT id FROM rows ORDER BY id"));
  return result.rows.map((row) => row.id);
}

describe("PostgreSQL commit batches on a pipelined connection", () => {
  it("runs the writes asked for in one turn in one transaction, each statement of it inside", async () => {
    const { pool, schema } = await poolOnTable();
    const writes = groupCommit(pool);
    const transactionOf = async (tx: Transaction): Promise<string> => (await tx.query<{ id: string }>("SELECT pg_current_xact_id()::text AS id")).rows[0]?.id ?? "";
    const [first, , second] = await Promise.all([writes.run(transactionOf), writes.run(insertRow(1)), writes.run(transactionOf)]);
    expect(first).toBe(second);
    expect(writes.stats.commits).toBe(1);
    expect(await storedIds(schema)).toEqual([1]);
  });

  it("sends BEGIN with the first statement and COMMIT behind the last, before their answers", async () => {
    const { pool, schema } = await poolOnTable();
    const log: string[] = [];
    const writes = groupCommit(loggingPool(pool, log), (tx) => tx.query("SELECT 1 AS finished").then(() => undefined));
    await writes.run(insertRow(1));
    expect(log.indexOf("send INSERT")).toBeLessThan(log.indexOf("answer BEGIN"));
    expect(log.indexOf("send COMMIT")).toBeLessThan(log.indexOf("answer SELECT"));
    expect(log.filter((entry) => entry.startsWith("answer"))).toEqual(["answer BEGIN", "answer INSERT", "answer SELECT", "answer COMMIT"]);
    expect(await storedIds(schema)).toEqual([1]);
  });

  it("sends the first statements of a batch's writes together, before the first write's answer", async () => {
    const { pool, schema } = await poolOnTable();
    const log: string[] = [];
    const writes = groupCommit(loggingPool(pool, log));
    await Promise.all([writes.run(insertRow(1)), writes.run(insertRow(2)), writes.run(insertRow(3))]);
    const secondSent = log.indexOf("send INSERT", log.indexOf("send INSERT") + 1);
    expect(log.lastIndexOf("send INSERT")).toBeLessThan(log.indexOf("answer INSERT"));
    expect(secondSent).toBeGreaterThan(0);
    expect(await storedIds(schema)).toEqual([1, 2, 3]);
  });

  it("lets every write of a failed batch settle before running it again: nothing of the first run reaches the second", async () => {
    const { pool, schema } = await poolOnTable();
    const committed: TaskEvent[][] = [];
    const writes = groupCommit(pool, undefined, committed);
    await writes.run(insertRow(1));
    // The first write fails on its second statement; the second write is still busy after its
    // first answer (a slow step), then sends another statement and records an event.
    const failsLate = async (tx: Transaction): Promise<void> => {
      await tx.query("INSERT INTO rows (id) VALUES (10)");
      await tx.query("INSERT INTO rows (id) VALUES (1)");
    };
    const slow = async (tx: Transaction): Promise<string> => {
      await tx.query("INSERT INTO rows (id) VALUES (20)");
      await new Promise((resolve) => setTimeout(resolve, 100));
      await tx.query("INSERT INTO rows (id) VALUES (21)");
      tx.log.record({ taskId: "slow", sequence: 1 } as TaskEvent);
      return "slow";
    };
    const outcomes = await Promise.allSettled([writes.run(failsLate), writes.run(slow)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "fulfilled"]);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/duplicate key/);
    expect(await storedIds(schema)).toEqual([1, 20, 21]);
    expect(committed.at(-1)?.map((event) => event.taskId)).toEqual(["slow"]);
  });

  it("reports a task's events of one batch in sequence order, whichever write's answer was handled first", async () => {
    const { pool } = await poolOnTable();
    const committed: TaskEvent[][] = [];
    const writes = groupCommit(pool, undefined, committed);
    // The first write (an enqueue) records after a slow step; the second (the claim of its task) at once.
    const enqueue = async (tx: Transaction): Promise<void> => {
      await tx.query("INSERT INTO rows (id) VALUES (1)");
      await new Promise((resolve) => setTimeout(resolve, 50));
      tx.log.record({ taskId: "x", sequence: 1 } as TaskEvent);
    };
    const claim = async (tx: Transaction): Promise<void> => {
      await tx.query("UPDATE rows SET id = 2 WHERE id = 1");
      tx.log.record({ taskId: "other", sequence: 4 } as TaskEvent);
      tx.log.record({ taskId: "x", sequence: 2 } as TaskEvent);
    };
    await Promise.all([writes.run(enqueue), writes.run(claim)]);
    expect(committed.at(-1)?.map((event) => `${event.taskId}#${event.sequence}`)).toEqual(["other#4", "x#1", "x#2"]);
  });

  it("sends a batch of writes that record before their answers (submits) with COMMIT behind, in one round trip", async () => {
    const { pool, schema } = await poolOnTable();
    const log: string[] = [];
    const committed: TaskEvent[][] = [];
    const countEvents = (tx: Transaction): Promise<void> => tx.query("SELECT $1::int AS events", [tx.log.recordedEvents.length]).then(() => undefined);
    const writes = groupCommit(loggingPool(pool, log), countEvents, committed);
    const outcomes = await Promise.allSettled([writes.runMerged(upfrontInserts, 1), writes.runMerged(upfrontInserts, 2)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(log.indexOf("send COMMIT")).toBeGreaterThan(0);
    expect(log.indexOf("send COMMIT")).toBeLessThan(log.indexOf("answer INSERT"));
    expect(committed.at(-1)?.map((event) => event.taskId)).toEqual(["row-1", "row-2"]);
    expect(await storedIds(schema)).toEqual([1, 2]);
  });

  it("runs such a batch again, each write alone, when one of its writes fails after COMMIT was sent", async () => {
    const { pool, schema } = await poolOnTable();
    const committed: TaskEvent[][] = [];
    const writes = groupCommit(pool, undefined, committed);
    await writes.run(insertRow(1));
    const outcomes = await Promise.allSettled([2, 1, 3].map((id) => writes.runMerged(upfrontInserts, id)));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/duplicate key/);
    expect(await storedIds(schema)).toEqual([1, 2, 3]);
    expect(committed.at(-1)?.map((event) => event.taskId)).toEqual(["row-2", "row-3"]);
  });

  it("refuses a one-trip write's statement sent after its batch's COMMIT: it never runs outside the batch", async () => {
    const { pool, schema } = await poolOnTable();
    // Declared one-trip, but it waits for its first answer and sends another statement: in one trip
    // that statement would run after COMMIT, in a transaction of its own.
    const twoStatements: MergeableWrite<number, number> = {
      oneTrip: () => true,
      runMany: async (tx, ids) => {
        const id = ids[0] ?? 0;
        await tx.query("INSERT INTO rows (id) VALUES ($1)", [id]);
        await tx.query("INSERT INTO rows (id) VALUES ($1)", [id + 1]);
        return [id];
      },
    };
    const writes = groupCommit(pool);
    const outcomes = await Promise.allSettled([writes.runMerged(twoStatements, 10), writes.runMerged(upfrontInserts, 20)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "fulfilled"]);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/after its batch's COMMIT/);
    // The batch committed (its statements all succeeded) and stands; the late statement never ran.
    expect(await storedIds(schema)).toEqual([10, 20]);
  });

  it("fails a failing write alone: the others of its batch commit", async () => {
    const { pool, schema } = await poolOnTable();
    const writes = groupCommit(pool);
    await writes.run(insertRow(1));
    const outcomes = await Promise.allSettled([writes.run(insertRow(2)), writes.run(insertRow(1)), writes.run(insertRow(3))]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/duplicate key/);
    expect(await storedIds(schema)).toEqual([1, 2, 3]);
  });

  it("commits nothing of a batch whose last statement (sent with COMMIT behind it) fails", async () => {
    const { pool, schema } = await poolOnTable();
    // The batch's own last statement fails after the writes succeeded: the COMMIT already on its
    // way must not commit the writes before it (the first of which went out with BEGIN).
    const writes = groupCommit(pool, (tx) => tx.query("SELECT 1 / 0").then(() => undefined));
    const outcomes = await Promise.allSettled([writes.run(insertRow(1)), writes.run(insertRow(2))]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/division by zero/);
    expect(await storedIds(schema)).toEqual([]);
    // The connection is clean for the next batch.
    const healthy = groupCommit(pool);
    await healthy.run(insertRow(4));
    expect(await storedIds(schema)).toEqual([4]);
  });
});

/** A one-trip insert whose one statement takes `seconds` (pg_sleep) before it inserts. */
function slowInserts(seconds: number): MergeableWrite<number, number> {
  return {
    oneTrip: () => true,
    runMany: async (tx, ids) => {
      const inserted = tx.query("INSERT INTO rows (id) SELECT id FROM unnest($1::int[]) AS id, pg_sleep($2)", [ids, seconds]);
      for (const id of ids) tx.log.record({ taskId: `row-${id}`, sequence: 1 } as TaskEvent);
      await inserted;
      return ids;
    },
  };
}

/** A one-trip insert of one row that records its event before the answer (as a claim does): run it with `beside` to start its batch at once. */
const besideInsert = (id: number) => (tx: Transaction): Promise<number> => {
  const inserted = tx.query("INSERT INTO rows (id) VALUES ($1)", [id]);
  tx.log.record({ taskId: `row-${id}`, sequence: 1 } as TaskEvent);
  return inserted.then(() => id);
};
const beside = { oneTrip: true, beside: true };

/** Polls (every 5 ms, up to 5 s) until `id` is stored; answers the ids stored then. */
async function untilStored(schema: string, id: number): Promise<number[]> {
  for (let tries = 0; tries < 1_000; tries++) {
    const ids = await storedIds(schema);
    if (ids.includes(id)) return ids;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`row ${id} was never stored`);
}

describe("PostgreSQL one-trip batches at once", () => {
  it("commits a batch with a write asked to go beside while another is in flight, on its own connection, and reports both in the order they started", async () => {
    const { pool, schema } = await poolOnTable();
    const committed: TaskEvent[][] = [];
    const writes = groupCommit(pool, undefined, committed, { batchesAtOnce: 2 });
    const resolved: number[] = [];
    const slow = writes.runMerged(slowInserts(0.5), 1).then((id) => resolved.push(id));
    // The next turn: the slow batch is in flight.
    await new Promise((resolve) => setImmediate(resolve));
    const fast = writes.run(besideInsert(2), beside).then((id) => resolved.push(id));
    // The second batch commits while the first still sleeps.
    expect(await untilStored(schema, 2)).toEqual([2]);
    await Promise.all([slow, fast]);
    expect(resolved).toEqual([1, 2]);
    expect(committed.map((events) => events.map((event) => event.taskId))).toEqual([["row-1"], ["row-2"]]);
  });

  it("commits a batch of several trips (a claim of a gated name) asked to go beside while another is in flight", async () => {
    const { pool, schema } = await poolOnTable();
    const committed: TaskEvent[][] = [];
    const writes = groupCommit(pool, undefined, committed, { batchesAtOnce: 2 });
    const slow = writes.runMerged(slowInserts(0.5), 1);
    await new Promise((resolve) => setImmediate(resolve));
    const twoTrips = writes.run(async (tx) => {
      await tx.query("SELECT 1");
      tx.log.record({ taskId: "row-2", sequence: 1 } as TaskEvent);
      return insertRow(2)(tx);
    }, { beside: true });
    expect(await untilStored(schema, 2)).toEqual([2]);
    await Promise.all([slow, twoTrips]);
    expect(committed.map((events) => events.map((event) => event.taskId))).toEqual([["row-1"], ["row-2"]]);
  });

  it("holds a one-trip batch with no write asked to go beside, and any other batch, until the batch in flight has committed", async () => {
    const { pool, schema } = await poolOnTable();
    const writes = groupCommit(pool, undefined, [], { batchesAtOnce: 2 });
    const slow = writes.runMerged(slowInserts(0.3), 1);
    await new Promise((resolve) => setImmediate(resolve));
    const oneTrip = writes.runMerged(upfrontInserts, 2);
    expect(await untilStored(schema, 2)).toEqual([1, 2]);
    await Promise.all([slow, oneTrip]);
    const slowAgain = writes.runMerged(slowInserts(0.3), 4);
    await new Promise((resolve) => setImmediate(resolve));
    const other = writes.run(insertRow(3));
    expect(await untilStored(schema, 3)).toEqual([1, 2, 3, 4]);
    await Promise.all([slowAgain, other]);
  });

  it("reports a batch that fails and runs again before the one that started after it and committed first", async () => {
    const { pool, schema } = await poolOnTable();
    const committed: TaskEvent[][] = [];
    const writes = groupCommit(pool, undefined, committed, { batchesAtOnce: 2 });
    await writes.run(insertRow(5));
    const settled: string[] = [];
    // The first batch's second write fails (row 5 exists) after a sleep; it runs again, each write alone.
    const first = Promise.allSettled([writes.runMerged(slowInserts(0.3), 1), writes.runMerged(slowInserts(0.3), 5)])
      .then((outcomes) => settled.push(`first: ${outcomes.map((outcome) => outcome.status).join(", ")}`));
    await new Promise((resolve) => setImmediate(resolve));
    const second = writes.run(besideInsert(2), beside).then(() => settled.push("second"));
    expect(await untilStored(schema, 2)).not.toContain(1);
    expect(settled).toEqual([]);
    await Promise.all([first, second]);
    expect(settled).toEqual(["first: fulfilled, rejected", "second"]);
    expect(committed.slice(-2).map((events) => events.map((event) => event.taskId))).toEqual([["row-1"], ["row-2"]]);
    expect(await storedIds(schema)).toEqual([1, 2, 5]);
  });
});

describe("PostgreSQL store batches in one round trip", () => {
  it("commits up to 3 batches at once, keeping one pooled connection for reads, and one at a time when hints do not travel by NOTIFY", async () => {
    const { url } = schemas.create("atonce");
    const idle: Notifier = { maxPayloadBytes: 7_900, send: () => Promise.resolve(), start: () => Promise.resolve(), close: () => Promise.resolve() };
    const stores = [new PostgresStore({ url }), new PostgresStore({ url, poolSize: 3 }), new PostgresStore({ url, poolSize: 1 }), new PostgresStore({ url, notifier: idle })];
    expect(stores.map((store) => store.commitsAtOnce)).toEqual([3, 2, 1, 1]);
    for (const store of stores) await store.close();
  });

  it("sends a batch of a completion, a claim and a submit with its end and COMMIT before the first answer, each event stored once, in order", async () => {
    const { url } = schemas.create("onetrip");
    const store = new PostgresStore({ url });
    const log: string[] = [];
    try {
      await store.migrate();
      const terms = { leaseMs: 30_000, deadlineGraceMs: 5_000 };
      await store.enqueue([newTask("a"), newTask("b")], 1_000);
      const [[first] = []] = await store.claim([{ workerId: "w", names: ["resize"], limit: 1 }], 1_001, terms);
      expect(first?.taskId).toBe("a");
      // From here on every statement of the store's batches is logged (the pool the group commit takes its connection from).
      const writes = (store as unknown as { writes: { pool: pg.Pool } }).writes;
      writes.pool = loggingPool(writes.pool, log);
      const [completed, claimed, submitted] = await Promise.all([
        store.complete({ taskId: "a", attempt: 1 }, new Uint8Array([1]), 1_002),
        store.claim([{ workerId: "w", names: ["resize"], limit: 2 }], 1_002, terms),
        store.enqueue([newTask("c")], 1_002),
      ]);
      expect(completed?.state).toBe("succeeded");
      expect(claimed[0]?.map((attempt) => attempt.taskId)).toEqual(["b"]);
      expect(submitted.map((event) => event.state)).toEqual(["queued"]);
      expect(log.indexOf("send COMMIT")).toBeGreaterThan(0);
      expect(log.indexOf("send COMMIT")).toBeLessThan(log.findIndex((entry) => entry.startsWith("answer")));
      expect(log.filter((entry) => entry.startsWith("send"))).toEqual(["send BEGIN", "send WITH", "send WITH", "send WITH", "send SELECT", "send COMMIT"]);
      const states = async (id: string): Promise<string[]> => (await store.listEvents(id, 0)).map((event) => `${event.sequence}:${event.state}`);
      expect(await states("a")).toEqual(["1:queued", "2:running", "3:succeeded"]);
      expect(await states("b")).toEqual(["1:queued", "2:running"]);
      expect(await states("c")).toEqual(["1:queued"]);
    } finally {
      await store.close();
    }
  });
});

describe("PostgreSQL event feed and this process's own commits", () => {
  it("waits for the id of an own commit in flight before telling its rows from other writers'", async () => {
    const { url, schema } = schemas.create("pipelinefeed");
    const store = new PostgresStore({ url });
    await store.migrate();
    await store.close();
    const pool = createPool(parsePostgresUrl(url), 2, () => undefined, "orchestrator pipeline test");
    pools.push(pool);
    const signals = new LocalSignals();
    const reported: TaskEvent[] = [];
    signals.onEvents((events) => reported.push(...events));
    const idle: Notifier = { maxPayloadBytes: 7_900, send: () => Promise.resolve(), start: () => Promise.resolve(), close: () => Promise.resolve() };
    const feed = new EventFeed({
      pool, notifier: idle, signals, instanceId: "this-process", pollIntervalMs: 60_000, listen: false,
      toEvent: (row) => ({ taskId: String(row.task_id), sequence: Number(row.sequence) }) as TaskEvent,
      workFromOthers: () => undefined, reconnected: () => Promise.resolve(), onError: (error) => { throw error; },
    });
    await feed.start();
    try {
      const insert = `INSERT INTO task_events (task_id, sequence, state, attempt, percent, message, timestamp) VALUES ($1, 1, 'queued', 0, 0, 'queued', 1)`;
      // "Ours": committed, but its id not yet read off its connection (COMMIT was pipelined).
      let giveOwnId: (id: string) => void = () => undefined;
      feed.ownTransactionStarting(new Promise<string>((resolve) => { giveOwnId = resolve; }));
      const ownId = await withSchemaClient(schema, async (client) => {
        await client.query("BEGIN");
        const id = (await client.query<{ id: string }>(`${insert} RETURNING pg_current_xact_id()::text AS id`, ["ours"])).rows[0]?.id ?? "";
        await client.query("COMMIT");
        return id;
      });
      await withSchemaClient(schema, (client) => client.query(insert, ["theirs"]));
      let readDone = false;
      const read = feed.reread().then(() => { readDone = true; });
      // The read's pages come back while the own id is still unknown: it must not report yet.
      const deadline = Date.now() + 10_000;
      while (feed.stats.rowsRead < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(feed.stats.rowsRead).toBe(2);
      expect(readDone).toBe(false);
      giveOwnId(ownId);
      await read;
      expect(reported.map((event) => event.taskId)).toEqual(["theirs"]);
    } finally {
      await feed.close();
    }
  });
});
