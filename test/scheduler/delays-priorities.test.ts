// Delayed tasks and priorities through the Scheduler, in-process, with a manual clock and fake
// worker streams, on every store backend: a due task is woken by the promotion timer (the sweep
// runs far less often than the delays here), and claims follow priority, then age.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TaskState } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { TaskAssignment } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import type { TaskStore } from "../../packages/server/src/store/store.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import {
  manualOptions, ManualStore, registerFakeWorker, reportSuccess, startScheduler, submitOne, taskRequest, turnOf, untilOf,
} from "../helpers/manual-scheduler.js";
import { mulberry32 } from "../helpers/chaos.js";
import { storeBackends } from "../helpers/stores.js";

const T0 = Date.UTC(2026, 0, 1);
/** The sweep (which also promotes due tasks) runs this rarely, so the delays below are met by the timer alone. */
const SWEEP_MS = 600_000;

for (const backend of storeBackends) {
  describe(`Scheduler delayed tasks and priorities (${backend} store)`, () => {
    let rig: ManualStore;
    let clock: ManualClock;
    let store: TaskStore;
    let scheduler: Scheduler;

    const turn = turnOf(backend);
    const until = untilOf(backend);
    async function settle(turns = 30): Promise<void> {
      for (let index = 0; index < turns; index++) await turn();
    }

    beforeEach(async () => {
      clock = new ManualClock(T0);
      rig = await ManualStore.open(backend, clock, "orchestrator-delays-");
      store = rig.store;
      scheduler = await startScheduler(store, clock, manualOptions(rig.directory, SWEEP_MS));
    });

    afterEach(async () => {
      await scheduler.stop();
      await rig.remove();
    });

    const register = (id: string, taskNames: string[], slots: number) => registerFakeWorker(scheduler, id, taskNames, slots, () => clock.now());
    const request = taskRequest;
    const submit = (name: string, extra: Parameters<typeof taskRequest>[1] = {}): Promise<string> => submitOne(scheduler, name, extra);

    it("keeps a delayed task scheduled until its time, then starts it at that time, woken by the timer", async () => {
      const worker = register("w1", ["later"], 1);
      await settle();
      const id = await submit("later", { delayMs: 5_000 });
      expect(await scheduler.getTask(id)).toMatchObject({ state: "scheduled", runAt: T0 + 5_000, nextAttemptAt: T0 + 5_000 });
      const listed = await scheduler.listTasks({ state: TaskState.TASK_STATE_SCHEDULED, name: "", pageSize: 0, pageToken: "", filter: undefined });
      expect(listed.tasks.map((task) => task.id)).toEqual([id]);
      clock.advance(4_999);
      await settle();
      expect(worker.channel.assignments).toEqual([]);
      expect((await scheduler.getTask(id)).state).toBe("scheduled");
      clock.advance(1);
      await until(() => worker.channel.assignments.length === 1, "the assignment at the due time");
      expect(worker.channel.assignedAt).toEqual([T0 + 5_000]);
      expect(await scheduler.getTask(id)).toMatchObject({ state: "running", startedAt: T0 + 5_000 });
      expect((await store.listEvents(id, 0)).map((event) => [event.state, event.timestamp])).toEqual([
        ["scheduled", T0], ["queued", T0 + 5_000], ["running", T0 + 5_000],
      ]);
    });

    it("starts a task whose run_at_ms has passed at once", async () => {
      const worker = register("w1", ["late"], 1);
      const id = await submit("late", { runAtMs: T0 - 60_000 });
      await until(() => worker.channel.assignments.length === 1, "the assignment");
      expect(worker.channel.assignedAt).toEqual([T0]);
      expect((await scheduler.getTask(id)).runAt).toBeNull();
    });

    it("starts 1,000 tasks with random delays each at its due time, in due order", async () => {
      const worker = register("w1", ["many"], 1_000);
      await settle();
      const random = mulberry32(11);
      // Whole seconds over two minutes: about eight tasks share each due time (ties start together),
      // which keeps the store round trips of this test from slowing the suites running beside it.
      const delays = Array.from({ length: 1_000 }, () => 1_000 * (1 + Math.floor(random() * 120)) + (random() < 0.5 ? 0 : 500));
      const accepted = await scheduler.submit(delays.map((delayMs, index) => request("many", index % 2 === 0 ? { delayMs } : { runAtMs: T0 + delayMs })));
      const dueOf = new Map(accepted.map((task, index) => [task.taskId, T0 + (delays[index] ?? 0)]));
      const dueTimes = [...new Set(dueOf.values())].sort((a, b) => a - b);
      for (const due of dueTimes) {
        const expected = [...dueOf.values()].filter((time) => time <= due).length;
        clock.advance(due - clock.now());
        // A timer the promotion re-arms for a time already reached (the store answered after this
        // loop moved the clock) is due at once, as a real 0 ms timer would be: advance(0) fires it.
        await until(() => {
          clock.advance(0);
          return worker.channel.assignments.length === expected;
        }, `the ${expected} tasks due by ${due - T0} ms`);
      }
      expect(worker.channel.assignments.map((assignment) => dueOf.get(assignment.taskId))).toEqual(worker.channel.assignedAt);
      expect([...worker.channel.assignedAt].sort((a, b) => a - b)).toEqual(worker.channel.assignedAt);
      expect(new Set(worker.channel.assignments.map((assignment) => assignment.taskId)).size).toBe(1_000);
    });

    it("cancels a scheduled task: it never starts", async () => {
      const worker = register("w1", ["later"], 1);
      const cancelled = await submit("later", { delayMs: 1_000 });
      const kept = await submit("later", { delayMs: 2_000 });
      expect(await scheduler.cancel(cancelled, "not needed")).toMatchObject({ state: "cancelled", cancelled: true });
      clock.advance(1_000);
      await settle();
      expect(worker.channel.assignments).toEqual([]);
      clock.advance(1_000);
      await until(() => worker.channel.assignments.length === 1, "the kept task");
      expect(worker.channel.assignments.map((assignment) => assignment.taskId)).toEqual([kept]);
      expect((await scheduler.getTask(cancelled)).state).toBe("cancelled");
    });

    it("with one slot, runs a queue of mixed priorities highest first, then oldest", async () => {
      const submitted: Array<[string, number | undefined]> = [
        ["low", -10], ["default-1", undefined], ["urgent-1", 100], ["high", 5], ["default-2", 0], ["urgent-2", 100], ["lowest", -100],
      ];
      const ids = new Map<string, string>();
      for (const [label, priority] of submitted) ids.set(await submit("job", priority === undefined ? {} : { priority }), label);
      const worker = register("w1", ["job"], 1);
      for (let done = 0; done < submitted.length; done++) {
        await until(() => worker.channel.assignments.length === done + 1, `assignment ${done + 1}`);
        const attempt = worker.channel.assignments[done] as TaskAssignment;
        reportSuccess(scheduler, worker.session, attempt);
      }
      expect(worker.channel.assignments.map((assignment) => ids.get(assignment.taskId))).toEqual(
        ["urgent-1", "urgent-2", "high", "default-1", "default-2", "low", "lowest"],
      );
    });
  });
}
