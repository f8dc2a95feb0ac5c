// A worker's RATE_LIMITED result through the Scheduler, in-process, with a manual clock and fake
// worker streams, on every store backend: the task is deferred by retry_after_ms without using a
// retry (max_retries 0 and still a second attempt), the due timer, not the sweep, wakes it at exactly
// that time, another task of its name waits as long, a wait out of range is clamped (a worker is
// trusted: its stream stays up), and the result of an attempt that is no longer current is fenced.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AttemptOutcome, type TaskAssignment } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import type { WorkerSession } from "../../packages/server/src/scheduler/worker-registry.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import {
  manualOptions, ManualStore, registerFakeWorker as register, reportSuccess as succeed, startScheduler, submitOne as submit, untilOf,
} from "../helpers/manual-scheduler.js";
import { storeBackends } from "../helpers/stores.js";

const T0 = Date.UTC(2026, 0, 1);
/** The sweep runs this rarely, so nothing here is promoted by it. */
const SWEEP_MS = 600_000;
const dayMs = 86_400_000;

function reportRateLimited(scheduler: Scheduler, session: WorkerSession, attempt: TaskAssignment, retryAfterMs: number): void {
  scheduler.handleWorkerMessage(session, {
    kind: {
      $case: "results",
      results: { results: [{ taskId: attempt.taskId, attempt: attempt.attempt, outcome: AttemptOutcome.ATTEMPT_OUTCOME_RATE_LIMITED, result: Buffer.alloc(0), error: "HTTP 429", retryable: true, retryAfterMs }] },
    },
  });
}

for (const backend of storeBackends) {
  describe(`Scheduler: a handler's upstream says slow down (${backend} store)`, () => {
    let rig: ManualStore;
    let clock: ManualClock;
    let scheduler: Scheduler;

    const until = untilOf(backend);

    beforeEach(async () => {
      clock = new ManualClock(T0);
      rig = await ManualStore.open(backend, clock, "orchestrator-rate-limited-");
      scheduler = await startScheduler(rig.store, clock, manualOptions(rig.directory, SWEEP_MS));
    });

    afterEach(async () => {
      await scheduler.stop();
      await rig.remove();
    });

    it("defers the task by retry_after_ms without a retry; the due timer starts it, and the name's other task, at that time", async () => {
      const worker = register(scheduler, "w1", ["upstream", "marker"], 10);
      const deferred = await submit(scheduler, "upstream", { maxRetries: 0 });
      await until(() => worker.channel.assignments.length === 1, "the first assignment");
      reportRateLimited(scheduler, worker.session, worker.channel.assignments[0] as TaskAssignment, 500);
      await until(async () => (await scheduler.getTask(deferred)).state === "retrying", "the deferral");
      expect(await scheduler.getTask(deferred)).toMatchObject({ state: "retrying", attempt: 1, nextAttemptAt: T0 + 500, error: null });
      const events = await rig.store.listEvents(deferred, 0);
      expect(events.at(-1)).toMatchObject({ state: "retrying", message: "attempt 1 rate limited by its upstream; next attempt in 0.5s", nextAttemptAt: T0 + 500 });

      // Another task of the name, submitted during the hold, is not dispatched: a marker of another
      // name, submitted after it, is (so dispatch rounds ran meanwhile).
      const other = await submit(scheduler, "upstream");
      clock.advance(499);
      const marker = await submit(scheduler, "marker");
      await until(() => worker.channel.assignments.some((assignment) => assignment.taskId === marker), "the marker's assignment");
      expect(worker.channel.assignments.map((assignment) => assignment.taskId)).toEqual([deferred, marker]);
      expect((await scheduler.getTask(deferred)).state).toBe("retrying");

      clock.advance(1);
      await until(() => worker.channel.assignments.length === 4, "both tasks' assignments when the hold ends");
      expect(worker.channel.assignments.slice(2).map((assignment) => [assignment.taskId, assignment.attempt]).sort()).toEqual([[deferred, 2], [other, 1]].sort());
      const second = worker.channel.assignments.find((assignment) => assignment.taskId === deferred && assignment.attempt === 2) as TaskAssignment;
      succeed(scheduler, worker.session, second);
      await until(async () => (await scheduler.getTask(deferred)).state === "succeeded", "the second attempt's success");
      expect(await scheduler.getTask(deferred)).toMatchObject({ state: "succeeded", attempt: 2, maxRetries: 0, startedAt: T0 + 500 });
    });

    it("clamps retry_after_ms to 1 ms..a day, and fences the result of an attempt that is no longer current", async () => {
      const worker = register(scheduler, "w1", ["zero", "huge"], 10);
      const zero = await submit(scheduler, "zero");
      const huge = await submit(scheduler, "huge");
      await until(() => worker.channel.assignments.length === 2, "both assignments");
      const assignmentOf = (taskId: string): TaskAssignment => worker.channel.assignments.find((assignment) => assignment.taskId === taskId) as TaskAssignment;
      reportRateLimited(scheduler, worker.session, assignmentOf(zero), 0);
      reportRateLimited(scheduler, worker.session, assignmentOf(huge), 2_147_483_647);
      await until(async () => (await scheduler.getTask(zero)).state === "retrying" && (await scheduler.getTask(huge)).state === "retrying", "both deferrals");
      expect((await scheduler.getTask(zero)).nextAttemptAt).toBe(T0 + 1);
      expect((await scheduler.getTask(huge)).nextAttemptAt).toBe(T0 + dayMs);

      // A repeat of the same result (the attempt is no longer current) changes nothing.
      const before = await rig.store.listEvents(zero, 0);
      reportRateLimited(scheduler, worker.session, assignmentOf(zero), 60_000);
      const marker = await submit(scheduler, "huge", { maxRetries: 0 });
      await until(async () => (await scheduler.getTask(marker)).state === "queued", "the marker stored");
      expect(await rig.store.listEvents(zero, 0)).toEqual(before);
      expect(scheduler.listWorkers().map((info) => info.workerId)).toEqual(["w1"]);

      clock.advance(1);
      await until(() => worker.channel.assignments.some((assignment) => assignment.taskId === zero && assignment.attempt === 2), "the clamped task's second attempt");
      // "huge" holds its name for a day: its marker waits.
      expect(worker.channel.assignments.filter((assignment) => assignment.taskId === marker)).toEqual([]);
    });
  });
}
