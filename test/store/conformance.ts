/**
 * One behavioural suite that every TaskStore backend must pass, registered once per backend (as
 * Kysely runs each suite once per dialect). Each test gets a fresh, migrated store; time is passed
 * explicitly, so nothing here sleeps or reads the wall clock.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import type {
  ClaimedAttempt, ClaimRequest, LeaseTerms, NewTask, RetryBackoff, TaskEvent, TaskRecord, TaskSelection, TaskStore,
} from "../../packages/server/src/store/store.js";
import { describeDelayAndPriorityConformance } from "./conformance-delays.js";
import { describeScheduleConformance } from "./conformance-schedules.js";
import { describeScaleOutConformance } from "./conformance-scale-out.js";
import { describeQueueEventsConformance } from "./conformance-queue-events.js";
import { describePausedNameConformance } from "./conformance-paused.js";
import { describeConcurrencyConformance } from "./conformance-concurrency.js";
import { describeRateLimitConformance } from "./conformance-rate-limits.js";
import { describeTraceContextConformance } from "./conformance-trace-context.js";
import { describeActionsConformance } from "./conformance-actions.js";
import { describeHandBackConformance } from "./conformance-hand-back.js";

export const T0 = Date.UTC(2026, 0, 1);
export const terms: LeaseTerms = { leaseMs: 10_000, deadlineGraceMs: 5_000 };

export function newTask(id: string, overrides: Partial<NewTask> = {}): NewTask {
  return {
    id, name: "resize", description: `task ${id}`, payload: new TextEncoder().encode(`payload of ${id}`),
    timeoutMs: 60_000, maxRetries: 2, retryBackoffMs: 1_000, priority: 0, runAt: null, ...overrides,
  };
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Compares byte content only, whatever Uint8Array subclass (e.g. Buffer) a backend returns. */
export function byteList(value: Uint8Array | null | undefined): number[] | null {
  return value ? Array.from(value) : null;
}

/** A deterministic backoff: the n-th failure waits retryBackoffMs * 2^(n-1), no cap, no jitter. */
export const exactBackoff: RetryBackoff = { maxDelayMs: 1e12, jitter: 0 };
export const noBackoff: RetryBackoff = { maxDelayMs: 0, jitter: 0 };

/** What a test may ask of a backend when opening a store. */
export interface OpenOptions {
  /** The jitter source (default Math.random). */
  random?: () => number;
}

export function describeTaskStoreConformance(backendName: string, open: (options?: OpenOptions) => Promise<TaskStore>): void {
  describe(`TaskStore conformance: ${backendName}`, () => {
    let store: TaskStore;

    beforeEach(async () => {
      store = await open();
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
    });

    async function task(id: string): Promise<TaskRecord> {
      const record = await store.getTask(id);
      if (!record) throw new Error(`task ${id} is not stored`);
      return record;
    }

    async function claim(workerId: string, names: readonly string[], limit: number, now: number): Promise<ClaimedAttempt[]> {
      const [claimed] = await store.claim([{ workerId, names, limit }], now, terms);
      if (!claimed) throw new Error("claim returned no list for the request");
      return claimed;
    }

    async function claimOnly(workerId: string, now: number, names: readonly string[] = ["resize"]): Promise<ClaimedAttempt> {
      const claimed = await claim(workerId, names, 1, now);
      expect(claimed).toHaveLength(1);
      return claimed[0] as ClaimedAttempt;
    }

    async function sequences(taskId: string): Promise<number[]> {
      return (await store.listEvents(taskId, 0)).map((event) => event.sequence);
    }

    describe("enqueue", () => {
      it("returns each task's first event (sequence 1, queued) in input order", async () => {
        const events = await store.enqueue([newTask("c"), newTask("a"), newTask("b")], T0);
        expect(events.map((event) => event.taskId)).toEqual(["c", "a", "b"]);
        for (const event of events) {
          expect(event).toMatchObject({ sequence: 1, state: "queued", attempt: 0, timestamp: T0, workerId: null, result: null, error: null });
        }
        expect(await task("a")).toMatchObject({ state: "queued", attempt: 0, createdAt: T0, lastSequence: 1, startedAt: null, finishedAt: null });
      });

      it("rejects a batch holding a duplicate id and stores none of it", async () => {
        await expect(store.enqueue([newTask("a"), newTask("b"), newTask("a")], T0)).rejects.toThrow();
        expect(await store.getTask("a")).toBeNull();
        expect(await store.getTask("b")).toBeNull();
        expect(await store.listEvents("a", 0)).toEqual([]);
        expect((await store.listTasks({ limit: 10 })).tasks).toEqual([]);
      });

      it("rejects a batch reusing a stored id, keeping the stored task unchanged", async () => {
        await store.enqueue([newTask("a", { description: "first" })], T0);
        await expect(store.enqueue([newTask("b"), newTask("a", { description: "second" })], T0 + 1)).rejects.toThrow();
        expect(await store.getTask("b")).toBeNull();
        expect(await task("a")).toMatchObject({ description: "first", createdAt: T0 });
        expect(await sequences("a")).toEqual([1]);
      });
    });

    describe("idempotency keys", () => {
      const day = 24 * 3600 * 1000;
      /** Task `id` as the same request each time: only the id (the Scheduler's) differs between repeats. */
      const keyed = (id: string, key: string, overrides: Partial<NewTask> = {}): NewTask =>
        newTask(id, { description: "order", payload: bytes("order payload"), idempotencyKey: key, ...overrides });

      it("answers a repeated key with the first task's first event and stores nothing new", async () => {
        await store.enqueue([keyed("a", "order-42")], T0);
        const [again] = await store.enqueue([keyed("b", "order-42")], T0 + 5, day);
        expect(again).toMatchObject({ taskId: "a", sequence: 1, state: "queued", timestamp: T0 });
        expect(await store.getTask("b")).toBeNull();
        expect((await store.listTasks({ limit: 10 })).tasks.map((t) => t.id)).toEqual(["a"]);
      });

      it("dedupes within one batch, and tasks without a key are never deduped", async () => {
        const events = await store.enqueue([keyed("a", "k"), newTask("b"), keyed("c", "k"), newTask("d")], T0, day);
        expect(events.map((e) => e.taskId)).toEqual(["a", "b", "a", "d"]);
        expect((await store.listTasks({ limit: 10 })).tasks.map((t) => t.id)).toEqual(["d", "b", "a"]);
      });

      it("refuses a reused key whose request differs in any task field with ALREADY_EXISTS naming the first task, storing nothing", async () => {
        await store.enqueue([keyed("a", "k")], T0, day);
        const changes: Array<[string, Partial<NewTask>]> = [
          ["name", { name: "other" }], ["payload", { payload: bytes("another payload") }], ["description", { description: "changed" }],
          ["timeout_secs", { timeoutMs: 1_000 }], ["max_retries", { maxRetries: 7 }], ["retry_backoff_ms", { retryBackoffMs: 5 }],
          ["priority", { priority: 5 }],
        ];
        for (const [field, change] of changes) {
          const refused = await store.enqueue([keyed(`b-${field}`, "k", change)], T0 + 1, day).then(() => null, (error: unknown) => error);
          expect(refused, field).toBeInstanceOf(OrchestratorError);
          expect((refused as OrchestratorError).code, field).toBe(Code.AlreadyExists);
          expect((refused as OrchestratorError).rawMessage, field).toContain('idempotency key "k" already belongs to task a');
          expect((refused as OrchestratorError).rawMessage, field).toContain(`a different ${field};`);
          expect(await store.getTask(`b-${field}`), field).toBeNull();
        }
        // The same request still answers the first task.
        expect((await store.enqueue([keyed("c", "k")], T0 + 2, day))[0]?.taskId).toBe("a");
        expect((await store.listTasks({ limit: 10 })).tasks.map((t) => t.id)).toEqual(["a"]);
      });

      it("refuses a whole batch in which a key is reused with a different request, even within the batch", async () => {
        const refused = await store.enqueue([newTask("a"), keyed("b", "k"), keyed("c", "k", { payload: bytes("changed") })], T0, day)
          .then(() => null, (error: unknown) => error);
        expect((refused as OrchestratorError).code).toBe(Code.AlreadyExists);
        expect((refused as OrchestratorError).rawMessage).toContain("task b");
        expect((await store.listTasks({ limit: 10 })).tasks).toEqual([]);
        // Nothing of the refused batch holds the key: the changed request now makes its task.
        expect((await store.enqueue([keyed("d", "k", { payload: bytes("changed") })], T0 + 1, day))[0]?.taskId).toBe("d");
      });

      it("forgets a key after the retention window, so the same key makes a new task", async () => {
        await store.enqueue([keyed("a", "k")], T0, day);
        const [stillKnown] = await store.enqueue([keyed("b", "k")], T0 + day - 1, day);
        expect(stillKnown?.taskId).toBe("a");
        const [fresh] = await store.enqueue([keyed("c", "k", { payload: bytes("new request") })], T0 + day, day);
        expect(fresh?.taskId).toBe("c");
        const [now] = await store.enqueue([keyed("d", "k", { payload: bytes("new request") })], T0 + day + 1, day);
        expect(now?.taskId).toBe("c");
      });

      it("forgetIdempotencyKeys drops keys stored at or before the given time", async () => {
        await store.enqueue([keyed("a", "old"), keyed("b", "new")], T0, day);
        await store.forgetIdempotencyKeys(T0);
        const events = await store.enqueue([keyed("c", "old", { payload: bytes("new request") })], T0 + 1, day);
        expect(events[0]?.taskId).toBe("c");
      });

      it("counts waiting tasks: queued and retrying, not running or finished", async () => {
        await store.enqueue([newTask("q1"), newTask("q2"), newTask("r1", { name: "other" })], T0);
        expect(await store.countWaiting()).toBe(3);
        await claim("w1", ["other"], 1, T0);
        expect(await store.countWaiting()).toBe(2);
        await store.fail({ taskId: "r1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 1, exactBackoff);
        expect(await store.countWaiting()).toBe(3);
      });

      it("counts waiting tasks by name and state (keyed and unkeyed queued tasks together), leaving out names with none", async () => {
        const byNameAndState = async (): Promise<string[]> =>
          (await store.countWaitingByName()).map(({ name, state, count }) => `${name} ${state} ${count}`).sort();
        expect(await store.countWaitingByName()).toEqual([]);
        await store.enqueue([
          newTask("q1"), newTask("q2", { concurrencyKey: "k" }), newTask("s1", { runAt: T0 + 60_000 }),
          newTask("r1", { name: "other" }), newTask("o2", { name: "other" }), newTask("done", { name: "gone" }),
        ], T0);
        expect(await byNameAndState()).toEqual(["gone queued 1", "other queued 2", "resize queued 2", "resize scheduled 1"]);
        await claim("w1", ["other"], 1, T0);
        await claim("w1", ["gone"], 1, T0);
        await store.complete({ taskId: "done", attempt: 1 }, bytes("ok"), T0 + 1);
        await store.fail({ taskId: "r1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 1, exactBackoff);
        expect(await byNameAndState()).toEqual(["other queued 1", "other retrying 1", "resize queued 2", "resize scheduled 1"]);
        // Summed over names and states, it is countWaiting.
        const total = (await store.countWaitingByName()).reduce((sum, { count }) => sum + count, 0);
        expect(total).toBe(await store.countWaiting());
      });
    });

    describe("claim", () => {
      it("tells when each claimed task became runnable: its submit, or its run_at when that is later", async () => {
        await store.enqueue([newTask("now"), newTask("later", { runAt: T0 + 1_000 })], T0);
        await store.promoteDue(T0 + 1_000);
        const claimed = await claim("w1", ["resize"], 2, T0 + 1_500);
        expect(claimed.map((attempt) => [attempt.taskId, attempt.runnableSince])).toEqual([["now", T0], ["later", T0 + 1_000]]);
      });

      it("hands out queued tasks of a name oldest first, up to the limit", async () => {
        await store.enqueue([newTask("t1"), newTask("t2")], T0);
        await store.enqueue([newTask("t3")], T0 + 1);
        expect((await claim("w1", ["resize"], 2, T0 + 10)).map((c) => c.taskId)).toEqual(["t1", "t2"]);
        expect((await claim("w1", ["resize"], 2, T0 + 11)).map((c) => c.taskId)).toEqual(["t3"]);
        expect(await claim("w1", ["resize"], 2, T0 + 12)).toEqual([]);
      });

      it("keeps FIFO order in a long queue interleaved with other names", async () => {
        const tasks = Array.from({ length: 60 }, (_, i) => newTask(`t${String(i).padStart(2, "0")}`, { name: i % 3 === 0 ? "email" : "resize" }));
        await store.enqueue(tasks, T0);
        const expected = tasks.filter((t) => t.name === "resize").map((t) => t.id);
        const claimed = [...(await claim("w1", ["resize"], 25, T0)), ...(await claim("w2", ["resize"], 25, T0))];
        expect(claimed.map((c) => c.taskId)).toEqual(expected);
      });

      it("claims only the names asked for", async () => {
        await store.enqueue([newTask("r1"), newTask("e1", { name: "email" })], T0);
        expect((await claim("w1", ["email"], 10, T0)).map((c) => c.taskId)).toEqual(["e1"]);
        expect(await claim("w1", ["unknown"], 10, T0)).toEqual([]);
        expect((await task("r1")).state).toBe("queued");
      });

      it("tries several names in the order given, within one limit", async () => {
        await store.enqueue([newTask("e1", { name: "email" }), newTask("r1"), newTask("r2")], T0);
        expect((await claim("w1", ["resize", "email"], 2, T0)).map((c) => c.taskId)).toEqual(["r1", "r2"]);
        expect((await claim("w1", ["resize", "email"], 2, T0)).map((c) => c.taskId)).toEqual(["e1"]);
      });

      it("claims a more urgent task enqueued after earlier claims first, and a promoted retry before younger tasks", async () => {
        await store.enqueue(["t1", "t2", "t3", "t4"].map((id) => newTask(id, { retryBackoffMs: 10 })), T0);
        expect((await claim("w1", ["resize"], 1, T0 + 1)).map((c) => c.taskId)).toEqual(["t1"]);
        expect((await claim("w1", ["resize"], 1, T0 + 2)).map((c) => c.taskId)).toEqual(["t2"]);
        await store.enqueue([newTask("urgent", { priority: 5 })], T0 + 3);
        expect((await claim("w1", ["resize"], 1, T0 + 4)).map((c) => c.taskId)).toEqual(["urgent"]);
        // t1 fails and comes back: older than t3 and t4, it goes first again.
        await store.fail({ taskId: "t1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 5, noBackoff);
        await store.promoteDue(T0 + 100);
        expect((await claim("w1", ["resize"], 2, T0 + 101)).map((c) => c.taskId)).toEqual(["t1", "t3"]);
        await store.enqueue([newTask("later", { priority: -5 }), newTask("t5")], T0 + 102);
        expect((await claim("w1", ["resize"], 5, T0 + 103)).map((c) => c.taskId)).toEqual(["t4", "t5", "later"]);
      });

      it("serves several requests in order without handing the same task twice", async () => {
        await store.enqueue(["t1", "t2", "t3"].map((id) => newTask(id)), T0);
        const requests: ClaimRequest[] = [
          { workerId: "w1", names: ["resize"], limit: 2 },
          { workerId: "w2", names: ["resize"], limit: 2 },
          { workerId: "w3", names: ["resize"], limit: 2 },
        ];
        const [first, second, third] = await store.claim(requests, T0, terms);
        expect(first?.map((c) => [c.taskId, c.workerId])).toEqual([["t1", "w1"], ["t2", "w1"]]);
        expect(second?.map((c) => [c.taskId, c.workerId])).toEqual([["t3", "w2"]]);
        expect(third).toEqual([]);
        expect((await task("t3")).workerId).toBe("w2");
      });

      it("returns an empty list per request when nothing can be claimed", async () => {
        const requests: ClaimRequest[] = [{ workerId: "w1", names: ["resize"], limit: 5 }, { workerId: "w2", names: ["email"], limit: 5 }];
        expect(await store.claim(requests, T0, terms)).toEqual([[], []]);
        await store.enqueue([newTask("t1")], T0);
        expect(await claim("w1", ["resize"], 0, T0)).toEqual([]);
        expect((await task("t1")).state).toBe("queued");
      });

      it("starts attempt 1 with a running event at sequence 2 naming the worker", async () => {
        const payload = new Uint8Array([0, 1, 254, 255]);
        await store.enqueue([newTask("t1", { payload, timeoutMs: 1_234, maxRetries: 3 })], T0);
        const claimed = await claimOnly("w7", T0 + 5);
        expect(claimed).toMatchObject({ taskId: "t1", attempt: 1, workerId: "w7", name: "resize", timeoutMs: 1_234, maxRetries: 3 });
        expect(byteList(claimed.payload)).toEqual([0, 1, 254, 255]);
        expect(claimed.event).toMatchObject({ taskId: "t1", sequence: 2, state: "running", attempt: 1, workerId: "w7", timestamp: T0 + 5 });
        expect(await task("t1")).toMatchObject({ state: "running", attempt: 1, workerId: "w7", startedAt: T0 + 5, lastSequence: 2 });
      });
    });

    describe("complete", () => {
      it("succeeds once; a second completion is refused and keeps the first result", async () => {
        await store.enqueue([newTask("t1")], T0);
        const { attempt } = await claimOnly("w1", T0);
        const event = await store.complete({ taskId: "t1", attempt }, bytes("first"), T0 + 10);
        expect(event).toMatchObject({ sequence: 3, state: "succeeded", attempt: 1, percent: 100, timestamp: T0 + 10, workerId: "w1" });
        expect(byteList(event?.result)).toEqual(byteList(bytes("first")));
        expect(await store.complete({ taskId: "t1", attempt }, bytes("second"), T0 + 20)).toBeNull();
        const record = await task("t1");
        expect(record).toMatchObject({ state: "succeeded", finishedAt: T0 + 10, lastSequence: 3, percent: 100 });
        expect(byteList(record.result)).toEqual(byteList(bytes("first")));
        expect(await sequences("t1")).toEqual([1, 2, 3]);
      });

      it("refuses a stale or unknown attempt (fencing)", async () => {
        await store.enqueue([newTask("t1")], T0);
        await claimOnly("w1", T0);
        expect(await store.complete({ taskId: "t1", attempt: 2 }, bytes("x"), T0)).toBeNull();
        expect(await store.complete({ taskId: "t1", attempt: 0 }, bytes("x"), T0)).toBeNull();
        expect(await store.complete({ taskId: "nope", attempt: 1 }, bytes("x"), T0)).toBeNull();
        expect(await task("t1")).toMatchObject({ state: "running", result: null, lastSequence: 2 });
      });

      it("refuses the previous attempt after a retry started a new one", async () => {
        await store.enqueue([newTask("t1")], T0);
        await claimOnly("w1", T0);
        await store.fail({ taskId: "t1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 1, noBackoff);
        await store.promoteDue(T0 + 1);
        expect((await claimOnly("w2", T0 + 2)).attempt).toBe(2);
        expect(await store.complete({ taskId: "t1", attempt: 1 }, bytes("late"), T0 + 3)).toBeNull();
        expect(await store.complete({ taskId: "t1", attempt: 2 }, bytes("ok"), T0 + 4)).toMatchObject({ state: "succeeded", attempt: 2, workerId: "w2" });
      });

      it("refuses to complete a cancelled task", async () => {
        await store.enqueue([newTask("t1")], T0);
        await claimOnly("w1", T0);
        await store.cancel("t1", "user asked", T0 + 1);
        expect(await store.complete({ taskId: "t1", attempt: 1 }, bytes("late"), T0 + 2)).toBeNull();
        expect(await task("t1")).toMatchObject({ state: "cancelled", result: null });
      });
    });

    describe("fail", () => {
      it("retries a retryable failure after the backoff of attempt 1 (retryBackoffMs)", async () => {
        await store.enqueue([newTask("t1", { retryBackoffMs: 250 })], T0);
        await claimOnly("w1", T0);
        const event = await store.fail({ taskId: "t1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 100, exactBackoff);
        expect(event).toMatchObject({ sequence: 3, state: "retrying", attempt: 1, error: "boom", nextAttemptAt: T0 + 350, timestamp: T0 + 100 });
        expect(await task("t1")).toMatchObject({ state: "retrying", error: "boom", nextAttemptAt: T0 + 350, finishedAt: null });
        expect(await claim("w1", ["resize"], 1, T0 + 1_000)).toEqual([]);
      });

      it("fails a non-retryable failure at once, whatever retries are left", async () => {
        await store.enqueue([newTask("t1", { maxRetries: 5 })], T0);
        await claimOnly("w1", T0);
        const event = await store.fail({ taskId: "t1", attempt: 1 }, { error: "bad input", retryable: false }, T0 + 7, exactBackoff);
        expect(event).toMatchObject({ sequence: 3, state: "failed", attempt: 1, error: "bad input", nextAttemptAt: null });
        expect(await task("t1")).toMatchObject({ state: "failed", error: "bad input", finishedAt: T0 + 7, nextAttemptAt: null });
      });

      it("applies RetryBackoff as data: doubling per attempt, capped at maxDelayMs, scaled by the jitter it draws", async () => {
        const jittered = await open({ random: () => 0.5 });
        try {
          await jittered.migrate();
          await jittered.enqueue([newTask("t1", { maxRetries: 5, retryBackoffMs: 1_000 })], T0);
          const backoff: RetryBackoff = { maxDelayMs: 3_000, jitter: 0.5 };
          const delays: number[] = [];
          let now = T0;
          for (let round = 0; round < 3; round += 1) {
            const [claimed] = await jittered.claim([{ workerId: "w1", names: ["resize"], limit: 1 }], now, terms);
            const attempt = claimed?.[0]?.attempt ?? 0;
            const event = await jittered.fail({ taskId: "t1", attempt }, { error: "boom", retryable: true }, now, backoff);
            delays.push((event?.nextAttemptAt ?? now) - now);
            now += 10_000;
            await jittered.promoteDue(now);
          }
          // 1000, 2000, then 4000 capped at 3000; each scaled by 1 - 0.5 * 0.5.
          expect(delays).toEqual([750, 1_500, 2_250]);
        } finally {
          await jittered.close();
        }
      });

      it("fails when no retries are left", async () => {
        await store.enqueue([newTask("t1", { maxRetries: 0 })], T0);
        await claimOnly("w1", T0);
        const event = await store.fail({ taskId: "t1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 1, noBackoff);
        expect(event).toMatchObject({ state: "failed", attempt: 1 });
        expect(await store.nextDueAt()).toBeNull();
      });

      it("runs at most maxRetries + 1 attempts over a full claim/fail cycle", async () => {
        await store.enqueue([newTask("t1", { maxRetries: 2, retryBackoffMs: 100 })], T0);
        const attempts: number[] = [];
        const states: string[] = [];
        const delays: number[] = [];
        let now = T0;
        for (let round = 0; round < 5; round += 1) {
          const claimed = await claim("w1", ["resize"], 1, now);
          if (claimed.length === 0) break;
          const attempt = (claimed[0] as ClaimedAttempt).attempt;
          attempts.push(attempt);
          const event = await store.fail({ taskId: "t1", attempt }, { error: `boom ${attempt}`, retryable: true }, now, exactBackoff);
          states.push(event?.state ?? "refused");
          if (event?.nextAttemptAt) delays.push(event.nextAttemptAt - now);
          now += 10_000;
          await store.promoteDue(now);
        }
        expect(attempts).toEqual([1, 2, 3]);
        expect(states).toEqual(["retrying", "retrying", "failed"]);
        expect(delays).toEqual([100, 200]);
        expect(await task("t1")).toMatchObject({ state: "failed", attempt: 3, error: "boom 3" });
      });

      it("refuses a stale attempt and a finished task", async () => {
        await store.enqueue([newTask("t1"), newTask("t2")], T0);
        await claim("w1", ["resize"], 2, T0);
        expect(await store.fail({ taskId: "t1", attempt: 2 }, { error: "x", retryable: true }, T0, noBackoff)).toBeNull();
        await store.complete({ taskId: "t2", attempt: 1 }, bytes("ok"), T0);
        expect(await store.fail({ taskId: "t2", attempt: 1 }, { error: "x", retryable: false }, T0, noBackoff)).toBeNull();
        expect(await task("t1")).toMatchObject({ state: "running", error: null });
        expect(await task("t2")).toMatchObject({ state: "succeeded", error: null });
      });
    });

    describe("retries", () => {
      async function failToRetrying(id: string, name: string, retryBackoffMs: number): Promise<void> {
        await store.enqueue([newTask(id, { name, retryBackoffMs })], T0);
        const claimed = await claimOnly("w1", T0, [name]);
        await store.fail({ taskId: id, attempt: claimed.attempt }, { error: "boom", retryable: true }, T0, exactBackoff);
      }

      it("promotes only due retries, returns their names, and tracks the next due time", async () => {
        expect(await store.nextDueAt()).toBeNull();
        await failToRetrying("soon", "email", 1_000);
        await failToRetrying("later", "resize", 5_000);
        expect(await store.nextDueAt()).toBe(T0 + 1_000);
        expect(await store.promoteDue(T0 + 999)).toEqual([]);
        expect(await store.promoteDue(T0 + 1_000)).toEqual(["email"]);
        expect(await task("soon")).toMatchObject({ state: "queued", nextAttemptAt: null });
        expect((await task("later")).state).toBe("retrying");
        expect(await store.nextDueAt()).toBe(T0 + 5_000);
        expect(await store.promoteDue(T0 + 60_000)).toEqual(["resize"]);
        expect(await store.nextDueAt()).toBeNull();
        expect(await store.promoteDue(T0 + 60_000)).toEqual([]);
      });

      it("lets a promoted task be claimed again as attempt 2", async () => {
        await failToRetrying("t1", "resize", 1_000);
        await store.promoteDue(T0 + 1_000);
        const claimed = await claimOnly("w2", T0 + 2_000);
        expect(claimed).toMatchObject({ taskId: "t1", attempt: 2, workerId: "w2" });
        const record = await task("t1");
        expect(claimed.event).toMatchObject({ state: "running", attempt: 2, sequence: record.lastSequence, workerId: "w2" });
        expect(record).toMatchObject({ state: "running", attempt: 2, workerId: "w2", startedAt: T0 + 2_000 });
      });
    });

    describe("progress", () => {
      it("records events with increasing sequence and updates the task", async () => {
        await store.enqueue([newTask("t1")], T0);
        const { attempt } = await claimOnly("w1", T0);
        const first = await store.progress({ taskId: "t1", attempt }, 25, "a quarter", T0 + 1);
        const second = await store.progress({ taskId: "t1", attempt }, 60, "most", T0 + 2);
        expect(first).toMatchObject({ sequence: 3, state: "running", attempt: 1, percent: 25, message: "a quarter", timestamp: T0 + 1, workerId: "w1" });
        expect(second).toMatchObject({ sequence: 4, percent: 60, message: "most", timestamp: T0 + 2 });
        expect(await task("t1")).toMatchObject({ percent: 60, message: "most", lastSequence: 4 });
        expect(await store.listEvents("t1", 2)).toMatchObject([{ sequence: 3, percent: 25 }, { sequence: 4, percent: 60 }]);
      });

      it("refuses a stale attempt or a finished task", async () => {
        await store.enqueue([newTask("t1")], T0);
        await claimOnly("w1", T0);
        expect(await store.progress({ taskId: "t1", attempt: 2 }, 50, "stale", T0)).toBeNull();
        await store.complete({ taskId: "t1", attempt: 1 }, bytes("ok"), T0);
        expect(await store.progress({ taskId: "t1", attempt: 1 }, 50, "late", T0)).toBeNull();
        expect(await task("t1")).toMatchObject({ percent: 100, state: "succeeded", lastSequence: 3 });
      });
    });

    describe("leases and deadlines", () => {
      it("expires an attempt whose lease passed and retries it while retries remain", async () => {
        await store.enqueue([newTask("t1", { retryBackoffMs: 500 })], T0);
        await claimOnly("w1", T0);
        expect(await store.expireAttempts(T0 + terms.leaseMs - 1, exactBackoff)).toEqual([]);
        const expired = await store.expireAttempts(T0 + terms.leaseMs, exactBackoff);
        expect(expired).toHaveLength(1);
        expect(expired[0]).toMatchObject({ taskId: "t1", attempt: 1, workerId: "w1", reason: "lease expired" });
        expect(expired[0]?.event).toMatchObject({ taskId: "t1", state: "retrying", sequence: 3, nextAttemptAt: T0 + terms.leaseMs + 500 });
        expect((await task("t1")).state).toBe("retrying");
        expect(await store.complete({ taskId: "t1", attempt: 1 }, bytes("late"), T0 + terms.leaseMs + 1)).toBeNull();
        expect(await store.expireAttempts(T0 + terms.leaseMs * 10, exactBackoff)).toEqual([]);
      });

      it("fails an expired attempt when no retries are left", async () => {
        await store.enqueue([newTask("t1", { maxRetries: 0 })], T0);
        await claimOnly("w1", T0);
        const expired = await store.expireAttempts(T0 + terms.leaseMs, noBackoff);
        expect(expired.map((e) => [e.reason, e.event.state])).toEqual([["lease expired", "failed"]]);
        expect((await task("t1")).state).toBe("failed");
      });

      it("extendLeases pushes the expiry of the named current attempts only", async () => {
        await store.enqueue([newTask("t1"), newTask("t2")], T0);
        await claimOnly("w1", T0);
        await claimOnly("w2", T0);
        await store.extendLeases([{ taskId: "t1", attempt: 1, until: T0 + 30_000 }, { taskId: "t2", attempt: 7, until: T0 + 30_000 }]);
        const firstSweep = await store.expireAttempts(T0 + terms.leaseMs, noBackoff);
        expect(firstSweep.map((e) => [e.taskId, e.workerId])).toEqual([["t2", "w2"]]);
        expect(await store.expireAttempts(T0 + 29_999, noBackoff)).toEqual([]);
        const secondSweep = await store.expireAttempts(T0 + 30_000, noBackoff);
        expect(secondSweep.map((e) => [e.taskId, e.reason])).toEqual([["t1", "lease expired"]]);
      });

      it("ends an attempt once timeoutMs + deadlineGraceMs have passed since the claim", async () => {
        await store.enqueue([newTask("t1", { timeoutMs: 20_000 })], T0);
        await claimOnly("w1", T0 + 100);
        await store.extendLeases([{ taskId: "t1", attempt: 1, until: T0 + 1_000_000 }]);
        const deadline = T0 + 100 + 20_000 + terms.deadlineGraceMs;
        expect(await store.expireAttempts(deadline - 1, noBackoff)).toEqual([]);
        const expired = await store.expireAttempts(deadline, noBackoff);
        expect(expired.map((e) => [e.taskId, e.name, e.attempt, e.workerId, e.reason])).toEqual([["t1", "resize", 1, "w1", "deadline passed"]]);
        expect(expired[0]?.event.state).toBe("retrying");
      });

      it("returns [] when nothing is due", async () => {
        expect(await store.expireAttempts(T0, noBackoff)).toEqual([]);
        await store.enqueue([newTask("t1"), newTask("t2")], T0);
        await claimOnly("w1", T0);
        expect(await store.expireAttempts(T0 + 1, noBackoff)).toEqual([]);
        expect(await task("t1")).toMatchObject({ state: "running", attempt: 1 });
      });
    });

    describe("cancel", () => {
      it("cancels a queued task with an event and nothing interrupted", async () => {
        await store.enqueue([newTask("t1")], T0);
        const outcome = await store.cancel("t1", "user asked", T0 + 5);
        expect(outcome).toMatchObject({ state: "cancelled", cancelled: true, interrupted: null });
        expect(outcome?.event).toMatchObject({ taskId: "t1", sequence: 2, state: "cancelled", timestamp: T0 + 5 });
        expect(await task("t1")).toMatchObject({ state: "cancelled", finishedAt: T0 + 5, lastSequence: 2 });
      });

      it("cancels a running task and names the interrupted attempt", async () => {
        await store.enqueue([newTask("t1")], T0);
        await claimOnly("w9", T0);
        const outcome = await store.cancel("t1", "user asked", T0 + 5);
        expect(outcome).toMatchObject({ state: "cancelled", cancelled: true, interrupted: { taskId: "t1", attempt: 1, workerId: "w9" } });
        expect(outcome?.event).toMatchObject({ sequence: 3, state: "cancelled", attempt: 1 });
        expect(await store.expireAttempts(T0 + 1_000_000, noBackoff)).toEqual([]);
      });

      it("cancels a retrying task so it is never promoted", async () => {
        await store.enqueue([newTask("t1")], T0);
        await claimOnly("w1", T0);
        await store.fail({ taskId: "t1", attempt: 1 }, { error: "boom", retryable: true }, T0, noBackoff);
        expect(await store.cancel("t1", "user asked", T0 + 1)).toMatchObject({ cancelled: true, interrupted: null });
        expect(await store.nextDueAt()).toBeNull();
        expect(await store.promoteDue(T0 + 1_000_000)).toEqual([]);
        expect((await task("t1")).state).toBe("cancelled");
      });

      it("leaves a finished task alone and reports its state", async () => {
        await store.enqueue([newTask("done"), newTask("gone")], T0);
        await claimOnly("w1", T0);
        await store.complete({ taskId: "done", attempt: 1 }, bytes("ok"), T0);
        await store.cancel("gone", "first", T0);
        expect(await store.cancel("done", "too late", T0 + 1)).toEqual({ state: "succeeded", name: "resize", cancelled: false, event: null, interrupted: null });
        expect(await store.cancel("gone", "again", T0 + 1)).toEqual({ state: "cancelled", name: "resize", cancelled: false, event: null, interrupted: null });
        expect(await sequences("done")).toEqual([1, 2, 3]);
        expect(await sequences("gone")).toEqual([1, 2]);
      });

      it("returns null for an unknown task", async () => {
        expect(await store.cancel("nope", "why", T0)).toBeNull();
      });

      it("keeps a cancelled task from being claimed", async () => {
        await store.enqueue([newTask("t1"), newTask("t2")], T0);
        await store.cancel("t1", "user asked", T0);
        expect((await claim("w1", ["resize"], 5, T0)).map((c) => c.taskId)).toEqual(["t2"]);
      });
    });

    describe("reads", () => {
      it("getTask returns null for an unknown id and round-trips every field", async () => {
        expect(await store.getTask("nope")).toBeNull();
        const payload = new Uint8Array([0, 255, 10, 13, 0, 128]);
        const input = newTask("t1", { name: "encode", description: "encode a video", payload, timeoutMs: 9_000, maxRetries: 4, retryBackoffMs: 300, priority: -7, runAt: T0 + 1,
          concurrencyKey: "customer-7", concurrencyLimit: 3 });
        await store.enqueue([input], T0);
        expect(await store.promoteDue(T0 + 1)).toEqual(["encode"]);
        await claimOnly("w1", T0 + 1, ["encode"]);
        await store.progress({ taskId: "t1", attempt: 1 }, 42.5, "halfway", T0 + 2);
        await store.complete({ taskId: "t1", attempt: 1 }, new Uint8Array([9, 0, 8, 255]), T0 + 3);
        const record = await task("t1");
        expect({ ...record, payload: byteList(record.payload), result: byteList(record.result) }).toEqual({
          id: "t1", name: "encode", description: "encode a video", payload: [0, 255, 10, 13, 0, 128],
          timeoutMs: 9_000, maxRetries: 4, retryBackoffMs: 300, state: "succeeded", attempt: 1, result: [9, 0, 8, 255],
          error: null, percent: 100, message: record.message, workerId: "w1", createdAt: T0, startedAt: T0 + 1,
          finishedAt: T0 + 3, nextAttemptAt: null, lastSequence: 5, priority: -7, runAt: T0 + 1, scheduleId: null, scheduleTickMs: null,
          concurrencyKey: "customer-7", concurrencyLimit: 3,
        });
        expect(typeof record.message).toBe("string");
      });

      it("round-trips an empty payload", async () => {
        await store.enqueue([newTask("t1", { payload: new Uint8Array(0) })], T0);
        expect(byteList((await task("t1")).payload)).toEqual([]);
        expect(byteList((await claimOnly("w1", T0)).payload)).toEqual([]);
      });

      it("listTasks leaves out payload and result, which getTask returns", async () => {
        await store.enqueue([newTask("t1", { payload: new Uint8Array([1, 2, 3]) })], T0);
        await claimOnly("w1", T0);
        await store.complete({ taskId: "t1", attempt: 1 }, new Uint8Array([7, 7]), T0 + 1);
        const [listed] = (await store.listTasks({ limit: 10 })).tasks;
        expect(listed?.id).toBe("t1");
        expect(listed?.state).toBe("succeeded");
        expect(byteList(listed?.payload ?? new Uint8Array([9]))).toEqual([]);
        expect(listed?.result).toBeNull();
        expect(byteList((await task("t1")).result)).toEqual([7, 7]);
      });

      it("listTasks filters by state and by name", async () => {
        await store.enqueue([newTask("r1"), newTask("e1", { name: "email" }), newTask("r2"), newTask("e2", { name: "email" })], T0);
        await claim("w1", ["resize"], 1, T0);
        const ids = async (selection: TaskSelection) => (await store.listTasks({ ...selection, limit: 10 })).tasks.map((t) => t.id);
        expect(await ids({})).toEqual(["e2", "r2", "e1", "r1"]);
        expect(await ids({ states: ["running"] })).toEqual(["r1"]);
        expect(await ids({ states: ["queued"] })).toEqual(["e2", "r2", "e1"]);
        expect(await ids({ names: ["email"] })).toEqual(["e2", "e1"]);
        expect(await ids({ names: ["resize"], states: ["queued"] })).toEqual(["r2"]);
        expect(await ids({ states: ["failed"] })).toEqual([]);
        expect(await ids({ names: ["email", "resize"], states: ["running", "queued"] })).toEqual(["e2", "r2", "e1", "r1"]);
        expect(await store.countTasks({ states: ["queued"] })).toBe(3);
        expect(await store.countTasks({})).toBe(4);
        expect(await store.countTasks({ names: ["missing"] })).toBe(0);
      });

      it("listTasks and countTasks select by key, schedule and creation time", async () => {
        await store.enqueue([newTask("early", { concurrencyKey: "tenant-a" })], T0);
        await store.enqueue([newTask("middle", { concurrencyKey: "tenant-b" })], T0 + 1_000);
        await store.enqueue([newTask("late", { concurrencyKey: "tenant-a" })], T0 + 2_000);
        const ids = async (selection: TaskSelection) => (await store.listTasks({ ...selection, limit: 10 })).tasks.map((t) => t.id);
        expect(await ids({ concurrencyKey: "tenant-a" })).toEqual(["late", "early"]);
        expect(await ids({ createdAfter: T0 + 1_000 })).toEqual(["late", "middle"]);
        expect(await ids({ createdBefore: T0 + 1_000 })).toEqual(["early"]);
        expect(await ids({ createdAfter: T0 + 500, createdBefore: T0 + 1_500 })).toEqual(["middle"]);
        expect(await ids({ scheduleId: "no-such-schedule" })).toEqual([]);
        expect(await store.countTasks({ concurrencyKey: "tenant-a", createdAfter: T0 + 1 })).toBe(1);
        const first = await store.listTasks({ concurrencyKey: "tenant-a", limit: 1 });
        expect(first.tasks.map((t) => t.id)).toEqual(["late"]);
        const second = await store.listTasks({ concurrencyKey: "tenant-a", limit: 1, cursor: first.nextCursor ?? "missing" });
        expect(second.tasks.map((t) => t.id)).toEqual(["early"]);
      });

      it("taskStats counts every name's tasks by state and its finished tasks per minute", async () => {
        const minute = 60_000;
        const start = Math.floor(T0 / minute) * minute;
        await store.enqueue([newTask("a1"), newTask("a2"), newTask("a3"), newTask("e1", { name: "email" })], start);
        await claimOnly("w1", start);
        await store.complete({ taskId: "a1", attempt: 1 }, new Uint8Array(), start + 10);
        await claimOnly("w1", start + minute);
        await store.complete({ taskId: "a2", attempt: 1 }, new Uint8Array(), start + minute + 10);
        await store.pauseName("idle", "maintenance", start);
        const stats = await store.taskStats(start + 2 * minute + 5, 3);
        expect(stats.firstMinute).toBe(start);
        expect(stats.names.map((entry) => entry.name)).toEqual(["email", "idle", "resize"]);
        const [email, idle, resize] = stats.names;
        expect(resize?.counts).toMatchObject({ succeeded: 2, queued: 1, running: 0, failed: 0 });
        expect(resize?.succeededPerMinute).toEqual([1, 1, 0]);
        expect(resize?.failedPerMinute).toEqual([0, 0, 0]);
        expect(email?.counts.queued).toBe(1);
        expect(idle).toMatchObject({ paused: true, succeededPerMinute: [0, 0, 0] });
        expect(resize?.paused).toBe(false);
        // A window that starts after both finished counts neither.
        expect((await store.taskStats(start + 10 * minute, 3)).names.find((entry) => entry.name === "resize")?.succeededPerMinute).toEqual([0, 0, 0]);
      });

      it("listTasks pages newest first and ends with a null cursor", async () => {
        await store.enqueue(["t1", "t2", "t3", "t4", "t5"].map((id) => newTask(id)), T0);
        const pages: string[][] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 10; page += 1) {
          const result = await store.listTasks({ limit: 2, cursor });
          pages.push(result.tasks.map((t) => t.id));
          if (result.nextCursor === null) break;
          expect(typeof result.nextCursor).toBe("string");
          cursor = result.nextCursor;
        }
        expect(pages).toEqual([["t5", "t4"], ["t3", "t2"], ["t1"]]);
        const exact = await store.listTasks({ limit: 5 });
        expect(exact.tasks).toHaveLength(5);
        expect(exact.nextCursor).toBeNull();
      });

      it("listTasks keeps its filter across pages", async () => {
        await store.enqueue([newTask("r1"), newTask("e1", { name: "email" }), newTask("r2"), newTask("e2", { name: "email" }), newTask("r3")], T0);
        const first = await store.listTasks({ names: ["resize"], limit: 2 });
        expect(first.tasks.map((t) => t.id)).toEqual(["r3", "r2"]);
        const second = await store.listTasks({ names: ["resize"], limit: 2, cursor: first.nextCursor ?? "missing" });
        expect(second.tasks.map((t) => t.id)).toEqual(["r1"]);
        expect(second.nextCursor).toBeNull();
      });

      it("listTasks rejects a cursor it did not issue with InvalidArgument", async () => {
        await store.enqueue([newTask("t1")], T0);
        for (const cursor of ["not a cursor", "%%%", "bm9wZQ"]) {
          const listing = Promise.resolve().then(() => store.listTasks({ limit: 10, cursor }));
          await expect(listing).rejects.toBeInstanceOf(OrchestratorError);
          await expect(listing).rejects.toMatchObject({ code: Code.InvalidArgument });
        }
      });

      it("listTasks reports a bad cursor through its promise, not by throwing", async () => {
        let thrown: unknown = null;
        let listing: Promise<unknown> | undefined;
        try {
          listing = store.listTasks({ limit: 10, cursor: "not a cursor" });
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeNull();
        await expect(listing).rejects.toMatchObject({ code: Code.InvalidArgument });
      });

      it("listEvents returns every event in order, only those after the given sequence", async () => {
        await store.enqueue([newTask("t1"), newTask("other")], T0);
        await claimOnly("w1", T0 + 1);
        await store.progress({ taskId: "t1", attempt: 1 }, 50, "half", T0 + 2);
        await store.fail({ taskId: "t1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 3, noBackoff);
        await store.promoteDue(T0 + 3);
        await claimOnly("w2", T0 + 4);
        await store.complete({ taskId: "t1", attempt: 2 }, bytes("ok"), T0 + 5);
        const events: TaskEvent[] = await store.listEvents("t1", 0);
        expect(events.map((e) => [e.sequence, e.state, e.attempt])).toEqual([
          [1, "queued", 0], [2, "running", 1], [3, "running", 1], [4, "retrying", 1], [5, "running", 2], [6, "succeeded", 2],
        ]);
        expect(byteList(events[5]?.result)).toEqual(byteList(bytes("ok")));
        expect(events.map((e) => e.timestamp)).toEqual([T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5]);
        expect((await task("t1")).lastSequence).toBe(6);
        expect((await store.listEvents("t1", 4)).map((e) => e.sequence)).toEqual([5, 6]);
        expect(await store.listEvents("t1", 6)).toEqual([]);
        expect(await store.listEvents("nope", 0)).toEqual([]);
      });

    });

    describeScaleOutConformance({ store: () => store, task, claimOnly, sequences });
    describeQueueEventsConformance({ store: () => store, task, claimOnly, sequences });
    describeDelayAndPriorityConformance({ store: () => store, task, claimOnly, sequences });
    describePausedNameConformance({ store: () => store, task, claimOnly, sequences });
    describeConcurrencyConformance({ store: () => store, task, claimOnly, sequences });
    describeRateLimitConformance({ store: () => store, task, claimOnly, sequences });
    describeScheduleConformance({ store: () => store, task, claimOnly, sequences });
    describeTraceContextConformance({ store: () => store, task, claimOnly, sequences });
    describeActionsConformance({ store: () => store, task, claimOnly, sequences });
    describeHandBackConformance({ store: () => store, task, claimOnly, sequences });

    describe("writes fired together (group commit)", () => {
      it("enqueues 500 tasks concurrently and hands each to exactly one of 5 concurrent workers", async () => {
        const ids = Array.from({ length: 500 }, (_, i) => `t${String(i).padStart(3, "0")}`);
        const events = await Promise.all(ids.map((id, i) => store.enqueue([newTask(id)], T0 + i)));
        expect(events.map((batch) => batch.map((e) => [e.taskId, e.sequence]))).toEqual(ids.map((id) => [[id, 1]]));
        expect((await store.listTasks({ states: ["queued"], limit: 1_000 })).tasks).toHaveLength(500);

        const workers = ["w1", "w2", "w3", "w4", "w5"];
        const claimCalls = workers.flatMap((workerId) => Array.from({ length: 12 }, () => claim(workerId, ["resize"], 10, T0 + 1_000)));
        const claimed = (await Promise.all(claimCalls)).flat();
        expect(claimed).toHaveLength(500);
        expect(new Set(claimed.map((c) => c.taskId)).size).toBe(500);
        expect(claimed.every((c) => c.attempt === 1 && c.event.sequence === 2)).toBe(true);
        expect(await store.countWaiting()).toBe(0);

        const completions = await Promise.all(claimed.map((c) => store.complete(c, bytes(c.taskId), T0 + 2_000)));
        expect(completions.every((event) => event?.state === "succeeded")).toBe(true);
        const again = await Promise.all(claimed.map((c) => store.complete(c, bytes("again"), T0 + 3_000)));
        expect(again.every((event) => event === null)).toBe(true);
        expect((await store.listTasks({ states: ["succeeded"], limit: 1_000 })).tasks).toHaveLength(500);
        expect(byteList((await task("t123")).result)).toEqual(byteList(bytes("t123")));
      });

      it("lets only one of two concurrent completions of an attempt win", async () => {
        await store.enqueue([newTask("t1")], T0);
        const claimed = await claimOnly("w1", T0);
        const outcomes = await Promise.all([store.complete(claimed, bytes("a"), T0 + 1), store.complete(claimed, bytes("b"), T0 + 1)]);
        const winners = outcomes.filter((event) => event !== null);
        expect(winners).toHaveLength(1);
        expect(byteList((await task("t1")).result)).toEqual(byteList(winners[0]?.result));
      });

      it("rejects a failing write alone, keeping the writes fired with it", async () => {
        await store.enqueue([newTask("dup")], T0);
        const claimed = await claimOnly("w1", T0);
        const [duplicate, fresh, completed] = await Promise.allSettled([
          store.enqueue([newTask("x1"), newTask("dup")], T0 + 1),
          store.enqueue([newTask("x2")], T0 + 1),
          store.complete(claimed, bytes("ok"), T0 + 1),
        ]);
        expect(duplicate?.status).toBe("rejected");
        expect(fresh?.status).toBe("fulfilled");
        expect(completed?.status === "fulfilled" ? completed.value?.state : completed).toBe("succeeded");
        expect(await store.getTask("x1")).toBeNull();
        expect((await task("x2")).state).toBe("queued");
        expect((await task("dup")).state).toBe("succeeded");
      });
    });

  });
}
