/**
 * The part of the conformance suite for hand-backs: a stopping worker gives back an attempt it did
 * not finish, and the task is due again at once without using a retry (as BullMQ counts a stalled
 * job apart from its attempts), fenced like any outcome, its name not held back.
 * Registered by describeTaskStoreConformance inside each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import { noBackoff, newTask, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";

export function describeHandBackConformance(context: ConformanceContext): void {
  async function claimIds(limit: number, now: number, names: readonly string[] = ["resize"]): Promise<Array<[string, number]>> {
    const [claimed] = await context.store().claim([{ workerId: "w1", names, limit }], now, terms);
    return (claimed ?? []).map((attempt) => [attempt.taskId, attempt.attempt]);
  }

  describe("hand-backs", () => {
    it("a handed-back attempt is due again at once without using a retry, and its name is not held back", async () => {
      const store = context.store();
      await store.enqueue([newTask("t1", { maxRetries: 0 }), newTask("t2")], T0);
      expect(await claimIds(1, T0)).toEqual([["t1", 1]]);
      const event = await store.handBack({ taskId: "t1", attempt: 1 }, "handed back by w1", T0 + 1);
      expect(event).toMatchObject({ taskId: "t1", state: "retrying", attempt: 1, nextAttemptAt: T0 + 1, message: "handed back by w1", workerId: "w1" });
      // Fenced: the attempt is no longer current.
      expect(await store.handBack({ taskId: "t1", attempt: 1 }, "again", T0 + 2)).toBeNull();
      expect(await store.complete({ taskId: "t1", attempt: 1 }, new Uint8Array(0), T0 + 2)).toBeNull();
      // The name is not held back, as a rate-limited deferral would hold it.
      expect(await claimIds(5, T0 + 2)).toEqual([["t2", 1]]);
      expect(await store.promoteDue(T0 + 2)).toEqual(["resize"]);
      expect(await claimIds(5, T0 + 3)).toEqual([["t1", 2]]);
      expect(await store.getTask("t1")).toMatchObject({ state: "running", attempt: 2 });
      // max_retries 0, yet the hand-back did not count: this failure is the first counted attempt's, final.
      expect(await store.fail({ taskId: "t1", attempt: 2 }, { error: "boom", retryable: true }, T0 + 4, noBackoff)).toMatchObject({ state: "failed" });
    });

    it("a handed-back attempt of a task with one retry leaves it that retry", async () => {
      const store = context.store();
      await store.enqueue([newTask("t1", { maxRetries: 1 })], T0);
      expect(await claimIds(1, T0)).toEqual([["t1", 1]]);
      await store.handBack({ taskId: "t1", attempt: 1 }, "handed back", T0 + 1);
      await store.promoteDue(T0 + 1);
      expect(await claimIds(1, T0 + 2)).toEqual([["t1", 2]]);
      expect(await store.fail({ taskId: "t1", attempt: 2 }, { error: "boom", retryable: true }, T0 + 3, noBackoff)).toMatchObject({ state: "retrying" });
      await store.promoteDue(T0 + 4);
      expect(await claimIds(1, T0 + 4)).toEqual([["t1", 3]]);
      expect(await store.fail({ taskId: "t1", attempt: 3 }, { error: "boom", retryable: true }, T0 + 5, noBackoff)).toMatchObject({ state: "failed" });
    });
  });
}
