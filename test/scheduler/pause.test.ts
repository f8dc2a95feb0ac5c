// Paused queues through the Scheduler, in-process, with a manual clock and fake worker streams, on
// every store backend: while a name is paused its submits are accepted and nothing of it is
// dispatched (an un-paused marker task dispatched after them proves dispatch rounds ran), an
// attempt already running finishes, a delayed task still comes due; after resume everything
// waiting is dispatched. On PostgreSQL also with two Schedulers on one store: a pause through one
// holds dispatch at the other, and the resume wakes the other through the store's hint.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TaskAssignment } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import {
  manualOptions, ManualStore, registerFakeWorker as register, reportSuccess as succeed, startScheduler, submitOne as submit, untilOf,
} from "../helpers/manual-scheduler.js";
import { createTestStore, storeBackends, type TestStore } from "../helpers/stores.js";

const T0 = Date.UTC(2026, 0, 1);
/** The sweep runs this rarely, so nothing here is dispatched or promoted by it. */
const SWEEP_MS = 600_000;

for (const backend of storeBackends) {
  describe(`Scheduler paused queues (${backend} store)`, () => {
    let rig: ManualStore;
    let clock: ManualClock;
    let scheduler: Scheduler;

    const until = untilOf(backend);

    beforeEach(async () => {
      clock = new ManualClock(T0);
      rig = await ManualStore.open(backend, clock, "orchestrator-pause-");
      scheduler = await startScheduler(rig.store, clock, manualOptions(rig.directory, SWEEP_MS));
    });

    afterEach(async () => {
      await scheduler.stop();
      await rig.remove();
    });

    it("dispatches nothing of a paused name, lets its running attempt finish, promotes its delayed task; after resume dispatches all", async () => {
      const worker = register(scheduler, "w1", ["held", "marker"], 10);
      const running = await submit(scheduler, "held");
      await until(() => worker.channel.assignments.length === 1, "the first task's assignment");

      expect(await scheduler.pauseQueue("held", "deploying")).toEqual({ paused: { name: "held", reason: "deploying", pausedAt: T0 }, wasPaused: false });
      const waiting = [await submit(scheduler, "held"), await submit(scheduler, "held")];
      const delayed = await submit(scheduler, "held", { delayMs: 1_000 });
      for (const id of waiting) expect((await scheduler.getTask(id)).state).toBe("queued");
      // The running attempt finishes: its slot frees and a dispatch round runs (and takes nothing of "held").
      succeed(scheduler, worker.session, worker.channel.assignments[0] as TaskAssignment);
      await until(async () => (await scheduler.getTask(running)).state === "succeeded", "the running attempt's success");
      clock.advance(1_000);
      await until(async () => (await scheduler.getTask(delayed)).state === "queued", "the delayed task's promotion");
      // A marker of another name, submitted last, is dispatched: the rounds after the paused submits ran.
      const marker = await submit(scheduler, "marker");
      await until(() => worker.channel.assignments.some((assignment) => assignment.taskId === marker), "the marker's assignment");
      expect(worker.channel.assignments.map((assignment) => assignment.taskId)).toEqual([running, marker]);
      expect(await scheduler.listPausedQueues()).toEqual([{ name: "held", reason: "deploying", pausedAt: T0 }]);

      // A repeated pause changes nothing.
      clock.advance(5);
      expect(await scheduler.pauseQueue("held", "again")).toMatchObject({ paused: { reason: "deploying", pausedAt: T0 }, wasPaused: true });

      expect(await scheduler.resumeQueue("held")).toMatchObject({ name: "held", pausedAt: T0 });
      await until(() => worker.channel.assignments.length === 5, "the held tasks' assignments after the resume");
      expect(new Set(worker.channel.assignments.slice(2).map((assignment) => assignment.taskId))).toEqual(new Set([...waiting, delayed]));
      expect(await scheduler.resumeQueue("held")).toBeNull();
      expect(await scheduler.listPausedQueues()).toEqual([]);
    });
  });
}

describe("Scheduler paused queues, two Schedulers on one PostgreSQL store", () => {
  let directory = "";
  let testStore: TestStore;
  const stores: PostgresStore[] = [];
  const schedulers: Scheduler[] = [];

  afterEach(async () => {
    for (const scheduler of schedulers.splice(0)) await scheduler.stop();
    for (const store of stores.splice(0)) await store.close();
    await testStore.remove();
    rmSync(directory, { recursive: true, force: true });
  });

  async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  it("a pause through A holds dispatch at B; the resume through A wakes B (the store's hint; no poll within the test)", async () => {
    directory = mkdtempSync(join(tmpdir(), "orchestrator-pause-pair-"));
    testStore = await createTestStore("postgres");
    const clock = new ManualClock(T0);
    for (let index = 0; index < 2; index++) {
      const store = new PostgresStore({ url: testStore.url, clock, pollIntervalMs: 600_000 });
      await store.migrate();
      stores.push(store);
      schedulers.push(await startScheduler(store, clock, manualOptions(directory, SWEEP_MS)));
    }
    const [a, b] = schedulers as [Scheduler, Scheduler];
    const worker = register(b, "w-b", ["held", "marker"], 10);
    await a.pauseQueue("held", "");
    const held = [await submit(a, "held"), await submit(a, "held"), await submit(b, "held")];
    // Submitted after the held ones, through A: B dispatches it when A's hint arrives, so B has looked for work since.
    const marker = await submit(a, "marker");
    await until(() => worker.channel.assignments.some((assignment) => assignment.taskId === marker), "the marker's assignment at B");
    expect(worker.channel.assignments.map((assignment) => assignment.taskId)).toEqual([marker]);
    expect((await b.listPausedQueues()).map((queue) => queue.name)).toEqual(["held"]);

    expect(await a.resumeQueue("held")).toMatchObject({ name: "held" });
    await until(() => worker.channel.assignments.length === 4, "B's assignments of the held tasks after the resume at A");
    expect(new Set(worker.channel.assignments.slice(1).map((assignment) => assignment.taskId))).toEqual(new Set(held));
  });
});
