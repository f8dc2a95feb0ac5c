import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { parsePostgresUrl } from "../../packages/server/src/store/postgres/driver.js";
import { encodeHint } from "../../packages/server/src/store/postgres/listener.js";
import { inSequencePerTask } from "../../packages/server/src/store/signals.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import type { PostgresStoreOptions } from "../../packages/server/src/store/postgres/postgres-store.js";
import { claimSql, plainClaimSql } from "../../packages/server/src/store/postgres/sql/claim.js";
import { feedSql } from "../../packages/server/src/store/postgres/sql/events.js";
import { readEventsAfterSql } from "../../packages/server/src/store/postgres/sql/watch.js";
import { claimOfKeysSql, lockWaitingKeysSql, visitedKeysSql } from "../../packages/server/src/store/postgres/sql/concurrency.js";
import { countWaitingByNameSql, countWaitingSql } from "../../packages/server/src/store/postgres/sql/enqueue.js";
import { expiredAttemptsSql, extendAllLeasesSql } from "../../packages/server/src/store/postgres/sql/leases.js";
import { deleteFinishedSql } from "../../packages/server/src/store/postgres/sql/retention.js";
import { nextDueAtSql, promoteDueSql } from "../../packages/server/src/store/postgres/sql/retries.js";
import { storeErrorFrom } from "../../packages/server/src/store/postgres/store-errors.js";
import { migrations } from "../../packages/server/src/store/postgres/migrations/index.js";
import type { ClaimedAttempt, EventFilter, TaskEvent } from "../../packages/server/src/store/store.js";
import { scheduleTickKey } from "../../packages/server/src/store/store.js";
import { systemClock } from "../../packages/server/src/util/clock.js";
import { bytes, describeTaskStoreConformance, newTask, noBackoff, terms } from "./conformance.js";
import { schedule } from "./conformance-schedules.js";
import { SignalRecorder } from "./signal-recorder.js";
import { adminQuery, TestSchemas, withSchemaClient } from "./postgres-schema.js";

const schemas = new TestSchemas();

afterAll(async () => {
  await schemas.dropAll();
});

// A schema per test: the conformance suite expects an empty store each time.
describeTaskStoreConformance("postgres", (options) => Promise.resolve(new PostgresStore({ url: schemas.create("conformance").url, ...options })));

interface PlanNode {
  "Index Name"?: string;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  Plans?: PlanNode[];
}

describe("PostgresStore: several stores on one database", () => {
  const opened: PostgresStore[] = [];

  async function openStore(url: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const store = new PostgresStore({ url, ...options });
    opened.push(store);
    await store.migrate();
    return store;
  }

  /** Two stores (two Schedulers) on one fresh schema. */
  async function pair(options: Partial<PostgresStoreOptions> = {}): Promise<[PostgresStore, PostgresStore]> {
    const { url } = schemas.create("pair");
    const first = await openStore(url, options);
    return [first, await openStore(url, options)];
  }

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  it("migrates safely when several stores start at once (advisory lock), each migration once", async () => {
    const { url, schema } = schemas.create("migrate");
    const stores = Array.from({ length: 4 }, () => new PostgresStore({ url }));
    opened.push(...stores);
    await Promise.all(stores.map((store) => store.migrate()));
    const versions = await withSchemaClient(schema, async (client) => (await client.query("SELECT version FROM schema_migrations ORDER BY version")).rows);
    expect(versions.map((row) => Number(row.version))).toEqual(migrations.map((migration) => migration.version));
  });

  it("two stores claiming concurrently never hand out one attempt twice (3,000 tasks)", async () => {
    const [a, b] = await pair();
    const now = Date.now();
    for (let batch = 0; batch < 30; batch += 1) {
      const tasks = Array.from({ length: 100 }, (_, i) => newTask(`t${batch}-${i}`, { name: i % 2 === 0 ? "even" : "odd" }));
      await (batch % 2 === 0 ? a : b).enqueue(tasks, now);
    }
    const claimedBy = { a: [] as ClaimedAttempt[], b: [] as ClaimedAttempt[] };
    const drain = async (store: PostgresStore, into: ClaimedAttempt[], worker: string): Promise<void> => {
      for (let round = 0; round < 1_000; round += 1) {
        // Several claims in one turn (one commit), as a Scheduler with several idle workers makes.
        const answers = await Promise.all(Array.from({ length: 4 }, (_, i) =>
          store.claim([{ workerId: `${worker}-${i}`, names: i % 2 === 0 ? ["even", "odd"] : ["odd", "even"], limit: 10 }], now, terms)));
        const claimed = answers.flat(2);
        if (claimed.length === 0 && (await store.countWaiting()) === 0) return;
        into.push(...claimed);
        await Promise.all(claimed.map((attempt) => store.complete(attempt, bytes("ok"), now)));
      }
    };
    await Promise.all([drain(a, claimedBy.a, "a"), drain(b, claimedBy.b, "b")]);
    const all = [...claimedBy.a, ...claimedBy.b];
    expect(claimedBy.a.length).toBeGreaterThan(0);
    expect(claimedBy.b.length).toBeGreaterThan(0);
    expect(all).toHaveLength(3_000);
    expect(new Set(all.map((attempt) => attempt.taskId)).size).toBe(3_000);
    expect(all.every((attempt) => attempt.attempt === 1)).toBe(true);
    expect((await a.listTasks({ states: ["succeeded"], limit: 5_000 })).tasks).toHaveLength(3_000);
  });

  it("four stores claiming keyed tasks concurrently never run more of a key than its bound (600 tasks, 20 keys, bound 2)", async () => {
    const { url } = schemas.create("keys");
    const stores = [await openStore(url), await openStore(url), await openStore(url), await openStore(url)];
    const [first] = stores as [PostgresStore];
    const now = Date.now();
    await first.setConcurrencyLimit("resize", 2, now);
    await first.enqueue(Array.from({ length: 600 }, (_, i) => newTask(`t${i}`, { concurrencyKey: `key-${i % 20}` })), now);
    let mostOfOneKey = 0;
    /** Every running attempt as one snapshot of the database sees them, by key. */
    const checkBound = async (store: PostgresStore): Promise<void> => {
      const perKey = new Map<string, number>();
      for (const task of (await store.listTasks({ states: ["running"], limit: 1_000 })).tasks) {
        perKey.set(String(task.concurrencyKey), (perKey.get(String(task.concurrencyKey)) ?? 0) + 1);
      }
      mostOfOneKey = Math.max(mostOfOneKey, ...perKey.values());
    };
    const claimed: ClaimedAttempt[] = [];
    const finishing: Array<Promise<unknown>> = [];
    // Each store claims in its own transactions, at the same moments as the others; attempts end
    // a few ms later, so claims keep meeting keys at their bound and slots freed by other stores.
    const drain = async (store: PostgresStore, worker: string): Promise<void> => {
      while (claimed.length < 600) {
        const [attempts = []] = await store.claim([{ workerId: worker, names: ["resize"], limit: 8 }], now, terms);
        claimed.push(...attempts);
        await checkBound(store);
        for (const attempt of attempts) {
          finishing.push(new Promise((resolve) => setTimeout(resolve, Math.random() * 10)).then(() => store.complete(attempt, bytes("ok"), now)));
        }
        if (attempts.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    await Promise.all(stores.map((store, index) => drain(store, `w${index}`)));
    await Promise.all(finishing);
    expect(mostOfOneKey).toBe(2);
    expect(claimed).toHaveLength(600);
    expect(new Set(claimed.map((attempt) => attempt.taskId)).size).toBe(600);
    expect(new Set(claimed.map((attempt) => attempt.workerId)).size).toBe(4);
  });

  it("an attempt of a keyed task that ends through one store (completed, failed, cancelled) wakes the other with a work hint for its name", async () => {
    const [a, b] = await pair({ pollIntervalMs: 600_000 });
    const recorder = new SignalRecorder(b);
    try {
      const now = Date.now();
      await a.setConcurrencyLimit("resize", 1, now);
      await a.enqueue([newTask("k1", { concurrencyKey: "A" }), newTask("k2", { concurrencyKey: "B" }), newTask("k3", { concurrencyKey: "C" })], now);
      const [claimed = []] = await a.claim([{ workerId: "w", names: ["resize"], limit: 10 }], now, terms);
      expect(claimed).toHaveLength(3);
      const ends: Array<() => Promise<unknown>> = [
        () => a.complete({ taskId: "k1", attempt: 1 }, bytes("ok"), now),
        () => a.fail({ taskId: "k2", attempt: 1 }, { error: "no", retryable: false }, now, noBackoff),
        () => a.cancel("k3", "stop", now),
      ];
      for (const end of ends) {
        const before = recorder.namedWork.length;
        await end();
        await recorder.until(() => recorder.namedWork.slice(before).some((names) => names.includes("resize")), "B's work hint for the freed key");
      }
    } finally {
      recorder.stop();
    }
  });

  it("two stores sweeping at once expire each lapsed attempt exactly once", async () => {
    const [a, b] = await pair();
    const now = Date.now();
    await a.enqueue(Array.from({ length: 300 }, (_, i) => newTask(`t${i}`)), now);
    const [claimed = []] = await a.claim([{ workerId: "w", names: ["resize"], limit: 300 }], now, terms);
    expect(claimed).toHaveLength(300);
    const later = now + terms.leaseMs;
    const sweeps = await Promise.all([a.expireAttempts(later, noBackoff), b.expireAttempts(later, noBackoff), a.expireAttempts(later, noBackoff)]);
    const expired = sweeps.flat();
    expect(expired).toHaveLength(300);
    expect(new Set(expired.map((attempt) => attempt.taskId)).size).toBe(300);
    expect(await a.countWaiting()).toBe(300);
  });

  it("two stores promoting at once promote each due delayed task exactly once, with one queued event", async () => {
    const { url, schema } = schemas.create("promote");
    const a = await openStore(url);
    const b = await openStore(url);
    const now = Date.now();
    // More than one batch, due over 1,500 ms, half enqueued through each store.
    const tasks = Array.from({ length: 1_500 }, (_, i) => newTask(`d${i}`, { runAt: now + 1 + i }));
    await a.enqueue(tasks.slice(0, 750), now);
    await b.enqueue(tasks.slice(750), now);
    const due = now + 1_500;
    const rounds = await Promise.all([a, b, a, b].map(async (store) => {
      const promoted: string[] = [];
      for (let round = 0; round < 5; round++) promoted.push(...(await store.promoteDue(due)));
      return promoted.length;
    }));
    expect(rounds.reduce((sum, count) => sum + count, 0)).toBe(1_500);
    expect(await a.nextDueAt()).toBeNull();
    const queued = await withSchemaClient(schema, async (client) =>
      (await client.query("SELECT task_id, count(*)::int AS n FROM task_events WHERE state = 'queued' GROUP BY task_id HAVING count(*) <> 1")).rows);
    expect(queued).toEqual([]);
    expect((await a.listTasks({ states: ["queued"], limit: 2_000 })).tasks).toHaveLength(1_500);
    const [claimed = []] = await b.claim([{ workerId: "w", names: ["resize"], limit: 2_000 }], due, terms);
    expect(new Set(claimed.map((attempt) => attempt.taskId)).size).toBe(1_500);
  });

  it("a more urgent task enqueued through one store is the next the other claims, once its hint arrives (the claim cursor is forgotten)", async () => {
    const [a, b] = await pair({ pollIntervalMs: 600_000 });
    const recorder = new SignalRecorder(b);
    try {
      const now = Date.now();
      await b.enqueue(["c1", "c2", "c3"].map((id) => newTask(id)), now);
      const [first = []] = await b.claim([{ workerId: "w", names: ["resize"], limit: 1 }], now, terms);
      expect(first.map((attempt) => attempt.taskId)).toEqual(["c1"]);
      const before = recorder.namedWork.length;
      await a.enqueue([newTask("urgent", { priority: 9 })], now);
      await recorder.until(() => recorder.namedWork.slice(before).some((names) => names.includes("resize")), "B's work hint for A's task");
      const [next = []] = await b.claim([{ workerId: "w", names: ["resize"], limit: 2 }], now, terms);
      expect(next.map((attempt) => attempt.taskId)).toEqual(["urgent", "c2"]);
    } finally {
      recorder.stop();
    }
  });

  it("a name paused through one store is not claimed through the other; its resume wakes the other with a work hint", async () => {
    const [a, b] = await pair({ pollIntervalMs: 600_000 });
    const recorder = new SignalRecorder(b);
    try {
      const now = Date.now();
      await a.pauseName("resize", "maintenance", now);
      await b.enqueue([newTask("p1"), newTask("other", { name: "email" })], now);
      const [claimed = []] = await b.claim([{ workerId: "w", names: ["resize", "email"], limit: 10 }], now, terms);
      expect(claimed.map((attempt) => attempt.taskId)).toEqual(["other"]);
      expect((await b.listPausedNames()).map((paused) => paused.name)).toEqual(["resize"]);
      // Both pausing at once: one row, one of them answers that it was paused already.
      const both = await Promise.all([a.pauseName("email", "x", now), b.pauseName("email", "y", now)]);
      expect(both.map((outcome) => outcome.wasPaused).sort()).toEqual([false, true]);
      expect(both[0]?.paused.reason).toBe(both[1]?.paused.reason);
      const before = recorder.namedWork.length;
      expect(await a.resumeName("resize")).toMatchObject({ name: "resize", reason: "maintenance" });
      await recorder.until(() => recorder.namedWork.slice(before).some((names) => names.includes("resize")), "B's work hint for the resumed name");
      const [after = []] = await b.claim([{ workerId: "w", names: ["resize"], limit: 10 }], now, terms);
      expect(after.map((attempt) => attempt.taskId)).toEqual(["p1"]);
    } finally {
      recorder.stop();
    }
  });

  it("two stores firing the same ticks of a schedule at once: each tick fires once, and one create of a key wins", async () => {
    const [a, b] = await pair();
    const now = Date.now();
    const created = await Promise.all([a.createSchedule(schedule("sa", { key: "k" })), b.createSchedule(schedule("sb", { key: "k" }))]);
    expect(created.map((answer) => answer.created).sort()).toEqual([false, true]);
    const id = created[0].schedule.id;
    expect(created[1].schedule.id).toBe(id);
    await a.updateSchedule({ ...created[0].schedule, nextFireAt: 1_000 });
    const fire = (store: PostgresStore, tick: number, firer: string): Promise<TaskEvent[] | null> => store.fireSchedule({
      scheduleId: id, expectedNextFireAt: tick, nextFireAt: tick + 1_000, lastTickMs: tick,
      tasks: [newTask(`${firer}-${tick}`, { scheduleId: id, scheduleTickMs: tick, idempotencyKey: scheduleTickKey(id, tick) })],
    }, now);
    for (let tick = 1_000; tick <= 30_000; tick += 1_000) {
      const answers = await Promise.all([fire(a, tick, "a"), fire(b, tick, "b")]);
      expect(answers.filter((answer) => answer !== null)).toHaveLength(1);
    }
    const ticks = (await a.listTasks({ limit: 100 })).tasks.map((t) => t.scheduleTickMs).sort((x, y) => (x ?? 0) - (y ?? 0));
    expect(ticks).toEqual(Array.from({ length: 30 }, (_, i) => (i + 1) * 1_000));
  });

  it("the same idempotency key through two stores at once gives one task; a different request is refused", async () => {
    const [a, b] = await pair();
    const now = Date.now();
    const keyed = (id: string, key: string, payload = "same"): ReturnType<typeof newTask> =>
      newTask(id, { idempotencyKey: key, description: "order", payload: bytes(payload) });
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      Promise.all([a.enqueue([keyed(`a${i}`, `k${i}`)], now), b.enqueue([keyed(`b${i}`, `k${i}`)], now)])));
    for (const [fromA, fromB] of answers) {
      expect(fromA[0]?.taskId).toBe(fromB[0]?.taskId);
    }
    expect((await a.listTasks({ limit: 1_000 })).tasks).toHaveLength(40);

    const outcomes = await Promise.allSettled([a.enqueue([keyed("x", "changed", "one")], now), b.enqueue([keyed("y", "changed", "two")], now)]);
    const refused = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(refused).toHaveLength(1);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: Code.AlreadyExists });
    expect((await a.listTasks({ limit: 1_000 })).tasks).toHaveLength(41);
  });

  it("events written through one store reach the other's onEvents, with work hints, also after its listener is cut", async () => {
    // No poll within the test: only NOTIFY, and the re-read after the listener reconnects, deliver.
    const [a, b] = await pair({ pollIntervalMs: 600_000 });
    const recorder = new SignalRecorder(b);
    try {
      const now = Date.now();
      const lifecycle = async (prefix: string): Promise<void> => {
        await a.enqueue(Array.from({ length: 20 }, (_, i) => newTask(`${prefix}${i}`)), now);
        const [claimed = []] = await a.claim([{ workerId: "w", names: ["resize"], limit: 20 }], now, terms);
        await Promise.all(claimed.map((attempt) => a.progress(attempt, 50, "half", now)));
        await Promise.all(claimed.map((attempt) => a.complete(attempt, bytes("ok"), now)));
      };
      await lifecycle("n");
      await recorder.until(() => recorder.events.length >= 80, "80 events through NOTIFY");
      expect(recorder.namedWork.flat()).toContain("resize");

      const listener = b.listenerProcessId;
      expect(listener).not.toBeNull();
      await adminQuery("SELECT pg_terminate_backend($1)", [listener]);
      await lifecycle("r");
      await recorder.until(() => recorder.events.length >= 160, "160 events after the listener was cut");
      await recorder.until(() => b.listenerProcessId !== null && b.listenerProcessId !== listener, "the listener to reconnect");

      const byTask = new Map<string, TaskEvent[]>();
      for (const event of recorder.events) byTask.set(event.taskId, [...(byTask.get(event.taskId) ?? []), event]);
      expect(byTask.size).toBe(40);
      for (const [taskId, events] of byTask) {
        const sequences = [...new Set(events.map((event) => event.sequence))];
        expect(sequences, taskId).toEqual([1, 2, 3, 4]);
        expect(events.map((event) => event.sequence), taskId).toEqual([...events.map((event) => event.sequence)].sort((x, y) => x - y));
      }
      // Times come back on B's clock: A's, up to the two skew measurements' error.
      expect(Math.abs((recorder.events.at(-1)?.timestamp ?? 0) - now)).toBeLessThan(50);
    } finally {
      recorder.stop();
    }
  });

  it("the slow poll finds events no hint announced, and says any work may be available", async () => {
    const { url, schema } = schemas.create("poll");
    const store = await openStore(url, { pollIntervalMs: 100 });
    const recorder = new SignalRecorder(store);
    try {
      // Written without pg_notify, as by a writer whose hint was lost.
      await withSchemaClient(schema, (client) => client.query(`INSERT INTO task_events (task_id, sequence, state, attempt, percent, message, timestamp)
        VALUES ('quiet', 1, 'queued', 0, 0, 'queued', 1), ('quiet', 2, 'cancelled', 0, 0, 'cancelled', 2)`));
      await recorder.until(() => recorder.events.length >= 2, "the polled events");
      expect(recorder.events.map((event) => [event.taskId, event.sequence, event.state])).toEqual([["quiet", 1, "queued"], ["quiet", 2, "cancelled"]]);
      await recorder.until(() => recorder.work.includes(null), "a work hint for any name");
    } finally {
      recorder.stop();
    }
  });

  it("reports its own events once: right after commit, not again from the feed", async () => {
    const { url } = schemas.create("own");
    const store = await openStore(url, { pollIntervalMs: 20 });
    const recorder = new SignalRecorder(store);
    try {
      await store.enqueue([newTask("t1"), newTask("t2")], Date.now());
      const [claimed = []] = await store.claim([{ workerId: "w", names: ["resize"], limit: 2 }], Date.now(), terms);
      await Promise.all(claimed.map((attempt) => store.complete(attempt, bytes("ok"), Date.now())));
      const reported = recorder.events.length;
      expect(reported).toBe(6);
      // Several polls later (each re-reads the table and then says "any work"), still 6.
      await recorder.untilPolls(3);
      expect(recorder.events.map((event) => `${event.taskId}:${event.sequence}`).sort()).toEqual(["t1:1", "t1:2", "t1:3", "t2:1", "t2:2", "t2:3"]);
    } finally {
      recorder.stop();
    }
  });

  it("a transaction that commits after later ones, with an older id, reaches the feed once, when it commits", async () => {
    const { url, schema } = schemas.create("late_commit");
    const writer = await openStore(url, { pollIntervalMs: 600_000 });
    const reader = await openStore(url, { pollIntervalMs: 20 });
    const recorder = new SignalRecorder(reader);
    try {
      await withSchemaClient(schema, async (late) => {
        // Its id is taken now, before the writer's transactions; it commits after them.
        await late.query("BEGIN");
        await late.query(`INSERT INTO task_events (task_id, sequence, state, attempt, percent, message, timestamp) VALUES ('late', 1, 'queued', 0, 0, 'queued', 1)`);
        await writer.enqueue([newTask("early")], Date.now());
        await recorder.until(() => recorder.events.some((event) => event.taskId === "early"), "the later transaction's event");
        await writer.enqueue([newTask("after")], Date.now());
        await recorder.until(() => recorder.events.some((event) => event.taskId === "after"), "the next transaction's event");
        await recorder.untilPolls(3);
        expect(recorder.events.map((event) => event.taskId)).toEqual(["early", "after"]);
        await late.query("COMMIT");
      });
      await recorder.until(() => recorder.events.some((event) => event.taskId === "late"), "the late transaction's event");
      await recorder.untilPolls(3);
      expect(recorder.events.map((event) => event.taskId)).toEqual(["early", "after", "late"]);
      expect(reader.feedStats.rowsRead).toBe(3);
    } finally {
      recorder.stop();
    }
  });

  it("the feed moves past its own store's rows without reading them, over pages of them, and reads the other's", async () => {
    const { url } = schemas.create("feed_own");
    // No polls: the only read is the one the other store's hint starts, once every own id is known.
    const own = await openStore(url, { pollIntervalMs: 600_000 });
    const other = await openStore(url, { pollIntervalMs: 600_000 });
    const recorder = new SignalRecorder(own);
    try {
      // 2,500 rows of its own: more than two pages of the feed.
      for (let batch = 0; batch < 5; batch++) await own.enqueue(Array.from({ length: 500 }, (_, i) => newTask(`own${batch}-${i}`)), Date.now());
      await other.enqueue([newTask("theirs")], Date.now());
      await recorder.until(() => recorder.events.some((event) => event.taskId === "theirs"), "the other store's event");
      expect(recorder.events.filter((event) => event.taskId === "theirs")).toHaveLength(1);
      expect(own.feedStats.rowsRead).toBe(1);
      // The next read starts after them all.
      await other.enqueue([newTask("theirs-2")], Date.now());
      await recorder.until(() => recorder.events.some((event) => event.taskId === "theirs-2"), "the other store's next event");
      expect(own.feedStats.rowsRead).toBe(2);
    } finally {
      recorder.stop();
    }
  });

  it("while a transaction holds the horizon, each read of the feed reads only the rows committed since the last", async () => {
    const { url, schema } = schemas.create("feed_horizon");
    const writer = await openStore(url, { pollIntervalMs: 600_000 });
    const reader = await openStore(url, { pollIntervalMs: 10 });
    const recorder = new SignalRecorder(reader);
    try {
      await withSchemaClient(schema, async (holder) => {
        // An analytics transaction that wrote: the oldest running transaction for as long as the test runs.
        await holder.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
        await holder.query("SELECT txid_current()");
        for (let batch = 0; batch < 20; batch++) {
          await writer.enqueue(Array.from({ length: 50 }, (_, i) => newTask(`b${batch}-${i}`)), Date.now());
          // The reader reads between the batches: before, each read went over every row since the hold began.
          await recorder.untilPolls(2);
        }
        await recorder.until(() => recorder.events.length >= 1_000, "every event");
        await holder.query("ROLLBACK");
      });
      expect(new Set(recorder.events.map((event) => event.taskId)).size).toBe(1_000);
      expect(recorder.events).toHaveLength(1_000);
      expect(reader.feedStats.rowsRead).toBe(1_000);
    } finally {
      recorder.stop();
    }
  });

  it("gives the leadership to exactly one of two stores asking at once", async () => {
    const [a, b] = await pair();
    for (let round = 0; round < 10; round += 1) {
      const now = Date.now() + round * 60_000;
      const [fromA, fromB] = await Promise.all([a.acquireLeadership(`a${round}`, 10_000, now), b.acquireLeadership(`b${round}`, 10_000, now)]);
      expect([fromA.isLeader, fromB.isLeader].filter(Boolean)).toHaveLength(1);
      const winner = fromA.isLeader ? fromA : fromB;
      const loser = fromA.isLeader ? fromB : fromA;
      expect(loser).toMatchObject({ holder: winner.holder, term: winner.term });
      expect(winner.term).toBe(round + 1);
    }
  });

  it("commits the writes fired in one turn together, and those still pending at close", async () => {
    const { url } = schemas.create("batch");
    const store = await openStore(url);
    const before = store.commitStats;
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.enqueue([newTask(`t${i}`)], Date.now())));
    const after = store.commitStats;
    expect(after.writes - before.writes).toBe(200);
    expect(after.commits - before.commits).toBe(1);

    const pending = store.enqueue([newTask("late")], Date.now());
    await store.close();
    expect(await pending).toMatchObject([{ taskId: "late", sequence: 1 }]);
    const reopened = await openStore(url);
    expect((await reopened.getTask("late"))?.state).toBe("queued");
  });

  it("close() leaves no socket or timer behind (pool, listener, poll)", async () => {
    const { url } = schemas.create("close");
    const count = (kind: string): number => process.getActiveResourcesInfo().filter((name) => name === kind).length;
    const sockets = count("TCPSocketWrap");
    const timers = count("Timeout");
    const store = new PostgresStore({ url, pollIntervalMs: 50 });
    await store.migrate();
    await store.enqueue([newTask("t1")], Date.now());
    await store.getTask("t1");
    expect(count("TCPSocketWrap")).toBeGreaterThan(sockets);
    expect(count("Timeout")).toBeGreaterThan(timers);
    await store.close();
    // The sockets were ended; they close on the next turns of the event loop.
    const deadline = Date.now() + 2_000;
    while (count("TCPSocketWrap") > sockets && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(count("TCPSocketWrap")).toBe(sockets);
    expect(count("Timeout")).toBeLessThanOrEqual(timers);
  });

  it("a store whose clock is 5 s ahead does not expire a lease that is still valid on the database's clock", async () => {
    const { url } = schemas.create("skew");
    const a = await openStore(url);
    const ahead = { ...systemClock, now: () => Date.now() + 5_000 };
    const b = await openStore(url, { clock: ahead });
    await a.enqueue([newTask("t1")], Date.now());
    const claimedAt = Date.now();
    await a.claim([{ workerId: "w1", names: ["resize"], limit: 1 }], claimedAt, terms);
    // B's sweep 6 s after the claim by its own clock reading: 11 s after by A's, but 6 s on the database's.
    expect(await b.expireAttempts(ahead.now() + 6_000, noBackoff)).toEqual([]);
    expect((await a.getTask("t1"))?.state).toBe("running");
    const expired = await b.expireAttempts(ahead.now() + terms.leaseMs + 500, noBackoff);
    expect(expired.map((attempt) => [attempt.taskId, attempt.reason])).toEqual([["t1", "lease expired"]]);
    // Times come back on each caller's clock.
    expect(Math.abs(((await b.getTask("t1"))?.startedAt ?? 0) - (claimedAt + 5_000))).toBeLessThan(200);
  });

  it("WatchTasks reads a transaction's events only once it has ended, and before the later commits it began before", async () => {
    const { url, schema } = schemas.create("watch_horizon");
    const store = await openStore(url);
    const any: EventFilter = { names: [], states: [], concurrencyKey: null, scheduleId: null };
    const head = await store.eventsHead();
    const during = await withSchemaClient(schema, async (client) => {
      await client.query("BEGIN");
      // Its transaction id is taken here, before the enqueue below takes its own.
      await client.query(`INSERT INTO tasks (id, name, description, payload, state, max_retries, timeout_ms, retry_backoff_ms, created_at, last_sequence)
        VALUES ('early', 'resize', '', '\\x', 'queued', 0, 1000, 1000, 0, 1)`);
      await client.query(`INSERT INTO task_events (task_id, sequence, state, attempt, percent, message, timestamp) VALUES ('early', 1, 'queued', 0, 0, '', 0)`);
      await store.enqueue([newTask("late")], Date.now());
      const page = await store.readEventsAfter(head, any, 500);
      await client.query("COMMIT");
      return page;
    });
    // "late" has committed, but "early" could still commit behind it: neither is read yet.
    expect(during.events).toEqual([]);
    let read: string[] = [];
    const deadline = Date.now() + 10_000;
    while (read.length < 2 && Date.now() < deadline) {
      read = (await store.readEventsAfter(during.cursor, any, 500)).events.map((event) => event.taskId);
    }
    expect(read).toEqual(["early", "late"]);
  });

  it("WatchTasks reads its page from task_events_feed, with no sort and no scan of 100,000 events", async () => {
    const { url, schema } = schemas.create("watch_plan");
    await openStore(url);
    const plans = await withSchemaClient(schema, async (client) => {
      await client.query(`INSERT INTO tasks (id, name, description, payload, state, max_retries, timeout_ms, retry_backoff_ms, created_at, last_sequence)
        SELECT 'done-' || i, 'resize', '', '\\x', 'succeeded', 0, 1000, 1000, i, 1 FROM generate_series(1, 100000) AS i`);
      await client.query(`INSERT INTO task_events (task_id, sequence, state, attempt, percent, message, timestamp)
        SELECT 'done-' || i, 1, 'succeeded', 1, 100, '', i FROM generate_series(1, 100000) AS i`);
      await client.query("ANALYZE tasks, task_events");
      const { rows: [middle] } = await client.query("SELECT tx::text AS tx, id FROM task_events ORDER BY tx, id OFFSET 50000 LIMIT 1");
      const explain = async (values: unknown[]): Promise<string> =>
        (await client.query(`EXPLAIN ${readEventsAfterSql}`, values)).rows.map((row) => String(row["QUERY PLAN"])).join("\n");
      return [
        await explain(["0", "0", 500, null, null, null, null]),
        await explain([middle?.tx, middle?.id, 500, ["resize", "email"], ["failed"], "customer-1", null]),
      ];
    });
    for (const plan of plans) {
      expect(plan).toContain("task_events_feed");
      expect(plan).not.toMatch(/Sort/);
      expect(plan).not.toMatch(/Seq Scan on (tasks|task_events)\b/);
    }
  });

  it("the event feed reads in (tx, id) order as transaction ids, not as text, straight from its index", async () => {
    const { url, schema } = schemas.create("feed_order");
    await openStore(url);
    const { read, plan } = await withSchemaClient(schema, async (client) => {
      // Transaction ids on either side of a digit boundary: as text, "100" sorts before "99".
      await client.query(`INSERT INTO task_events (tx, task_id, sequence, state, attempt, percent, message, timestamp)
        VALUES ('100'::xid8, 'later', 1, 'queued', 0, 0, '', 1), ('99'::xid8, 'earlier', 1, 'queued', 0, 0, '', 1)`);
      const firstPage = (await client.query(feedSql, ["0", 0, 1, []])).rows.map((row) => [String(row.tx), String(row.task_id)]);
      // With the index in reach, the order must come from it: a sort would read every row after the cursor.
      await client.query("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off");
      const explained = (await client.query(`EXPLAIN ${feedSql}`, ["0", 0, 500, ["7"]])).rows.map((row) => String(row["QUERY PLAN"])).join("\n");
      return { read: firstPage, plan: explained };
    });
    expect(read).toEqual([["99", "earlier"]]);
    expect(plan).toContain("task_events_feed");
    expect(plan).not.toMatch(/Sort/);
  });

  it("the plain claim stops at a name with a limit or a running throttle, not at the row a passed throttle leaves", async () => {
    const { url, schema } = schemas.create("gate_rows");
    await openStore(url);
    const stops = await withSchemaClient(schema, async (client) => {
      await client.query(`INSERT INTO rate_limits (name, throttled_until, updated_at) VALUES ('passed', 100, 0), ('running', 10000, 0)`);
      await client.query(`INSERT INTO rate_limits (name, max_starts, per_ms, updated_at) VALUES ('limited', 5, 1000, 0)`);
      const stoppedAt = async (names: string[]): Promise<number | null> => {
        const { rows: [row] } = await client.query(plainClaimSql, ["w1", names, 10, 5_000, 6_000, 0, names.map(() => null), names.map(() => null)]);
        return row?.stopped_at === null ? null : Number(row?.stopped_at);
      };
      return [await stoppedAt(["passed"]), await stoppedAt(["passed", "running"]), await stoppedAt(["passed", "limited"])];
    });
    expect(stops).toEqual([null, 2, 2]);
  });

  it("while another transaction holds the horizon, a claim from its cursor does not read the entries of the tasks claimed before", async () => {
    const { url, schema } = schemas.create("cursor_horizon");
    const store = await openStore(url);
    await store.enqueue(Array.from({ length: 3_000 }, (_, i) => newTask(`h${i}`)), Date.now());
    await withSchemaClient(schema, async (holder) => {
      // An analytics transaction that wrote: no entry of a task claimed after this can be marked dead.
      await holder.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
      await holder.query("SELECT txid_current()");
      for (let round = 0; round < 29; round++) await store.claim([{ workerId: "w", names: ["resize"], limit: 100 }], Date.now(), terms);
      const buffersRead = await withSchemaClient(schema, async (client) => {
        const { rows: [last] } = await client.query("SELECT max(seq) AS seq FROM tasks WHERE state = 'running'");
        const read = async (cursor: [number, number] | [null, null]): Promise<number> => {
          await client.query("BEGIN");
          const { rows: [row] } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${plainClaimSql}`,
            ["w", ["resize"], 10, Date.now(), Date.now() + 60_000, 0, [cursor[0]], [cursor[1]]]);
          await client.query("ROLLBACK");
          // The buffers of the queue's reads alone (the index scans of tasks_claim and their heap visits).
          const queueReads = (node: PlanNode): number =>
            (node["Index Name"] === "tasks_claim" ? (node["Shared Hit Blocks"] ?? 0) + (node["Shared Read Blocks"] ?? 0) : 0) +
            (node.Plans ?? []).reduce((sum, child) => sum + queueReads(child), 0);
          return queueReads((row?.["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0]?.Plan ?? {});
        };
        return { fromHead: await read([null, null]), fromCursor: await read([0, Number(last?.seq)]) };
      });
      await holder.query("ROLLBACK");
      // From the head: the index pages and heap pages of the 2,900 claimed tasks' entries; from the cursor: a few pages.
      expect(buffersRead.fromHead).toBeGreaterThan(50);
      expect(buffersRead.fromCursor * 10).toBeLessThan(buffersRead.fromHead);
    });
  });

  it("claims, sweeps and counts through partial indexes, never scanning 100,000 finished rows", async () => {
    const { url, schema } = schemas.create("explain");
    const store = await openStore(url);
    await withSchemaClient(schema, async (client) => {
      await client.query(`INSERT INTO tasks (id, name, description, payload, state, max_retries, timeout_ms, retry_backoff_ms, created_at, finished_at, last_sequence)
        SELECT 'done-' || i, 'resize', '', '\\x', 'succeeded', 0, 1000, 1000, i, i, 3 FROM generate_series(1, 100000) AS i`);
      // Many paused names (none of them this claim's), so the planner sees a table worth an index.
      await client.query(`INSERT INTO paused_names (name, reason, paused_at) SELECT 'paused-' || i, '', i FROM generate_series(1, 5000) AS i`);
      await client.query("ANALYZE paused_names");
    });
    await store.enqueue(Array.from({ length: 50 }, (_, i) => newTask(`q${i}`)), Date.now());
    await store.analyze();
    // Every claim tries plainClaimSql first; claimSql is its unguarded form, after the name's gate.
    const claims: Array<[string, string, unknown[]]> = [
      ["plain claim", plainClaimSql, ["w1", ["resize", "other"], 10, 0, 0, 0, [null, null], [null, null]]],
      ["plain claim after a cursor", plainClaimSql, ["w1", ["resize", "other"], 10, 0, 0, 0, [0, null], [20, null]]],
      ["claim", claimSql, ["w1", "resize", 10, 0, 0, 0]],
    ];
    for (const [what, text, values] of claims) {
      const plan = await withSchemaClient(schema, async (client) =>
        (await client.query(`EXPLAIN ${text}`, values)).rows.map((row) => String(row["QUERY PLAN"])).join("\n"));
      // Read in claim order (name, priority DESC, seq) from the partial index: no sort of the queue.
      expect(plan, what).toContain("tasks_claim");
      // The paused-name test (and the plain claim's rate-limit and key tests) are lookups run once
      // for the statement (one-time filters above the queue's index scan), not scans nor tests per row.
      expect(plan, what).toContain("paused_names_pkey");
      expect(plan, what).toContain("One-Time Filter");
      expect(plan, what).not.toMatch(/Seq Scan on paused_names/);
      expect(plan, what).not.toMatch(/Sort/);
      expect(plan, what).not.toMatch(/Seq Scan on tasks/);
    }
    // Nor do the sweeps, counts and retention read the finished rows.
    const maintenance: Array<[string, string, unknown[]]> = [
      ["expire", expiredAttemptsSql, [0]], ["promote", promoteDueSql, [0, 1000]], ["next due", nextDueAtSql, []],
      ["count waiting", countWaitingSql, []], ["count waiting by name", countWaitingByNameSql, []], ["extend all", extendAllLeasesSql, [0]], ["retention", deleteFinishedSql, [0, 100]],
      // A keyed claim's three statements read the keys' indexes, not the finished rows.
      ["lock keys", lockWaitingKeysSql, ["resize", 10]], ["claim of keys", claimOfKeysSql, ["w1", "resize", ["k1", "k2"], 0, 0, 0, [2, null], [5, 5]]],
      ["visited keys", visitedKeysSql, ["resize", ["k1"], 0, [0], [0]]],
    ];
    for (const [what, text, values] of maintenance) {
      const maintenancePlan = await withSchemaClient(schema, async (client) =>
        (await client.query(`EXPLAIN ${text}`, values)).rows.map((row) => String(row["QUERY PLAN"])).join("\n"));
      expect(maintenancePlan, what).not.toMatch(/Seq Scan on tasks/);
    }
    const [claimed] = await store.claim([{ workerId: "w1", names: ["resize"], limit: 10 }], Date.now(), terms);
    expect(claimed?.map((attempt) => attempt.taskId)).toEqual(Array.from({ length: 10 }, (_, i) => `q${i}`));
  });
});

describe("PostgreSQL store pieces: URL, errors, feed order, hints", () => {
  it("parses the URL: schema parameter, label without password", () => {
    const target = parsePostgresUrl("postgres://root:secret@127.0.0.1:5432/test?schema=orch_a&sslmode=disable");
    expect(target.schema).toBe("orch_a");
    expect(target.label).toBe("postgres://root@127.0.0.1:5432/test (schema orch_a)");
    expect(target.connectionString).not.toContain("schema=");
    expect(target.connectionString).toContain("sslmode=disable");
    expect(parsePostgresUrl("postgresql://u@h/db").schema).toBe("public");
    expect(() => parsePostgresUrl("postgres://u@h/db?schema=a;drop")).toThrow(/schema/);
    expect(() => parsePostgresUrl("mysql://u@h/db")).toThrow(/postgres:\/\//);
    expect(() => parsePostgresUrl("postgres://u:pw@[bad")).toThrow(/u:\*\*\*@/);
  });

  it("puts each task's events of one feed report in sequence order, keeping the places", () => {
    const event = (taskId: string, sequence: number): TaskEvent => ({
      taskId, sequence, state: "running", attempt: 1, percent: 0, message: "", timestamp: 0, workerId: null, result: null, error: null, nextAttemptAt: null,
    });
    const reordered = inSequencePerTask([event("a", 3), event("b", 1), event("a", 2), event("b", 2), event("c", 1)]);
    expect(reordered.map((e) => `${e.taskId}${e.sequence}`)).toEqual(["a2", "b1", "a3", "b2", "c1"]);
  });

  it("keeps a hint under the NOTIFY payload limit: too many names become 'any name'", () => {
    const names = Array.from({ length: 2_000 }, (_, i) => `task-name-${i}`);
    expect(JSON.parse(encodeHint({ from: "me", work: ["a", "b"] }, 7_900))).toEqual({ from: "me", work: ["a", "b"] });
    const long = encodeHint({ from: "me", work: names }, 7_900);
    expect(Buffer.byteLength(long)).toBeLessThan(7_900);
    expect(JSON.parse(long)).toEqual({ from: "me", work: null });
    expect(JSON.parse(encodeHint({ from: "me" }, 7_900))).toEqual({ from: "me" });
  });

  it("answers UNAVAILABLE naming the database when it cannot connect", async () => {
    const store = new PostgresStore({ url: "postgres://root@127.0.0.1:1/test?schema=nowhere" });
    try {
      const failure = await store.enqueue([newTask("t1")], Date.now()).then(() => null, (error: unknown) => error);
      expect(failure).toBeInstanceOf(OrchestratorError);
      expect((failure as OrchestratorError).code).toBe(Code.Unavailable);
      expect((failure as OrchestratorError).rawMessage).toContain("postgres://root@127.0.0.1:1/test (schema nowhere)");
      await expect(store.getTask("t1")).rejects.toMatchObject({ code: Code.Unavailable });
    } finally {
      await store.close();
    }
  });

  it("maps a full disk to RESOURCE_EXHAUSTED, a deadlock to ABORTED, and leaves other errors alone", () => {
    const pgError = (code: string): Error => Object.assign(new Error("server said no"), { code });
    expect(storeErrorFrom(pgError("53100"), "db")).toMatchObject({ code: Code.ResourceExhausted });
    expect((storeErrorFrom(pgError("53100"), "postgres://x/db") as OrchestratorError).rawMessage).toContain("disk is full (database postgres://x/db)");
    expect(storeErrorFrom(pgError("40P01"), "db")).toMatchObject({ code: Code.Aborted });
    expect(storeErrorFrom(pgError("57P01"), "db")).toMatchObject({ code: Code.Unavailable });
    expect(storeErrorFrom(new Error("Connection terminated unexpectedly"), "db")).toMatchObject({ code: Code.Unavailable });
    const constraint = pgError("23505");
    expect(storeErrorFrom(constraint, "db")).toBe(constraint);
  });
});
