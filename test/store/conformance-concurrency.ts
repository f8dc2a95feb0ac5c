/**
 * The part of the conformance suite for concurrency keys: a claim never starts more attempts of a
 * key than its bound (the task's own, else the name's), counting attempts whose worker vanished
 * until their lease runs out; keys are served in turn, so a key queued behind a long backlog of
 * another starts in the first claim; keyed tasks come before the name's unkeyed ones. Registered
 * by describeTaskStoreConformance inside each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import type { ClaimedAttempt, NewTask } from "../../packages/server/src/store/store.js";
import { bytes, newTask, noBackoff, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";
import { SignalRecorder } from "./signal-recorder.js";

export function describeConcurrencyConformance(context: ConformanceContext): void {
  const { task } = context;

  const keyed = (id: string, key: string, overrides: Partial<NewTask> = {}): NewTask => newTask(id, { concurrencyKey: key, ...overrides });

  async function claimIds(limit: number, now: number, names: readonly string[] = ["resize"], workerId = "w1"): Promise<string[]> {
    return (await claimAttempts(limit, now, names, workerId)).map((attempt) => attempt.taskId);
  }

  async function claimAttempts(limit: number, now: number, names: readonly string[] = ["resize"], workerId = "w1"): Promise<ClaimedAttempt[]> {
    const [claimed] = await context.store().claim([{ workerId, names, limit }], now, terms);
    return claimed ?? [];
  }

  describe("concurrency keys", () => {
    it("sets, lists and clears per-name bounds", async () => {
      const store = context.store();
      expect(await store.listConcurrencyLimits()).toEqual([]);
      expect(await store.setConcurrencyLimit("resize", 2, T0)).toEqual({ name: "resize", maxRunning: 2, updatedAt: T0 });
      expect(await store.setConcurrencyLimit("resize", 3, T0 + 1)).toEqual({ name: "resize", maxRunning: 3, updatedAt: T0 + 1 });
      await store.setConcurrencyLimit("email", 1, T0 + 2);
      expect(await store.listConcurrencyLimits()).toEqual([
        { name: "email", maxRunning: 1, updatedAt: T0 + 2 },
        { name: "resize", maxRunning: 3, updatedAt: T0 + 1 },
      ]);
      expect(await store.clearConcurrencyLimit("resize")).toEqual({ name: "resize", maxRunning: 3, updatedAt: T0 + 1 });
      expect(await store.clearConcurrencyLimit("resize")).toBeNull();
      expect((await store.listConcurrencyLimits()).map((limit) => limit.name)).toEqual(["email"]);
    });

    it("starts at most the name's bound of one key at once; a finished attempt frees its slot", async () => {
      const store = context.store();
      await store.setConcurrencyLimit("resize", 2, T0);
      await store.enqueue(["a1", "a2", "a3", "a4"].map((id) => keyed(id, "A")).concat(["b1", "b2", "b3"].map((id) => keyed(id, "B"))), T0);
      expect((await claimIds(10, T0 + 1)).sort()).toEqual(["a1", "a2", "b1", "b2"]);
      expect(await claimIds(10, T0 + 2)).toEqual([]);
      await store.complete({ taskId: "a1", attempt: 1 }, bytes("ok"), T0 + 3);
      await store.fail({ taskId: "b1", attempt: 1 }, { error: "no", retryable: false }, T0 + 3, noBackoff);
      expect((await claimIds(10, T0 + 4)).sort()).toEqual(["a3", "b3"]);
      expect(await claimIds(10, T0 + 5)).toEqual([]);
      expect(await store.countWaiting()).toBe(1);
    });

    it("the key's latest queued task's own bound overrides the name's; keys without any bound only share turns", async () => {
      const store = context.store();
      await store.setConcurrencyLimit("resize", 1, T0);
      await store.enqueue([keyed("a1", "A"), keyed("a2", "A"), keyed("a3", "A", { concurrencyLimit: 3 }), keyed("a4", "A", { concurrencyLimit: 3 }), keyed("b1", "B"), keyed("b2", "B")], T0);
      expect((await claimIds(10, T0 + 1)).sort()).toEqual(["a1", "a2", "a3", "b1"]);
      // A later task of A without a bound of its own: A is back to the name's bound (1), with 3 running.
      await store.enqueue([keyed("a5", "A")], T0 + 2);
      await store.clearConcurrencyLimit("resize");
      expect((await claimIds(10, T0 + 3)).sort()).toEqual(["a4", "a5", "b2"]);
      await store.enqueue([keyed("c1", "C"), keyed("c2", "C"), keyed("c3", "C")], T0 + 4);
      expect((await claimIds(10, T0 + 5)).sort()).toEqual(["c1", "c2", "c3"]);
    });

    it("retention forgets keys with no queued task; a later task of the key still keeps its bound", async () => {
      const store = context.store();
      await store.setConcurrencyLimit("resize", 1, T0);
      await store.enqueue([keyed("a1", "A")], T0);
      expect(await claimIds(10, T0 + 1)).toEqual(["a1"]);
      await store.complete({ taskId: "a1", attempt: 1 }, bytes("ok"), T0 + 2);
      expect(await claimIds(10, T0 + 3)).toEqual([]);
      expect(await store.deleteFinished(T0 + 10, 100)).toBe(1);
      await store.enqueue([keyed("a2", "A"), keyed("a3", "A")], T0 + 11);
      expect(await claimIds(10, T0 + 12)).toEqual(["a2"]);
      expect(await claimIds(10, T0 + 13)).toEqual([]);
    });

    it("serves keys in turn: a key queued behind another key's backlog starts in the first claim", async () => {
      const store = context.store();
      await store.enqueue(Array.from({ length: 300 }, (_, index) => keyed(`a${index}`, "A")), T0);
      await store.enqueue(Array.from({ length: 10 }, (_, index) => keyed(`b${index}`, "B")), T0 + 1);
      const seen: string[] = [];
      for (let round = 0; round < 5; round++) seen.push(...await claimIds(4, T0 + 2 + round));
      // Five claims of 4 over two keys: each claim gives each key 2, in the order the key queued them.
      expect(seen.filter((id) => id.startsWith("b"))).toEqual(["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"]);
      expect(seen.filter((id) => id.startsWith("a"))).toEqual(Array.from({ length: 10 }, (_, index) => `a${index}`));
    });

    it("a claim smaller than the number of keys serves the least recently served keys first", async () => {
      const store = context.store();
      const keys = ["k1", "k2", "k3", "k4", "k5"];
      await store.enqueue(keys.flatMap((key) => [keyed(`${key}-1`, key), keyed(`${key}-2`, key)]), T0);
      const order: string[] = [];
      for (let round = 0; round < 5; round++) order.push(...(await claimAttempts(2, T0 + 1 + round)).map((attempt) => attempt.taskId));
      // Every key's first task before any key's second.
      expect(order.slice(0, 5).map((id) => id.split("-")[1])).toEqual(["1", "1", "1", "1", "1"]);
      expect(order.slice(5).map((id) => id.split("-")[1])).toEqual(["2", "2", "2", "2", "2"]);
    });

    it("keys at their bound do not block the keys behind them", async () => {
      const store = context.store();
      await store.setConcurrencyLimit("resize", 1, T0);
      const keys = Array.from({ length: 12 }, (_, index) => `k${String(index).padStart(2, "0")}`);
      await store.enqueue(keys.flatMap((key) => [keyed(`${key}-1`, key), keyed(`${key}-2`, key)]), T0);
      // Fill the first keys' single slots, then ask again: those keys are full, the rest must still start.
      expect(await claimIds(4, T0 + 1)).toHaveLength(4);
      const next = await claimIds(8, T0 + 2);
      expect(next).toHaveLength(8);
      expect(new Set(next.map((id) => id.split("-")[0])).size).toBe(8);
    });

    it("counts an attempt whose worker vanished until its lease runs out", async () => {
      const store = context.store();
      await store.setConcurrencyLimit("resize", 1, T0);
      await store.enqueue([keyed("a1", "A", { maxRetries: 0 }), keyed("a2", "A")], T0);
      expect(await claimIds(10, T0, ["resize"], "gone")).toEqual(["a1"]);
      expect(await claimIds(10, T0 + terms.leaseMs - 1, ["resize"], "w2")).toEqual([]);
      const expired = await store.expireAttempts(T0 + terms.leaseMs + 1, noBackoff);
      expect(expired.map((attempt) => attempt.taskId)).toEqual(["a1"]);
      expect(await claimIds(10, T0 + terms.leaseMs + 2, ["resize"], "w2")).toEqual(["a2"]);
    });

    it("a retried task of a key is claimable again once promoted, within the bound", async () => {
      const store = context.store();
      await store.setConcurrencyLimit("resize", 1, T0);
      await store.enqueue([keyed("a1", "A", { retryBackoffMs: 100 }), keyed("a2", "A")], T0);
      expect(await claimIds(10, T0)).toEqual(["a1"]);
      await store.fail({ taskId: "a1", attempt: 1 }, { error: "try again", retryable: true }, T0 + 1, noBackoff);
      // Retrying, a1 holds no slot: a2 may start; a1 waits for it once promoted.
      expect(await claimIds(10, T0 + 1)).toEqual(["a2"]);
      expect(await store.promoteDue(T0 + 200)).toEqual(["resize"]);
      expect(await claimIds(10, T0 + 201)).toEqual([]);
      await store.complete({ taskId: "a2", attempt: 1 }, bytes("ok"), T0 + 202);
      expect(await claimIds(10, T0 + 203)).toEqual(["a1"]);
      expect((await task("a1")).attempt).toBe(2);
    });

    it("takes keyed tasks before the name's unkeyed ones, then the unkeyed with the slots left", async () => {
      const store = context.store();
      await store.setConcurrencyLimit("resize", 1, T0);
      await store.enqueue([newTask("u1"), newTask("u2"), keyed("a1", "A"), keyed("a2", "A"), newTask("u3")], T0);
      expect(await claimIds(3, T0 + 1)).toEqual(["a1", "u1", "u2"]);
      expect(await claimIds(3, T0 + 2)).toEqual(["u3"]);
      expect(await store.countWaiting()).toBe(1);
    });

    it("a cancelled keyed task is never claimed, and its key stops being read", async () => {
      const store = context.store();
      await store.enqueue([keyed("a1", "A"), keyed("a2", "A")], T0);
      await store.cancel("a1", "not needed", T0 + 1);
      await store.cancel("a2", "not needed", T0 + 1);
      expect(await claimIds(10, T0 + 2)).toEqual([]);
      await store.enqueue([keyed("a3", "A")], T0 + 3);
      expect(await claimIds(10, T0 + 4)).toEqual(["a3"]);
    });

    it("a paused name's keyed tasks wait for resume", async () => {
      const store = context.store();
      await store.pauseName("resize", "", T0);
      await store.enqueue([keyed("a1", "A")], T0);
      expect(await claimIds(10, T0 + 1)).toEqual([]);
      await store.resumeName("resize");
      expect(await claimIds(10, T0 + 2)).toEqual(["a1"]);
    });

    it("the end of a keyed attempt (success, failure, lease expiry, cancel, rate-limit deferral) signals work for its name; an unkeyed one's does not", async () => {
      // The Scheduler's kick for a freed worker slot may claim before the attempt's end commits
      // and find the key at its bound; this signal is what starts the key's next task then.
      const store = context.store();
      const ends = ["complete", "fail", "cancel", "defer", "expire"] as const;
      await store.enqueue([newTask("plain", { name: "plain" }), ...ends.map((end) => keyed(end, "A", { name: `keyed-${end}` }))], T0);
      const claimed = await claimIds(10, T0, ["plain", ...ends.map((end) => `keyed-${end}`)]);
      expect(claimed.sort()).toEqual(["plain", ...ends].sort());
      const recorder = new SignalRecorder(store);
      try {
        const hintsFor = (from: number, name: string): number => recorder.namedWork.slice(from).filter((names) => names.includes(name)).length;
        const start = recorder.namedWork.length;
        await store.complete({ taskId: "plain", attempt: 1 }, bytes("ok"), T0 + 1);
        // Expiry comes last: it ends every attempt still running.
        const steps: Record<(typeof ends)[number], () => Promise<unknown>> = {
          complete: () => store.complete({ taskId: "complete", attempt: 1 }, bytes("ok"), T0 + 2),
          fail: () => store.fail({ taskId: "fail", attempt: 1 }, { error: "no", retryable: false }, T0 + 2, noBackoff),
          cancel: () => store.cancel("cancel", "not needed", T0 + 2),
          defer: () => store.deferRateLimited({ taskId: "defer", attempt: 1 }, 1000, "upstream said slow down", T0 + 2),
          expire: () => store.expireAttempts(T0 + terms.leaseMs + 1, noBackoff),
        };
        for (const end of ends) {
          const before = recorder.namedWork.length;
          await steps[end]();
          await recorder.until(() => hintsFor(before, `keyed-${end}`) > 0, `work for keyed-${end} after its attempt's ${end}`);
        }
        expect(hintsFor(start, "plain")).toBe(0);
      } finally {
        recorder.stop();
      }
    });

    it("setting or clearing a bound signals work available for the name", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        await store.setConcurrencyLimit("resize", 1, T0);
        await recorder.until(() => recorder.work.some((names) => names?.includes("resize") === true), "work for resize after set");
        const before = recorder.work.length;
        await store.clearConcurrencyLimit("resize");
        await recorder.until(() => recorder.work.slice(before).some((names) => names?.includes("resize") === true), "work for resize after clear");
      } finally {
        recorder.stop();
      }
    });
  });
}
