/**
 * The part of the conformance suite for delayed tasks (state scheduled until runAt) and
 * priorities (claims take the highest priority first, then the oldest). Registered by
 * describeTaskStoreConformance inside each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import { promoteBatch } from "../../packages/server/src/store/store.js";
import { newTask, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";
import { SignalRecorder } from "./signal-recorder.js";

export function describeDelayAndPriorityConformance(context: ConformanceContext): void {
  const { task, claimOnly, sequences } = context;

  async function claimIds(limit: number, now: number, names: readonly string[] = ["resize"]): Promise<string[]> {
    const [claimed] = await context.store().claim([{ workerId: "w1", names, limit }], now, terms);
    return (claimed ?? []).map((attempt) => attempt.taskId);
  }

  describe("delayed tasks", () => {
    it("stores a task with a future runAt as scheduled, with a scheduled first event naming its due time", async () => {
      const store = context.store();
      const [event] = await store.enqueue([newTask("later", { runAt: T0 + 5_000 })], T0);
      expect(event).toMatchObject({ taskId: "later", sequence: 1, state: "scheduled", nextAttemptAt: T0 + 5_000, timestamp: T0 });
      expect(await task("later")).toMatchObject({ state: "scheduled", runAt: T0 + 5_000, nextAttemptAt: T0 + 5_000 });
      expect((await store.listTasks({ states: ["scheduled"], limit: 10 })).tasks.map((t) => t.id)).toEqual(["later"]);
      expect(await store.countWaiting()).toBe(1);
    });

    it("is not claimed before it is due, then is promoted with a queued event and claimed", async () => {
      const store = context.store();
      await store.enqueue([newTask("later", { runAt: T0 + 5_000 }), newTask("now")], T0);
      expect(await claimIds(10, T0 + 4_999)).toEqual(["now"]);
      expect(await store.nextDueAt()).toBe(T0 + 5_000);
      expect(await store.promoteDue(T0 + 4_999)).toEqual([]);
      expect(await claimIds(10, T0 + 4_999)).toEqual([]);
      expect(await store.promoteDue(T0 + 5_000)).toEqual(["resize"]);
      expect(await store.nextDueAt()).toBeNull();
      expect(await store.listEvents("later", 0)).toEqual([
        expect.objectContaining({ sequence: 1, state: "scheduled" }),
        expect.objectContaining({ sequence: 2, state: "queued", attempt: 0, timestamp: T0 + 5_000, nextAttemptAt: null }),
      ]);
      expect(await task("later")).toMatchObject({ state: "queued", nextAttemptAt: null, runAt: T0 + 5_000, lastSequence: 2 });
      const claimed = await claimOnly("w2", T0 + 5_001);
      expect(claimed).toMatchObject({ taskId: "later", attempt: 1 });
      expect(claimed.event.sequence).toBe(3);
      expect(await store.promoteDue(T0 + 60_000)).toEqual([]);
    });

    it("treats a runAt not after now as now: queued at once", async () => {
      const store = context.store();
      const [past, exact] = await store.enqueue([newTask("past", { runAt: T0 - 1 }), newTask("exact", { runAt: T0 })], T0);
      expect([past?.state, exact?.state]).toEqual(["queued", "queued"]);
      expect(await claimIds(10, T0)).toEqual(["past", "exact"]);
    });

    it("signals work for a scheduled task only when it is promoted", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        await store.enqueue([newTask("later", { runAt: T0 + 1_000, name: "email" })], T0);
        await recorder.until(() => recorder.events.length >= 1, "the scheduled event");
        expect(recorder.namedWork).toEqual([]);
        await store.promoteDue(T0 + 1_000);
        await recorder.until(() => recorder.namedWork.length >= 1, "work after the promotion");
        expect(recorder.namedWork).toEqual([["email"]]);
        await recorder.until(() => recorder.events.length >= 2, "the queued event");
        expect(recorder.events.map((e) => [e.taskId, e.sequence, e.state])).toEqual([["later", 1, "scheduled"], ["later", 2, "queued"]]);
      } finally {
        recorder.stop();
      }
    });

    it("promotes due tasks earliest first, at most promoteBatch per call, and nextDueAt covers retries and scheduled tasks", async () => {
      const store = context.store();
      const count = promoteBatch + 5;
      // Enqueued in reverse due order, so promotion order is due order, not insertion order.
      const tasks = Array.from({ length: count }, (_, i) => newTask(`d${String(count - i).padStart(5, "0")}`, { runAt: T0 + 10 + count - i }));
      await store.enqueue(tasks, T0);
      expect(await store.nextDueAt()).toBe(T0 + 11);
      expect(await store.promoteDue(T0 + 10 + count)).toHaveLength(promoteBatch);
      expect(await store.nextDueAt()).toBe(T0 + 11 + promoteBatch);
      expect((await task(`d${String(promoteBatch).padStart(5, "0")}`)).state).toBe("queued");
      expect((await task(`d${String(promoteBatch + 1).padStart(5, "0")}`)).state).toBe("scheduled");
      expect(await store.promoteDue(T0 + 10 + count)).toHaveLength(5);
      expect(await store.nextDueAt()).toBeNull();
      // A retry due earlier than a scheduled task is the next due time.
      await store.enqueue([newTask("s", { runAt: T0 + 50_000 }), newTask("r", { name: "email" })], T0);
      const claimed = await claimOnly("w1", T0, ["email"]);
      await store.fail(claimed, { error: "boom", retryable: true }, T0, { maxDelayMs: 1e12, jitter: 0 });
      expect(await store.nextDueAt()).toBe(T0 + 1_000);
    });

    it("cancels a scheduled task: never promoted nor claimed", async () => {
      const store = context.store();
      await store.enqueue([newTask("later", { runAt: T0 + 5_000 })], T0);
      const outcome = await store.cancel("later", "not needed", T0 + 1);
      expect(outcome).toMatchObject({ state: "cancelled", cancelled: true, interrupted: null });
      expect(outcome?.event).toMatchObject({ sequence: 2, state: "cancelled", error: "not needed" });
      expect(await store.nextDueAt()).toBeNull();
      expect(await store.promoteDue(T0 + 10_000)).toEqual([]);
      expect(await claimIds(10, T0 + 10_000)).toEqual([]);
      expect(await sequences("later")).toEqual([1, 2]);
      expect(await task("later")).toMatchObject({ state: "cancelled", nextAttemptAt: null, finishedAt: T0 + 1 });
    });

    it("answers an idempotent repeat of a delay with the scheduled task; a different delay is refused", async () => {
      const store = context.store();
      const day = 24 * 3600 * 1000;
      const delayed = (id: string, delayMs: number, now: number) =>
        newTask(id, { description: "d", payload: new Uint8Array([1]), idempotencyKey: "k", runAt: now + delayMs, requestedStart: { delayMs } });
      await store.enqueue([delayed("a", 60_000, T0)], T0, day);
      // The same delay_ms a second later gives a later runAt, yet is the same request.
      const [again] = await store.enqueue([delayed("b", 60_000, T0 + 1_000)], T0 + 1_000, day);
      expect(again).toMatchObject({ taskId: "a", sequence: 1, state: "scheduled", nextAttemptAt: T0 + 60_000 });
      await expect(store.enqueue([delayed("c", 30_000, T0 + 2_000)], T0 + 2_000, day)).rejects.toThrow(/already belongs to task a, which was submitted with a different run_at_ms or delay_ms/);
      expect(await store.getTask("c")).toBeNull();
    });
  });

  describe("priorities", () => {
    it("claims the highest priority first, then the oldest", async () => {
      const store = context.store();
      const order: Array<[string, number]> = [["low-1", -5], ["mid-1", 0], ["high-1", 10], ["mid-2", 0], ["top", 100], ["high-2", 10], ["bottom", -100]];
      await store.enqueue(order.slice(0, 4).map(([id, priority]) => newTask(id, { priority })), T0);
      await store.enqueue(order.slice(4).map(([id, priority]) => newTask(id, { priority })), T0 + 1);
      expect(await claimIds(3, T0 + 2)).toEqual(["top", "high-1", "high-2"]);
      expect(await claimIds(10, T0 + 3)).toEqual(["mid-1", "mid-2", "low-1", "bottom"]);
    });

    it("keeps a task's priority through a retry and a scheduled wait", async () => {
      const store = context.store();
      await store.enqueue([newTask("urgent", { priority: 50, runAt: T0 + 100 }), newTask("plain")], T0);
      await store.promoteDue(T0 + 100);
      expect(await claimIds(1, T0 + 100)).toEqual(["urgent"]);
      await store.fail({ taskId: "urgent", attempt: 1 }, { error: "boom", retryable: true }, T0 + 101, { maxDelayMs: 0, jitter: 0 });
      await store.promoteDue(T0 + 101);
      expect(await claimIds(1, T0 + 102)).toEqual(["urgent"]);
      expect((await task("urgent")).priority).toBe(50);
    });

    it("orders within one name only: names are still tried in the order a worker gives", async () => {
      const store = context.store();
      await store.enqueue([newTask("e-high", { name: "email", priority: 100 }), newTask("r-low", { priority: -100 })], T0);
      expect(await claimIds(1, T0, ["resize", "email"])).toEqual(["r-low"]);
      expect(await claimIds(1, T0, ["resize", "email"])).toEqual(["e-high"]);
    });
  });
}
