// ListTasks' filter, CountTasks and GetTaskStats through the Scheduler, in-process with a manual
// clock and a fake worker, on every store backend: what the wire's TaskFilter selects, what the
// overview counts, and the INVALID_ARGUMENT answers that name the field to fix.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import {
  TaskState, type TaskAssignment, type TaskFilter,
} from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import {
  manualOptions, ManualStore, registerFakeWorker as register, reportSuccess as succeed, startScheduler, submitOne as submit, untilOf,
} from "../helpers/manual-scheduler.js";
import { storeBackends } from "../helpers/stores.js";

const T0 = Date.UTC(2026, 0, 1);
const SWEEP_MS = 600_000;

const filter = (fields: Partial<TaskFilter>): TaskFilter => ({ names: [], states: [], ...fields });
const list = { state: TaskState.TASK_STATE_UNSPECIFIED, name: "", pageSize: 0, pageToken: "" };

for (const backend of storeBackends) {
  describe(`Scheduler task listing, counts and stats (${backend} store)`, () => {
    let rig: ManualStore;
    let clock: ManualClock;
    let scheduler: Scheduler;
    const until = untilOf(backend);

    beforeEach(async () => {
      clock = new ManualClock(T0);
      rig = await ManualStore.open(backend, clock, "orchestrator-task-reads-");
      scheduler = await startScheduler(rig.store, clock, manualOptions(rig.directory, SWEEP_MS));
    });

    afterEach(async () => {
      await scheduler.stop();
      await rig.remove();
    });

    it("selects by names, states, key and creation time; counts what it selects; the overview counts by name and minute", async () => {
      const worker = register(scheduler, "w1", ["report"], 1);
      const done = await submit(scheduler, "report");
      await until(() => worker.channel.assignments.length === 1, "the first assignment");
      succeed(scheduler, worker.session, worker.channel.assignments[0] as TaskAssignment);
      await until(async () => (await scheduler.getTask(done)).state === "succeeded", "the first task's success");
      clock.advance(60_000);
      const keyed = await submit(scheduler, "email", { concurrencyKey: "tenant-a" });
      const plain = await submit(scheduler, "email");

      const ids = async (selection: TaskFilter, extra: Partial<typeof list> = {}) =>
        (await scheduler.listTasks({ ...list, ...extra, filter: selection })).tasks.map((task) => task.id);
      expect(await ids(filter({ names: ["email"] }))).toEqual([plain, keyed]);
      expect(await ids(filter({ concurrencyKey: "tenant-a" }))).toEqual([keyed]);
      expect(await ids(filter({ states: [TaskState.TASK_STATE_SUCCEEDED, TaskState.TASK_STATE_QUEUED], createdBeforeMs: T0 + 1 }))).toEqual([done]);
      expect(await ids(filter({ createdAfterMs: T0 + 60_000 }), { name: "email" })).toEqual([plain, keyed]);
      expect(await scheduler.countTasks(filter({ states: [TaskState.TASK_STATE_QUEUED] }))).toBe(2);
      expect(await scheduler.countTasks(undefined)).toBe(3);

      const stats = await scheduler.taskStats(2);
      expect(stats.firstMinute).toBe(T0);
      expect(stats.names.map((entry) => [entry.name, entry.counts.queued, entry.counts.succeeded, entry.succeededPerMinute])).toEqual([
        ["email", 2, 0, [0, 0]],
        ["report", 0, 1, [1, 0]],
      ]);
    });

    it("refuses a filter that cannot be right with INVALID_ARGUMENT naming the field", async () => {
      const refusals: Array<[() => Promise<unknown>, RegExp]> = [
        [() => scheduler.countTasks(filter({ names: ["bad name!"] })), /filter\.names\[0\]/],
        [() => scheduler.countTasks(filter({ states: [42 as TaskState] })), /filter\.states\[0\] is 42/],
        [() => scheduler.countTasks(filter({ createdAfterMs: 2_000, createdBeforeMs: 1_000 })), /created_after_ms \(2000\) must be before/],
        [() => scheduler.countTasks(filter({ concurrencyKey: "" })), /filter\.concurrency_key must be 1-/],
        [() => scheduler.listTasks({ ...list, state: TaskState.TASK_STATE_FAILED, filter: filter({ states: [TaskState.TASK_STATE_QUEUED] }) }), /state failed is not among filter\.states/],
        [() => scheduler.taskStats(61), /minutes must be between 1 and 60/],
      ];
      for (const [call, message] of refusals) {
        await expect(call()).rejects.toMatchObject({ code: Code.InvalidArgument, message });
      }
    });
  });
}
