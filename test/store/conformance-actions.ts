/**
 * The part of the conformance suite for the operator actions: retry of one task, and the bulk
 * batches (retry, cancel, delete by selection). Registered by describeTaskStoreConformance inside
 * each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import { bytes, exactBackoff, newTask, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";
import { SignalRecorder } from "./signal-recorder.js";

export function describeActionsConformance(context: ConformanceContext): void {
  const { task, claimOnly } = context;

  /** Runs task `id` (max_retries 1) through both its attempts to failed. */
  async function failTwice(id: string, at: number): Promise<void> {
    const store = context.store();
    for (let attempt = 1; attempt <= 2; attempt++) {
      const claimed = await claimOnly("w1", at + attempt * 10);
      expect(claimed).toMatchObject({ taskId: id, attempt });
      await store.fail(claimed, { error: `boom ${attempt}`, retryable: true }, at + attempt * 10 + 1, { maxDelayMs: 0, jitter: 0 });
      if (attempt === 1) await store.promoteDue(at + attempt * 10 + 2);
    }
    expect(await task(id)).toMatchObject({ state: "failed", attempt: 2 });
  }

  describe("operator actions: retry", () => {
    it("queues a failed task again with its whole retry budget, attempt numbers going on and its events kept", async () => {
      const store = context.store();
      await store.enqueue([newTask("a", { maxRetries: 1 })], T0);
      await failTwice("a", T0);
      const before = await store.listEvents("a", 0);
      const outcome = await store.retry("a", "the upstream is fixed", T0 + 100);
      expect(outcome).toMatchObject({ retried: true, previousState: "failed", name: "resize" });
      expect(outcome?.event).toMatchObject({
        taskId: "a", sequence: before.length + 1, state: "queued", attempt: 2, timestamp: T0 + 100,
        message: "retried: a new attempt series after attempt 2 (the upstream is fixed)", error: null, workerId: null,
      });
      expect(await task("a")).toMatchObject({ state: "queued", attempt: 2, error: null, finishedAt: null, workerId: null, lastSequence: before.length + 1 });
      const events = await store.listEvents("a", 0);
      expect(events.slice(0, before.length)).toEqual(before);
      expect(events.at(-1)).toEqual(outcome?.event);
      // The new series: attempt 3 fails and is retried (budget 1 again), attempt 4 fails for good.
      const third = await claimOnly("w2", T0 + 200);
      expect(third.attempt).toBe(3);
      expect(await store.fail(third, { error: "again", retryable: true }, T0 + 201, exactBackoff)).toMatchObject({ state: "retrying" });
      await store.promoteDue(T0 + 1e7);
      const fourth = await claimOnly("w2", T0 + 1e7 + 1);
      expect(fourth.attempt).toBe(4);
      expect(await store.fail(fourth, { error: "again", retryable: true }, T0 + 1e7 + 2, exactBackoff)).toMatchObject({ state: "failed" });
    });

    it("retries a cancelled task (cancelled while running: the old attempt's result stays fenced)", async () => {
      const store = context.store();
      await store.enqueue([newTask("a")], T0);
      const first = await claimOnly("w1", T0 + 1);
      await store.cancel("a", "stop", T0 + 2);
      expect(await store.retry("a", "", T0 + 3)).toMatchObject({ retried: true, previousState: "cancelled", event: { message: "retried: a new attempt series after attempt 1" } });
      expect(await store.complete(first, bytes("late"), T0 + 4)).toBeNull();
      const second = await claimOnly("w2", T0 + 5);
      expect(second.attempt).toBe(2);
      expect(await store.complete(first, bytes("late"), T0 + 6)).toBeNull();
      expect(await store.complete(second, bytes("ok"), T0 + 7)).toMatchObject({ state: "succeeded", attempt: 2 });
    });

    it("leaves a task in any other state as it is, and answers null for an unknown task", async () => {
      const store = context.store();
      await store.enqueue([newTask("q"), newTask("r"), newTask("s"), newTask("later", { runAt: T0 + 60_000 })], T0);
      const running = await claimOnly("w1", T0 + 1);
      expect(running.taskId).toBe("q");
      await claimOnly("w1", T0 + 2);
      await store.complete({ taskId: "r", attempt: 1 }, bytes("ok"), T0 + 3);
      for (const [id, state] of [["q", "running"], ["r", "succeeded"], ["s", "queued"], ["later", "scheduled"]] as const) {
        const lastSequence = (await task(id)).lastSequence;
        expect(await store.retry(id, "", T0 + 4), id).toEqual({ retried: false, previousState: state, name: "resize", event: null });
        expect(await task(id), id).toMatchObject({ state, lastSequence });
      }
      expect(await store.retry("missing", "", T0 + 5)).toBeNull();
    });

    it("signals work available for the name, and a paused name's retried task waits for the resume", async () => {
      const store = context.store();
      await store.enqueue([newTask("a", { name: "email", maxRetries: 0 })], T0);
      const claimed = await claimOnly("w1", T0 + 1, ["email"]);
      await store.fail(claimed, { error: "boom", retryable: false }, T0 + 2, exactBackoff);
      await store.pauseName("email", "", T0 + 3);
      const recorder = new SignalRecorder(store);
      try {
        await store.retry("a", "", T0 + 4);
        await recorder.until(() => recorder.namedWork.flat().includes("email"), "work for email");
        await recorder.until(() => recorder.events.some((event) => event.taskId === "a" && event.state === "queued"), "the queued event");
      } finally {
        recorder.stop();
      }
      const [none] = await store.claim([{ workerId: "w1", names: ["email"], limit: 1 }], T0 + 5, terms);
      expect(none).toEqual([]);
      await store.resumeName("email");
      expect((await claimOnly("w1", T0 + 6, ["email"])).attempt).toBe(2);
    });

    it("a retried keyed task is claimed through its key again", async () => {
      const store = context.store();
      await store.enqueue([newTask("a", { concurrencyKey: "customer-1", maxRetries: 0 })], T0);
      const claimed = await claimOnly("w1", T0 + 1);
      await store.fail(claimed, { error: "boom", retryable: true }, T0 + 2, exactBackoff);
      await store.retry("a", "", T0 + 3);
      expect(await claimOnly("w1", T0 + 4)).toMatchObject({ taskId: "a", attempt: 2 });
    });
  });
}
