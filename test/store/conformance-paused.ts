/**
 * The part of the conformance suite for paused task names: a claim skips a paused name's tasks
 * (and still takes other names'), pause and resume are idempotent, and a resume signals work
 * available for the name. Registered by describeTaskStoreConformance inside each backend's suite,
 * with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import { newTask, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";
import { SignalRecorder } from "./signal-recorder.js";

export function describePausedNameConformance(context: ConformanceContext): void {
  const { task } = context;

  async function claimIds(limit: number, now: number, names: readonly string[]): Promise<string[]> {
    const [claimed] = await context.store().claim([{ workerId: "w1", names, limit }], now, terms);
    return (claimed ?? []).map((attempt) => attempt.taskId);
  }

  describe("paused names", () => {
    it("pauses a name: listed with its reason and time; a repeated pause keeps the first one", async () => {
      const store = context.store();
      expect(await store.listPausedNames()).toEqual([]);
      expect(await store.pauseName("resize", "deploying", T0)).toEqual({ paused: { name: "resize", reason: "deploying", pausedAt: T0 }, wasPaused: false });
      expect(await store.pauseName("resize", "again", T0 + 5_000)).toEqual({ paused: { name: "resize", reason: "deploying", pausedAt: T0 }, wasPaused: true });
      await store.pauseName("email", "", T0 + 1);
      expect(await store.listPausedNames()).toEqual([
        { name: "email", reason: "", pausedAt: T0 + 1 },
        { name: "resize", reason: "deploying", pausedAt: T0 },
      ]);
    });

    it("a claim skips a paused name's tasks and takes the other names'; after resume they are claimed, in order", async () => {
      const store = context.store();
      await store.pauseName("resize", "", T0);
      await store.enqueue([newTask("r1"), newTask("e1", { name: "email" }), newTask("r2")], T0 + 1);
      expect((await task("r1")).state).toBe("queued");
      expect(await claimIds(10, T0 + 2, ["resize", "email"])).toEqual(["e1"]);
      expect(await claimIds(10, T0 + 3, ["resize"])).toEqual([]);
      expect(await store.countWaiting()).toBe(2);
      expect(await store.resumeName("resize")).toEqual({ name: "resize", reason: "", pausedAt: T0 });
      expect(await store.listPausedNames()).toEqual([]);
      expect(await claimIds(10, T0 + 4, ["resize"])).toEqual(["r1", "r2"]);
    });

    it("leaves a running attempt alone: it completes while its name is paused", async () => {
      const store = context.store();
      await store.enqueue([newTask("running"), newTask("waiting")], T0);
      expect(await claimIds(1, T0, ["resize"])).toEqual(["running"]);
      await store.pauseName("resize", "", T0 + 1);
      expect(await store.complete({ taskId: "running", attempt: 1 }, new Uint8Array([1]), T0 + 2)).toMatchObject({ state: "succeeded" });
      expect(await claimIds(10, T0 + 3, ["resize"])).toEqual([]);
      expect((await task("waiting")).state).toBe("queued");
    });

    it("promotes a paused name's delayed tasks when due, and does not claim them until resumed", async () => {
      const store = context.store();
      await store.pauseName("resize", "", T0);
      await store.enqueue([newTask("later", { runAt: T0 + 1_000 })], T0);
      expect(await store.promoteDue(T0 + 1_000)).toEqual(["resize"]);
      expect((await task("later")).state).toBe("queued");
      expect(await claimIds(10, T0 + 1_001, ["resize"])).toEqual([]);
      await store.resumeName("resize");
      expect(await claimIds(10, T0 + 1_002, ["resize"])).toEqual(["later"]);
    });

    it("resume of a name that is not paused answers null and signals nothing; resume of a paused one signals work for it", async () => {
      const store = context.store();
      const recorder = new SignalRecorder(store);
      try {
        expect(await store.resumeName("resize")).toBeNull();
        await store.pauseName("resize", "", T0);
        expect(recorder.namedWork).toEqual([]);
        expect(await store.resumeName("resize")).toMatchObject({ name: "resize" });
        await recorder.until(() => recorder.namedWork.length >= 1, "work after the resume");
        expect(recorder.namedWork).toEqual([["resize"]]);
        expect(await store.resumeName("resize")).toBeNull();
      } finally {
        recorder.stop();
      }
    });
  });
}
