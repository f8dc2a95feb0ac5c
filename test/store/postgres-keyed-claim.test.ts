// A claim of a gated name (concurrency keys, a rate limit) takes several statements, one after
// another, and claims of one batch take them one claim at a time (Transaction.serially). So each
// round trip it saves is throughput of keyed work (W4): these tests hold the claim to the trips it
// promises, by the order in which its statements go out and are answered on the connection.
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { nameGateSql } from "../../packages/server/src/store/postgres/sql/rate-limits.js";
import { claimOfKeysSql, lockWaitingKeysSql, visitedKeysSql } from "../../packages/server/src/store/postgres/sql/concurrency.js";
import { plainClaimSql } from "../../packages/server/src/store/postgres/sql/claim.js";
import { newTask, terms } from "./conformance.js";
import { TestSchemas } from "./postgres-schema.js";

const schemas = new TestSchemas();
const stores: PostgresStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

afterAll(async () => {
  await schemas.dropAll();
});

const watched = new Map<string, string>([
  [nameGateSql, "gate"], [lockWaitingKeysSql, "lock keys"], [claimOfKeysSql, "claim keys"], [visitedKeysSql, "visited keys"], [plainClaimSql, "plain claim"],
]);

/** Records, in order, when each watched statement is sent and when it is answered, on every connection. */
async function traced<T>(run: () => Promise<T>): Promise<{ result: T; trace: string[] }> {
  const trace: string[] = [];
  const query = pg.Client.prototype.query;
  const counts = new Map<string, number>();
  pg.Client.prototype.query = function tracedQuery(this: pg.Client, ...args: unknown[]): unknown {
    const config = args[0];
    const text = typeof config === "string" ? config : (config as { text?: string } | null)?.text;
    const name = text === undefined ? undefined : watched.get(text);
    const answer = (query as (...given: unknown[]) => unknown).apply(this, args);
    if (name !== undefined && answer instanceof Promise) {
      const nth = (counts.get(name) ?? 0) + 1;
      counts.set(name, nth);
      trace.push(`sent ${name} ${nth}`);
      void answer.then(() => trace.push(`answered ${name} ${nth}`), () => trace.push(`failed ${name} ${nth}`));
    }
    return answer;
  } as typeof query;
  try {
    return { result: await run(), trace };
  } finally {
    pg.Client.prototype.query = query;
  }
}

async function keyedStore(keys: number, tasksPerKey: number): Promise<PostgresStore> {
  const { url } = schemas.create("keyed_claim");
  const store = new PostgresStore({ url, listen: false });
  stores.push(store);
  await store.migrate();
  await store.setConcurrencyLimit("resize", 1, Date.now());
  const tasks = [];
  for (let index = 0; index < keys * tasksPerKey; index++) tasks.push(newTask(`t${index}`, { concurrencyKey: `k${index % keys}` }));
  await store.enqueue(tasks, Date.now());
  return store;
}

function before(trace: string[], first: string, second: string): boolean {
  const [a, b] = [trace.indexOf(first), trace.indexOf(second)];
  if (a < 0 || b < 0) throw new Error(`"${a < 0 ? first : second}" is not in the trace: ${trace.join(", ")}`);
  return a < b;
}

describe("PostgreSQL store: the claim of a keyed name", () => {
  it("sends the keys' lock with the gate, not after its answer, and takes only as many keys as the slots asked for", async () => {
    const store = await keyedStore(6, 2);
    // The first claim learns that the name is gated; the second is the one measured.
    await store.claim([{ workerId: "w1", names: ["resize"], limit: 1 }], Date.now(), terms);
    const { result, trace } = await traced(() => store.claim([{ workerId: "w1", names: ["resize"], limit: 3 }], Date.now(), terms));
    expect(before(trace, "sent lock keys 1", "answered gate 1")).toBe(true);
    // A name known as gated skips the plain statement, which would stop at it and claim nothing.
    expect(trace.filter((entry) => entry.startsWith("sent plain claim"))).toEqual([]);
    const claimed = result[0] ?? [];
    expect(claimed).toHaveLength(3);
    // Three different keys, none of the first claim's (each key's bound is 1).
    expect(new Set(claimed.map((attempt) => attempt.taskId)).size).toBe(3);
  });

  it("sends the next claim's gate in a batch before the previous claim's visited keys are answered", async () => {
    const store = await keyedStore(8, 2);
    await store.claim([{ workerId: "w0", names: ["resize"], limit: 1 }], Date.now(), terms);
    const { result, trace } = await traced(() => Promise.all([
      store.claim([{ workerId: "w1", names: ["resize"], limit: 2 }], Date.now(), terms),
      store.claim([{ workerId: "w2", names: ["resize"], limit: 2 }], Date.now(), terms),
    ]));
    // One section after the other: the second gate goes out once the first claim's keys are claimed...
    expect(before(trace, "answered claim keys 1", "sent gate 2")).toBe(true);
    // ...but not only once the first claim's visited keys (sent behind it) are answered.
    expect(before(trace, "sent gate 2", "answered visited keys 1")).toBe(true);
    const ids = result.flatMap((answer) => answer.flat()).map((attempt) => attempt.taskId);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
    // Each claim's keys moved to the back: the two claims served four different keys.
    const keyOf = (id: string): number => Number(id.slice(1)) % 8;
    expect(new Set(ids.map(keyOf)).size).toBe(4);
  });

  it("leaves the keys it locked beyond a rate limit's room at the front: the next window serves them first", async () => {
    const store = await keyedStore(6, 2);
    const now = Date.now();
    await store.setRateLimit("resize", 2, 60_000, now);
    const first = (await store.claim([{ workerId: "w1", names: ["resize"], limit: 5 }], now, terms))[0] ?? [];
    // Keys are served in turn order (their first task's time, then the key): k0 and k1.
    expect(first.map((attempt) => attempt.taskId).sort()).toEqual(["t0", "t1"]);
    const next = (await store.claim([{ workerId: "w1", names: ["resize"], limit: 5 }], now + 61_000, terms))[0] ?? [];
    expect(next.map((attempt) => attempt.taskId).sort()).toEqual(["t2", "t3"]);
  });

  it("takes the plain statement again once a name it knew as gated has no waiting keys left", async () => {
    const store = await keyedStore(1, 1);
    // Learns that the name is gated, and takes its one keyed task: no key is waiting any more.
    expect((await store.claim([{ workerId: "w1", names: ["resize"], limit: 1 }], Date.now(), terms))[0]).toHaveLength(1);
    await store.enqueue([newTask("plain-1"), newTask("plain-2")], Date.now());
    // The full way, which finds the name no longer gated...
    const { trace: full } = await traced(() => store.claim([{ workerId: "w1", names: ["resize"], limit: 1 }], Date.now(), terms));
    expect(full).toContain("sent gate 1");
    // ...so the next claim is a plain one.
    const { result, trace: plain } = await traced(() => store.claim([{ workerId: "w1", names: ["resize"], limit: 1 }], Date.now(), terms));
    expect(plain.filter((entry) => entry.startsWith("sent gate"))).toEqual([]);
    expect(result[0]?.map((attempt) => attempt.taskId)).toEqual(["plain-2"]);
  });
});
