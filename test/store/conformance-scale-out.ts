/**
 * The part of the conformance suite for what several Schedulers on one store need: signals,
 * leadership, raising every lease after an outage, retention. Registered by
 * describeTaskStoreConformance inside each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import type { ClaimedAttempt, TaskEvent, TaskRecord, TaskStore } from "../../packages/server/src/store/store.js";
import { bytes, exactBackoff, newTask, noBackoff, T0 } from "./conformance.js";
import { SignalRecorder } from "./signal-recorder.js";

export interface ConformanceContext {
  /** The test's store (fresh and migrated for each test). */
  store(): TaskStore;
  task(id: string): Promise<TaskRecord>;
  claimOnly(workerId: string, now: number, names?: readonly string[]): Promise<ClaimedAttempt>;
  sequences(taskId: string): Promise<number[]>;
}

export function describeScaleOutConformance(context: ConformanceContext): void {
  const { task, claimOnly, sequences } = context;

  describe("signals", () => {
    it("reports committed events to onEvents, each task's in sequence order, and not a failed write's", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        await store.enqueue([newTask("t1"), newTask("t2")], T0);
        const claimed = await claimOnly("w1", T0 + 1);
        await store.progress(claimed, 50, "half", T0 + 2);
        await Promise.allSettled([store.enqueue([newTask("x1"), newTask("t2")], T0 + 3), store.complete(claimed, bytes("ok"), T0 + 3)]);
        await recorder.until(() => recorder.events.length >= 5, "5 events");
        const seen = recorder.events.map((e) => [e.taskId, e.sequence, e.state]);
        expect(seen).toEqual([["t1", 1, "queued"], ["t2", 1, "queued"], ["t1", 2, "running"], ["t1", 3, "running"], ["t1", 4, "succeeded"]]);
        expect(recorder.events.some((e) => e.taskId === "x1")).toBe(false);
        expect(recorder.events.at(-1)?.timestamp).toBe(T0 + 3);
      } finally {
        recorder.stop();
      }
    });

    it("reports the events of writes fired together in call order", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        const ids = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, "0")}`);
        await Promise.all(ids.map((id, i) => store.enqueue([newTask(id)], T0 + i)));
        await recorder.until(() => recorder.events.length >= 20, "20 events");
        expect(recorder.events.map((e) => e.taskId)).toEqual(ids);
      } finally {
        recorder.stop();
      }
    });

    it("signals work available with the task names an enqueue or a promotion made claimable", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        await store.enqueue([newTask("r1"), newTask("e1", { name: "email" }), newTask("r2")], T0);
        await recorder.until(() => recorder.namedWork.length >= 1, "work after the enqueue");
        expect(recorder.namedWork.flat().sort()).toEqual(["email", "resize"]);

        const claimed = await claimOnly("w1", T0, ["email"]);
        await store.fail(claimed, { error: "boom", retryable: true }, T0, exactBackoff);
        await store.complete((await claimOnly("w1", T0)), bytes("ok"), T0);
        expect(recorder.namedWork).toHaveLength(1);

        expect(await store.promoteDue(T0 + 1_000)).toEqual(["email"]);
        await recorder.until(() => recorder.namedWork.length >= 2, "work after the promotion");
        expect(recorder.namedWork[1]).toEqual(["email"]);
      } finally {
        recorder.stop();
      }
    });

    it("stops calling a listener once it unsubscribed", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      const late: TaskEvent[] = [];
      const unsubscribe = store.signals.onEvents((events) => late.push(...events));
      unsubscribe();
      try {
        await store.enqueue([newTask("t1")], T0);
        await recorder.until(() => recorder.events.length >= 1, "the event");
        expect(late).toEqual([]);
      } finally {
        recorder.stop();
      }
    });
  });

  describe("leadership", () => {
    const ttl = 10_000;

    it("gives the first holder term 1; renews it; refuses a second holder until the term expires", async () => {
      const store = context.store();
      expect(await store.acquireLeadership("a", ttl, T0)).toEqual({ isLeader: true, term: 1, holder: "a", sinceLastRenewalMs: null });
      expect(await store.acquireLeadership("a", ttl, T0 + 3_000)).toEqual({ isLeader: true, term: 1, holder: "a", sinceLastRenewalMs: 3_000 });
      expect(await store.acquireLeadership("b", ttl, T0 + 3_000 + ttl - 1)).toEqual({ isLeader: false, term: 1, holder: "a", sinceLastRenewalMs: ttl - 1 });
      expect(await store.acquireLeadership("b", ttl, T0 + 3_000 + ttl)).toEqual({ isLeader: true, term: 2, holder: "b", sinceLastRenewalMs: ttl });
      expect(await store.acquireLeadership("a", ttl, T0 + 3_000 + ttl + 1)).toMatchObject({ isLeader: false, term: 2, holder: "b" });
    });

    it("hands over at once on release; a release by another holder does nothing", async () => {
      const store = context.store();
      await store.acquireLeadership("a", ttl, T0);
      await store.releaseLeadership("b");
      expect(await store.acquireLeadership("b", ttl, T0 + 1)).toMatchObject({ isLeader: false, holder: "a", term: 1 });
      await store.releaseLeadership("a");
      expect(await store.acquireLeadership("b", ttl, T0 + 2)).toEqual({ isLeader: true, term: 2, holder: "b", sinceLastRenewalMs: 2 });
    });

    it("tells how long nobody renewed: a leader that comes back after a gap sees the gap", async () => {
      const store = context.store();
      await store.acquireLeadership("a", ttl, T0);
      const back = await store.acquireLeadership("a", ttl, T0 + 45_000);
      expect(back).toEqual({ isLeader: true, term: 2, holder: "a", sinceLastRenewalMs: 45_000 });
    });
  });

  describe("extendAllLeases", () => {
    it("raises every running lease below `until`, leaving higher leases and other tasks alone", async () => {
      const store = context.store();
      await store.enqueue([newTask("t1"), newTask("t2"), newTask("t3"), newTask("q1", { name: "later" })], T0);
      await claimOnly("w1", T0);
      await claimOnly("w2", T0);
      const done = await claimOnly("w3", T0);
      await store.complete(done, bytes("ok"), T0);
      await store.extendLeases([{ taskId: "t2", attempt: 1, until: T0 + 50_000 }]);
      expect(await store.extendAllLeases(T0 + 30_000)).toBe(1);
      expect(await store.expireAttempts(T0 + 29_999, noBackoff)).toEqual([]);
      expect((await store.expireAttempts(T0 + 30_000, noBackoff)).map((e) => e.taskId)).toEqual(["t1"]);
      expect((await store.expireAttempts(T0 + 50_000, noBackoff)).map((e) => e.taskId)).toEqual(["t2"]);
      expect((await task("q1")).state).toBe("queued");
      expect((await task("t3")).state).toBe("succeeded");
    });
  });

  describe("deleteFinished (retention)", () => {
    it("deletes finished tasks at or before the cutoff, oldest first, in batches, with their events and keys", async () => {
      const store = context.store();
      const day = 24 * 3600 * 1000;
      await store.enqueue([newTask("ok-old", { idempotencyKey: "key-old" }), newTask("failed-old", { maxRetries: 0 }), newTask("cancelled-old")], T0);
      await store.enqueue([newTask("ok-new"), newTask("running"), newTask("retrying"), newTask("queued")], T0);
      await store.complete(await claimOnly("w1", T0), bytes("ok"), T0 + 1);
      await store.fail(await claimOnly("w1", T0), { error: "boom", retryable: true }, T0 + 2, noBackoff);
      await store.cancel("cancelled-old", "user asked", T0 + 3);
      await store.complete(await claimOnly("w1", T0), bytes("ok"), T0 + 100);
      await claimOnly("w1", T0);
      await store.fail(await claimOnly("w1", T0), { error: "boom", retryable: true }, T0 + 4, exactBackoff);

      expect(await store.deleteFinished(T0 + 3, 2)).toBe(2);
      expect(await store.getTask("ok-old")).toBeNull();
      expect(await store.getTask("failed-old")).toBeNull();
      expect((await task("cancelled-old")).state).toBe("cancelled");
      expect(await store.deleteFinished(T0 + 3, 10)).toBe(1);
      expect(await store.deleteFinished(T0 + 3, 10)).toBe(0);
      for (const id of ["ok-old", "failed-old", "cancelled-old"]) {
        expect(await store.getTask(id), id).toBeNull();
        expect(await store.listEvents(id, 0), id).toEqual([]);
      }
      expect((await store.listTasks({ limit: 10 })).tasks.map((t) => [t.id, t.state])).toEqual([
        ["queued", "queued"], ["retrying", "retrying"], ["running", "running"], ["ok-new", "succeeded"],
      ]);
      expect(await sequences("ok-new")).toEqual([1, 2, 3]);
      // The deleted task's idempotency key went with it: the same key makes a new task.
      const [again] = await store.enqueue([newTask("ok-again", { idempotencyKey: "key-old", payload: bytes("other") })], T0 + 5, day);
      expect(again?.taskId).toBe("ok-again");
    });

    it("analyze() runs on a store with data", async () => {
      const store = context.store();
      await store.enqueue([newTask("t1")], T0);
      await expect(store.analyze()).resolves.toBeUndefined();
      expect((await task("t1")).state).toBe("queued");
    });
  });}
