/**
 * The part of the conformance suite for trace contexts: the W3C context a task was submitted with
 * comes back with every attempt a claim starts (plain or keyed, first or retried), an untraced
 * task's as null, also in a batch that mixes both; and it is not part of what an idempotency key
 * stands for. Registered by describeTaskStoreConformance inside each backend's suite.
 */
import { describe, expect, it } from "vitest";
import type { ClaimedAttempt } from "../../packages/server/src/store/store.js";
import { newTask, noBackoff, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";

const traced = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "vendor=opaque,other=x" };
const parentOnly = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" };

export function describeTraceContextConformance(context: ConformanceContext): void {
  async function claimAll(limit: number, now: number, names: readonly string[] = ["resize"]): Promise<ClaimedAttempt[]> {
    const [claimed] = await context.store().claim([{ workerId: "w1", names, limit }], now, terms);
    return claimed ?? [];
  }

  const contexts = (claimed: readonly ClaimedAttempt[]): Array<[string, unknown]> => claimed.map((attempt) => [attempt.taskId, attempt.traceContext]);

  describe("trace contexts", () => {
    it("hands each claimed attempt the context its task was submitted with, null for an untraced task, in one mixed batch", async () => {
      await context.store().enqueue([newTask("t1", { traceContext: traced }), newTask("t2"), newTask("t3", { traceContext: parentOnly }), newTask("t4", { traceContext: null })], T0);
      expect(contexts(await claimAll(10, T0 + 1))).toEqual([["t1", traced], ["t2", null], ["t3", parentOnly], ["t4", null]]);
    });

    it("stores none for a batch of untraced tasks", async () => {
      await context.store().enqueue([newTask("t1"), newTask("t2")], T0);
      expect(contexts(await claimAll(10, T0 + 1))).toEqual([["t1", null], ["t2", null]]);
    });

    it("hands a retried attempt the same context, and a keyed task's attempt too", async () => {
      const store = context.store();
      await store.enqueue([newTask("t1", { traceContext: traced }), newTask("k1", { traceContext: parentOnly, concurrencyKey: "customer-7" })], T0);
      // Keyed and unkeyed tasks are claimed by different statements, in no promised order between them.
      expect(contexts(await claimAll(10, T0 + 1)).sort()).toEqual([["k1", parentOnly], ["t1", traced]]);
      await store.fail({ taskId: "t1", attempt: 1 }, { error: "boom", retryable: true }, T0 + 2, noBackoff);
      await store.promoteDue(T0 + 3);
      const [retried] = await claimAll(10, T0 + 4);
      expect(retried).toMatchObject({ taskId: "t1", attempt: 2, traceContext: traced });
    });

    it("answers a repeated idempotent submit from another trace with the first task, whose context stays the first submit's", async () => {
      const store = context.store();
      const same = { idempotencyKey: "once", description: "once", payload: new TextEncoder().encode("once") };
      await store.enqueue([newTask("first", { ...same, traceContext: traced })], T0);
      const [repeat] = await store.enqueue([newTask("second", { ...same, traceContext: parentOnly })], T0 + 1);
      expect(repeat?.taskId).toBe("first");
      expect(contexts(await claimAll(10, T0 + 2))).toEqual([["first", traced]]);
    });
  });
}
