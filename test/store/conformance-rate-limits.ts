/**
 * The part of the conformance suite for rate limits: a claim starts no more of a limited name
 * than its window allows (windows aligned to multiples of the limit's period), the count is shared
 * by every claim on the store, and the store's Scheduler is woken when the window opens; a handler's
 * "slow down" defers its task without using up a retry and holds the name back until then.
 * Registered by describeTaskStoreConformance inside each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import { bytes, newTask, noBackoff, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";
import { SignalRecorder } from "./signal-recorder.js";

export function describeRateLimitConformance(context: ConformanceContext): void {
  const { task } = context;

  async function claimIds(limit: number, now: number, names: readonly string[] = ["resize"], workerId = "w1"): Promise<string[]> {
    const [claimed] = await context.store().claim([{ workerId, names, limit }], now, terms);
    return (claimed ?? []).map((attempt) => attempt.taskId);
  }

  const ids = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, index) => `${prefix}${index}`);

  describe("rate limits", () => {
    it("sets, lists and clears rate limits", async () => {
      const store = context.store();
      expect(await store.listRateLimits()).toEqual([]);
      expect(await store.setRateLimit("resize", 10, 60_000, T0)).toEqual({ name: "resize", maxStarts: 10, perMs: 60_000, perKey: false, updatedAt: T0 });
      expect(await store.setRateLimit("resize", 20, 1_000, T0 + 1)).toEqual({ name: "resize", maxStarts: 20, perMs: 1_000, perKey: false, updatedAt: T0 + 1 });
      expect((await store.setRateLimit("email", 3, 1_000, T0 + 1, true)).perKey).toBe(true);
      await store.setRateLimit("email", 1, 1_000, T0 + 2);
      expect((await store.listRateLimits()).map((limit) => [limit.name, limit.perKey])).toEqual([["email", false], ["resize", false]]);
      expect(await store.clearRateLimit("resize")).toEqual({ name: "resize", maxStarts: 20, perMs: 1_000, perKey: false, updatedAt: T0 + 1 });
      expect(await store.clearRateLimit("resize")).toBeNull();
      expect((await store.listRateLimits()).map((limit) => limit.name)).toEqual(["email"]);
    });

    it("serves a worker's names in its order when a rate-limited, a keyed and a paused name sit among plain ones", async () => {
      const store = context.store();
      await store.setRateLimit("limited", 1, 60_000, T0);
      await store.setConcurrencyLimit("keyed", 1, T0);
      await store.pauseName("paused", "", T0);
      await store.enqueue([
        ...ids("a", 2).map((id) => newTask(id, { name: "alpha" })),
        ...ids("l", 3).map((id) => newTask(id, { name: "limited" })),
        ...ids("b", 2).map((id) => newTask(id, { name: "beta" })),
        ...ids("k", 2).map((id) => newTask(id, { name: "keyed", concurrencyKey: "K" })),
        ...ids("p", 2).map((id) => newTask(id, { name: "paused" })),
        ...ids("c", 5).map((id) => newTask(id, { name: "gamma" })),
      ], T0);
      const names = ["alpha", "limited", "beta", "keyed", "paused", "gamma"];
      // Each name in turn: both of alpha, the minute's one start of limited, both of beta, key K's one
      // at a time, nothing of the paused name, then gamma for the rest.
      expect(await claimIds(7, T0 + 1, names)).toEqual(["a0", "a1", "l0", "b0", "b1", "k0", "c0"]);
      expect(await claimIds(10, T0 + 2, names)).toEqual(["c1", "c2", "c3", "c4"]);
      // A name that fills the limit leaves the later ones alone.
      await store.enqueue([newTask("a2", { name: "alpha" }), newTask("b2", { name: "beta" })], T0 + 3);
      expect(await claimIds(1, T0 + 4, ["alpha", "beta"])).toEqual(["a2"]);
      expect((await task("b2")).state).toBe("queued");
      expect((await task("p0")).state).toBe("queued");
    });

    it("starts at most the limit per window, over several claims and workers; the next window starts more", async () => {
      const store = context.store();
      // T0 is a multiple of 10 s, so the window is [T0, T0 + 10 s) (the times keep clear of its edges: a
      // PostgreSQL store counts on the database's clock, which may be a ms off the test's).
      await store.setRateLimit("resize", 3, 10_000, T0);
      await store.enqueue(ids("t", 8).map((id) => newTask(id)), T0);
      expect(await claimIds(2, T0 + 1, ["resize"], "w1")).toEqual(["t0", "t1"]);
      expect(await claimIds(5, T0 + 2, ["resize"], "w2")).toEqual(["t2"]);
      expect(await claimIds(5, T0 + 9_000, ["resize"], "w3")).toEqual([]);
      expect(await claimIds(5, T0 + 10_500, ["resize"], "w3")).toEqual(["t3", "t4", "t5"]);
      expect(await claimIds(5, T0 + 19_000)).toEqual([]);
      expect(await claimIds(5, T0 + 25_000)).toEqual(["t6", "t7"]);
      expect((await task("t7")).state).toBe("running");
    });

    it("never counts in an earlier window than one already counted in: a claim whose clock is behind spends the same window", async () => {
      const store = context.store();
      await store.setRateLimit("resize", 3, 10_000, T0);
      await store.enqueue(ids("t", 8).map((id) => newTask(id)), T0);
      // A claim at T0 + 10.5 s counts 2 in the window [T0 + 10 s, T0 + 20 s); another Scheduler's
      // clock, 1 s behind, must not find the window before it empty.
      expect(await claimIds(2, T0 + 10_500)).toEqual(["t0", "t1"]);
      expect(await claimIds(5, T0 + 9_500)).toEqual(["t2"]);
      expect(await claimIds(5, T0 + 12_000)).toEqual([]);
      expect(await claimIds(5, T0 + 20_500)).toEqual(["t3", "t4", "t5"]);
    });

    it("claims asked for at once spend one window between them (a commit batch may carry several)", async () => {
      const store = context.store();
      await store.setRateLimit("resize", 5, 60_000, T0);
      await store.enqueue(ids("t", 20).map((id) => newTask(id)), T0);
      expect(await claimIds(1, T0 + 1)).toEqual(["t0"]);
      // Asked for in one turn of the event loop: the store may run both in one transaction, where
      // each reads and writes back the window's count.
      const both = await Promise.all([claimIds(10, T0 + 2, ["resize"], "w1"), claimIds(10, T0 + 2, ["resize"], "w2")]);
      expect(both.flat().sort()).toEqual(["t1", "t2", "t3", "t4"]);
      expect(await claimIds(10, T0 + 3)).toEqual([]);
    });

    it("claims asked for at once spend one key's window between them", async () => {
      const store = context.store();
      await store.setRateLimit("resize", 3, 60_000, T0, true);
      await store.enqueue(ids("k", 12).map((id) => newTask(id, { concurrencyKey: "K" })), T0);
      expect(await claimIds(1, T0 + 1)).toEqual(["k0"]);
      const both = await Promise.all([claimIds(10, T0 + 2, ["resize"], "w1"), claimIds(10, T0 + 2, ["resize"], "w2")]);
      expect(both.flat().sort()).toEqual(["k1", "k2"]);
      expect(await claimIds(10, T0 + 3)).toEqual([]);
    });

    it("limits keyed tasks too, and leaves other names alone", async () => {
      const store = context.store();
      await store.setRateLimit("resize", 2, 10_000, T0);
      await store.enqueue([...ids("k", 4).map((id, index) => newTask(id, { concurrencyKey: `key-${index % 2}` })), newTask("e1", { name: "email" })], T0);
      expect((await claimIds(10, T0 + 1, ["resize", "email"])).sort()).toEqual(["e1", "k0", "k1"]);
      expect(await claimIds(10, T0 + 2)).toEqual([]);
    });

    it("a per-key limit gives each concurrency key its own window; the unkeyed tasks share one", async () => {
      const store = context.store();
      await store.setRateLimit("resize", 2, 10_000, T0, true);
      await store.enqueue([
        ...ids("a", 3).map((id) => newTask(id, { concurrencyKey: "A" })), ...ids("b", 3).map((id) => newTask(id, { concurrencyKey: "B" })),
        ...ids("u", 3).map((id) => newTask(id)),
      ], T0);
      expect((await claimIds(20, T0 + 1)).sort()).toEqual(["a0", "a1", "b0", "b1", "u0", "u1"]);
      expect(await claimIds(20, T0 + 2)).toEqual([]);
      // A key's window is counted across claims: one more start of A's window is refused too.
      await store.enqueue([newTask("a3", { concurrencyKey: "A" })], T0 + 3);
      expect(await claimIds(20, T0 + 4)).toEqual([]);
      expect((await claimIds(20, T0 + 10_500)).sort()).toEqual(["a2", "a3", "b2", "u2"]);
    });

    it("a key held back by its per-key window wakes its own Scheduler when the window opens", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        const now = Date.now();
        await store.setRateLimit("resize", 1, 1_000, now, true);
        await store.enqueue([newTask("a", { concurrencyKey: "K" }), newTask("b", { concurrencyKey: "K" })], now);
        expect(await claimIds(5, now)).toEqual(["a"]);
        const before = recorder.namedWork.length;
        expect(await claimIds(5, now)).toEqual([]);
        await recorder.until(() => recorder.namedWork.slice(before).some((names) => names.includes("resize")), "a work hint when the key's window opens", 5_000);
        expect(await claimIds(5, Date.now())).toEqual(["b"]);
      } finally {
        recorder.stop();
      }
    });

    it("wakes its own Scheduler with a work hint when a window that held tasks back opens", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        const now = Date.now();
        const windowMs = 1_000;
        await store.setRateLimit("resize", 1, windowMs, now);
        await store.enqueue([newTask("a"), newTask("b")], now);
        expect(await claimIds(5, now)).toEqual(["a"]);
        const before = recorder.namedWork.length;
        expect(await claimIds(5, now)).toEqual([]);
        await recorder.until(() => recorder.namedWork.slice(before).some((names) => names.includes("resize")), "a work hint when the window opens", 5_000);
        expect(Date.now()).toBeGreaterThanOrEqual(now - (now % windowMs) + windowMs);
        expect(await claimIds(5, Date.now())).toEqual(["b"]);
      } finally {
        recorder.stop();
      }
    });

    it("a deferred attempt waits without using up a retry, and holds its name back until then", async () => {
      const store = context.store();
      await store.enqueue([newTask("t1", { maxRetries: 0 }), newTask("t2")], T0);
      expect(await claimIds(1, T0)).toEqual(["t1"]);
      const event = await store.deferRateLimited({ taskId: "t1", attempt: 1 }, 5_000, "rate limited by its upstream", T0 + 1);
      expect(event).toMatchObject({ taskId: "t1", state: "retrying", attempt: 1, nextAttemptAt: T0 + 5_001, message: "rate limited by its upstream" });
      expect(await store.deferRateLimited({ taskId: "t1", attempt: 1 }, 5_000, "again", T0 + 2)).toBeNull();
      // The name is held back: t2 waits too.
      expect(await claimIds(5, T0 + 2)).toEqual([]);
      expect(await store.promoteDue(T0 + 5_001)).toEqual(["resize"]);
      expect(await claimIds(5, T0 + 5_001)).toEqual(["t1", "t2"]);
      // max_retries 0, yet its failure now is its first counted attempt's: final, as for any task without retries.
      const failed = await store.fail({ taskId: "t1", attempt: 2 }, { error: "boom", retryable: true }, T0 + 5_002, noBackoff);
      expect(failed).toMatchObject({ state: "failed" });
    });

    it("clearing a limit leaves a running throttle in force; a name whose throttle and limit are gone is claimed like any other", async () => {
      const store = context.store();
      await store.setRateLimit("resize", 10, 60_000, T0);
      await store.enqueue(ids("t", 4).map((id) => newTask(id)), T0);
      expect(await claimIds(1, T0 + 1)).toEqual(["t0"]);
      await store.deferRateLimited({ taskId: "t0", attempt: 1 }, 5_000, "slow down", T0 + 2);
      expect(await store.clearRateLimit("resize")).toMatchObject({ name: "resize", maxStarts: 10 });
      expect(await claimIds(5, T0 + 3)).toEqual([]);
      expect(await claimIds(1, T0 + 5_100)).toEqual(["t1"]);
      await store.promoteDue(T0 + 5_200);
      // Beside a plain name, in one claim: no limit counts starts any more.
      await store.enqueue([newTask("e0", { name: "email" })], T0 + 5_300);
      expect(await claimIds(20, T0 + 5_400, ["resize", "email"])).toEqual(["t0", "t2", "t3", "e0"]);
    });

    it("a deferred attempt does not count against retries: a task with one retry still gets it", async () => {
      const store = context.store();
      await store.enqueue([newTask("t1", { maxRetries: 1 })], T0);
      expect(await claimIds(1, T0)).toEqual(["t1"]);
      await store.deferRateLimited({ taskId: "t1", attempt: 1 }, 10, "slow down", T0);
      await store.promoteDue(T0 + 10);
      expect(await claimIds(1, T0 + 10)).toEqual(["t1"]);
      expect(await store.fail({ taskId: "t1", attempt: 2 }, { error: "boom", retryable: true }, T0 + 11, noBackoff)).toMatchObject({ state: "retrying" });
      await store.promoteDue(T0 + 12);
      expect(await claimIds(1, T0 + 12)).toEqual(["t1"]);
      expect(await store.complete({ taskId: "t1", attempt: 3 }, bytes("ok"), T0 + 13)).toMatchObject({ state: "succeeded" });
    });
  });
}
