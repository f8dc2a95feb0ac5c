// Paused queues as real processes: two Schedulers on one PostgreSQL, a Gateway on each, the worker
// attached to B only. A pause through A's Gateway holds every start of the name at B (the store's
// claim skips it), while submits are accepted and an attempt already running finishes; marker tasks
// of another name, submitted after the held ones, run meanwhile: the window in which nothing of the
// paused name started is measured by them, not by sleeping. The resume through A's Gateway wakes B
// (the commit's hint), and every held task runs once.
import { afterEach, describe, expect, it } from "vitest";
import { createTestStore } from "../helpers/stores.js";
import { ScaleOutRig, until } from "../helpers/scale-out.js";

describe("paused queues across two Schedulers on PostgreSQL", () => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  it("a pause through A's Gateway holds the name at B's worker; submits are accepted; the resume through A runs each once", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const a = await rig.scheduler();
    const b = await rig.scheduler();
    const { client: viaA } = await rig.gateway([a.address]);
    const { client: viaB } = await rig.gateway([b.address]);
    await rig.worker([b.address], ["--slots", "20"]);
    const entries = (kind: "start" | "done", taskId: string) => rig.entries().filter((entry) => entry.kind === kind && entry.taskId === taskId);

    // An attempt running when the pause comes: it finishes.
    const { taskId: running } = await viaA.submit({ name: "journaled", payload: { ms: 1_000 } });
    await until(() => entries("start", running).length === 1, 10_000, "the first task to start");

    const pausedAt = Date.now();
    const paused = await viaA.pauseQueue("journaled", { reason: "e2e pause" });
    expect(paused).toMatchObject({ wasPaused: false, queue: { name: "journaled", reason: "e2e pause" } });
    expect(paused.queue.pausedAt.getTime()).toBeGreaterThanOrEqual(pausedAt - 1_000);

    // Submits through both Gateways are accepted and stored; two are delayed and come due while paused.
    const held: string[] = [];
    for (let i = 0; i < 5; i++) held.push((await viaA.submit({ name: "journaled", payload: { ms: 0 } })).taskId);
    for (let i = 0; i < 5; i++) held.push((await viaB.submit({ name: "journaled", payload: { ms: 0 } })).taskId);
    const delayed = [(await viaA.submit({ name: "journaled", payload: { ms: 0 }, delayMs: 300 })).taskId, (await viaB.submit({ name: "journaled", payload: { ms: 0 }, delayMs: 300 })).taskId];
    held.push(...delayed);

    // A marker of another name, submitted through A after the held tasks, runs at B.
    const first = (await viaA.submit({ name: "journaled-marker", payload: { ms: 0 } })).taskId;
    await until(() => entries("done", first).length === 1, 10_000, "the first marker to run");
    // The journal's "done" is written before the result reaches the Scheduler: wait for the record.
    await until(async () => (await viaB.get(running)).state === "succeeded", 10_000, "the running attempt to finish");
    expect(entries("done", running)).toHaveLength(1);
    // The delayed tasks come due (queued), and a second marker, submitted after that, runs too.
    await until(async () => (await Promise.all(delayed.map((id) => viaA.get(id)))).every((task) => task.state === "queued"), 10_000, "the delayed tasks to come due");
    const second = (await viaB.submit({ name: "journaled-marker", payload: { ms: 0 } })).taskId;
    await until(() => entries("done", second).length === 1, 10_000, "the second marker to run");

    // Through all that, nothing of the paused name started, and all of it waits, queued.
    for (const taskId of held) {
      expect(entries("start", taskId), `starts of held task ${taskId}`).toEqual([]);
      expect((await viaB.get(taskId)).state, `state of held task ${taskId}`).toBe("queued");
    }
    expect((await viaB.listPausedQueues()).map((queue) => [queue.name, queue.reason])).toEqual([["journaled", "e2e pause"]]);
    const again = await viaB.pauseQueue("journaled", { reason: "twice" });
    expect(again).toMatchObject({ wasPaused: true, queue: { reason: "e2e pause" } });
    // The first pause's time, as B's Scheduler maps the database's clock to its own (within the skew measurements' error).
    expect(Math.abs(again.queue.pausedAt.getTime() - paused.queue.pausedAt.getTime())).toBeLessThan(50);

    const resumedAt = Date.now();
    expect(await viaA.resumeQueue("journaled")).toMatchObject({ wasPaused: true, queue: { name: "journaled" } });
    await until(() => held.every((taskId) => entries("done", taskId).length === 1), 10_000, "every held task to run after the resume");
    for (const taskId of held) {
      const starts = entries("start", taskId);
      expect(starts, `starts of ${taskId}`).toHaveLength(1);
      expect(starts[0]?.at ?? 0, `start of ${taskId}`).toBeGreaterThanOrEqual(resumedAt);
    }
    expect(await viaB.listPausedQueues()).toEqual([]);
    expect(await viaB.resumeQueue("journaled")).toEqual({ wasPaused: false, queue: null });
  });
});
