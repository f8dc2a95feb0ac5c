// The operator actions through the Scheduler, in-process, with a manual clock and fake worker
// streams, on every store backend: a retried task is dispatched again as attempt 2; a bulk cancel
// reaches the worker running a matched task; bulk actions refuse an empty filter and states they
// cannot apply to; a bulk action leaves tasks created from its start on alone; each action writes
// one log line with the key id that asked.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { AttemptOutcome, TaskState, type CancelAttempt, type TaskAssignment } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import type { WorkerSession } from "../../packages/server/src/scheduler/worker-registry.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import { FakeChannel, manualOptions, ManualStore, reportSuccess, silentLogger, submitOne as submit, untilOf } from "../helpers/manual-scheduler.js";
import { createTestStore, storeBackends, type TestStore } from "../helpers/stores.js";

const T0 = Date.UTC(2026, 0, 1);
const SWEEP_MS = 600_000;
const caller = { keyId: "0123456789ab" };

/** A worker stream that also keeps the cancels it is sent. */
class CancelKeepingChannel extends FakeChannel {
  readonly cancels: CancelAttempt[] = [];
  override sendCancel(cancel: CancelAttempt): void {
    this.cancels.push(cancel);
  }
}

function registerOn(scheduler: Scheduler, id: string, taskNames: string[], slots: number): { channel: CancelKeepingChannel; session: WorkerSession } {
  const channel = new CancelKeepingChannel();
  const session = scheduler.registerWorker({ kind: { $case: "register", register: { workerId: id, taskNames, slots, prefetch: 0, version: "test", running: [] } } }, channel);
  return { channel, session };
}

function reportFailure(scheduler: Scheduler, session: WorkerSession, attempt: TaskAssignment): void {
  scheduler.handleWorkerMessage(session, {
    kind: { $case: "results", results: { results: [{ taskId: attempt.taskId, attempt: attempt.attempt, outcome: AttemptOutcome.ATTEMPT_OUTCOME_FAILED, result: Buffer.from(""), error: "boom", retryable: false, retryAfterMs: 0 }] } },
  });
}

async function refusal(promise: Promise<unknown>): Promise<OrchestratorError> {
  const error = await promise.then(() => null, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(OrchestratorError);
  return error as OrchestratorError;
}

for (const backend of storeBackends) {
  describe(`Scheduler operator actions (${backend} store)`, () => {
    let rig: ManualStore;
    let clock: ManualClock;
    let scheduler: Scheduler;
    let logLines: Array<Record<string, unknown>>;
    const until = untilOf(backend);

    const register = (id: string, taskNames: string[], slots: number): { channel: CancelKeepingChannel; session: WorkerSession } => registerOn(scheduler, id, taskNames, slots);

    beforeEach(async () => {
      clock = new ManualClock(T0);
      rig = await ManualStore.open(backend, clock, "orchestrator-actions-");
      logLines = [];
      const logger = pino({ level: "info" }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
      scheduler = new Scheduler(rig.store, manualOptions(rig.directory, SWEEP_MS), clock, logger);
      await scheduler.start();
    });

    afterEach(async () => {
      await scheduler.stop();
      await rig.remove();
    });

    it("retries a failed task: it is dispatched again as attempt 2 and succeeds; other states are refused", async () => {
      const worker = register("w1", ["job"], 10);
      const id = await submit(scheduler, "job", { maxRetries: 0 });
      await until(() => worker.channel.assignments.length === 1, "the first assignment");
      reportFailure(scheduler, worker.session, worker.channel.assignments[0] as TaskAssignment);
      await until(async () => (await scheduler.getTask(id)).state === "failed", "the failure");

      const task = await scheduler.actions.retry(id, "upstream fixed", caller);
      expect(task).toMatchObject({ id, state: "queued", attempt: 1 });
      await until(() => worker.channel.assignments.length === 2, "the retried task's assignment");
      const second = worker.channel.assignments[1] as TaskAssignment;
      expect(second).toMatchObject({ taskId: id, attempt: 2 });
      reportSuccess(scheduler, worker.session, second);
      await until(async () => (await scheduler.getTask(id)).state === "succeeded", "the success of the second series");

      const again = await refusal(scheduler.actions.retry(id, "", caller));
      expect(again.code).toBe(Code.FailedPrecondition);
      expect(again.rawMessage).toContain("succeeded; only a failed or cancelled task can be retried");
      expect((await refusal(scheduler.actions.retry("0190d6d2-6c4f-7d1a-9c1e-000000000000", "", caller))).code).toBe(Code.NotFound);

      const line = logLines.find((entry) => entry.action === "RetryTask");
      expect(line).toMatchObject({ task_id: id, key_id: caller.keyId, reason: "upstream fixed", count: 1, previous_state: "failed" });
    });

    it("a bulk cancel cancels the matched unfinished tasks and reaches the worker running one", async () => {
      const worker = register("w1", ["job"], 1);
      const running = await submit(scheduler, "job");
      await until(() => worker.channel.assignments.length === 1, "the first assignment");
      const waiting = [await submit(scheduler, "job"), await submit(scheduler, "job")];
      const other = await submit(scheduler, "other");
      clock.advance(10);

      const count = await scheduler.actions.cancelTasks({ names: ["job"], states: [] }, "maintenance", caller);
      expect(count).toBe(3);
      await until(() => worker.channel.cancels.length === 1, "the cancel of the running attempt");
      expect(worker.channel.cancels[0]).toMatchObject({ taskId: running, attempt: 1 });
      for (const id of [running, ...waiting]) expect(await scheduler.getTask(id)).toMatchObject({ state: "cancelled", error: "maintenance" });
      expect((await scheduler.getTask(other)).state).toBe("queued");
      expect(logLines.find((entry) => entry.action === "CancelTasks")).toMatchObject({ count: 3, key_id: caller.keyId, reason: "maintenance", filter: { names: ["job"] } });
    });

    it("refuses an empty filter and states the action cannot apply to, naming them", async () => {
      for (const action of [
        () => scheduler.actions.retryTasks(undefined, "", caller), () => scheduler.actions.cancelTasks({ names: [], states: [] }, "", caller),
        () => scheduler.actions.deleteTasks({ names: [], states: [] }, caller),
      ]) {
        const refused = await refusal(action());
        expect(refused.code).toBe(Code.InvalidArgument);
        expect(refused.rawMessage).toContain("name at least one of names, states");
      }
      const deleteRunning = await refusal(scheduler.actions.deleteTasks({ names: [], states: [TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_SUCCEEDED] }, caller));
      expect(deleteRunning.code).toBe(Code.InvalidArgument);
      expect(deleteRunning.rawMessage).toContain("DeleteTasks applies to finished tasks (succeeded, failed, cancelled) only; filter.states also names running");
      const retryQueued = await refusal(scheduler.actions.retryTasks({ names: [], states: [TaskState.TASK_STATE_QUEUED] }, "", caller));
      expect(retryQueued.rawMessage).toContain("filter.states also names queued");
      const cancelDone = await refusal(scheduler.actions.cancelTasks({ names: [], states: [TaskState.TASK_STATE_SUCCEEDED, TaskState.TASK_STATE_FAILED] }, "", caller));
      expect(cancelDone.rawMessage).toContain("filter.states also names succeeded, failed: leave them out");
    });

    it("a retry counts against --max-waiting-tasks as a submit does: past it, RESOURCE_EXHAUSTED and nothing retried", async () => {
      await scheduler.stop();
      scheduler = new Scheduler(rig.store, { ...manualOptions(rig.directory, SWEEP_MS), maxWaitingTasks: 3 }, clock, silentLogger);
      await scheduler.start();
      const worker = register("w1", ["job"], 10);
      const ids = [await submit(scheduler, "job", { maxRetries: 0 }), await submit(scheduler, "job", { maxRetries: 0 }), await submit(scheduler, "job", { maxRetries: 0 })];
      await until(() => worker.channel.assignments.length === 3, "three assignments");
      for (const attempt of worker.channel.assignments) reportFailure(scheduler, worker.session, attempt);
      await until(async () => (await Promise.all(ids.map((id) => scheduler.getTask(id)))).every((task) => task.state === "failed"), "three failures");
      // No sweep has counted the queue since: the estimate still holds the three submits.
      const one = await refusal(scheduler.actions.retry(ids[0] as string, "", caller));
      expect(one.code).toBe(Code.ResourceExhausted);
      expect(one.rawMessage).toBe("the queue holds about 3 waiting tasks; the limit is 3: retry later");
      const bulk = await refusal(scheduler.actions.retryTasks({ names: ["job"], states: [] }, "", caller));
      expect(bulk.code).toBe(Code.ResourceExhausted);
      for (const id of ids) expect((await scheduler.getTask(id)).state).toBe("failed");
    });

    it("a bulk action leaves alone the tasks created from its start on", async () => {
      const before = [await submit(scheduler, "job"), await submit(scheduler, "job")];
      clock.advance(10);
      // Submitted as the call starts and stored before its first batch reads: left alone all the same.
      const submitting = submit(scheduler, "job");
      const cancelling = scheduler.actions.cancelTasks({ names: ["job"], states: [] }, "", caller);
      const racing = await submitting;
      expect(await cancelling).toBe(2);
      for (const id of before) expect((await scheduler.getTask(id)).state).toBe("cancelled");
      expect((await scheduler.getTask(racing)).state).toBe("queued");
    });

    it("a bulk delete removes the matched finished tasks and leaves the others; a bulk retry queues the failed ones again", async () => {
      const worker = register("w1", ["job"], 10);
      const ids = [await submit(scheduler, "job", { maxRetries: 0 }), await submit(scheduler, "job", { maxRetries: 0 }), await submit(scheduler, "job", { maxRetries: 0 })];
      await until(() => worker.channel.assignments.length === 3, "three assignments");
      const [first, second, third] = worker.channel.assignments as [TaskAssignment, TaskAssignment, TaskAssignment];
      reportSuccess(scheduler, worker.session, first);
      reportFailure(scheduler, worker.session, second);
      reportFailure(scheduler, worker.session, third);
      await until(async () => (await Promise.all(ids.map((id) => scheduler.getTask(id)))).every((task) => task.state !== "running"), "three ends");
      clock.advance(10);
      expect(await scheduler.actions.deleteTasks({ names: [], states: [TaskState.TASK_STATE_SUCCEEDED] }, caller)).toBe(1);
      await expect(scheduler.getTask(ids[0] as string)).rejects.toThrow("does not exist");
      expect(await scheduler.actions.retryTasks({ names: ["job"], states: [] }, "", caller)).toBe(2);
      await until(() => worker.channel.assignments.length === 5, "the retried tasks' assignments");
      expect(worker.channel.assignments.slice(3).map((assignment) => assignment.attempt)).toEqual([2, 2]);
      expect(logLines.filter((entry) => entry.action === "DeleteTasks" || entry.action === "RetryTasks").map((entry) => [entry.action, entry.count])).toEqual([["DeleteTasks", 1], ["RetryTasks", 2]]);
    });
  });
}

describe("Scheduler operator actions, two Schedulers on one PostgreSQL store", () => {
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

  async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  it("a bulk cancel through A stops the attempt B's worker runs; a bulk retry through A is dispatched by B (the store's hint; no poll within the test)", async () => {
    directory = mkdtempSync(join(tmpdir(), "orchestrator-actions-pair-"));
    testStore = await createTestStore("postgres");
    const clock = new ManualClock(T0);
    for (let index = 0; index < 2; index++) {
      const store = new PostgresStore({ url: testStore.url, clock, pollIntervalMs: 600_000 });
      await store.migrate();
      stores.push(store);
      const scheduler = new Scheduler(store, manualOptions(directory, SWEEP_MS), clock, silentLogger);
      await scheduler.start();
      schedulers.push(scheduler);
    }
    const [a, b] = schedulers as [Scheduler, Scheduler];
    const worker = registerOn(b, "w-b", ["job"], 1);
    const running = await submit(a, "job", { maxRetries: 0 });
    await until(() => worker.channel.assignments.length === 1, "B's assignment");
    clock.advance(10);

    expect(await a.actions.cancelTasks({ names: ["job"], states: [] }, "maintenance", caller)).toBe(1);
    await until(() => worker.channel.cancels.length === 1, "the cancel at B's worker");
    expect(worker.channel.cancels[0]).toMatchObject({ taskId: running, attempt: 1 });
    // The worker reports the attempt stopped; its slot frees.
    reportStopped(b, worker.session, worker.channel.assignments[0] as TaskAssignment);

    expect(await a.actions.retryTasks({ names: ["job"], states: [TaskState.TASK_STATE_CANCELLED] }, "", caller)).toBe(1);
    await until(() => worker.channel.assignments.length === 2, "B's assignment of the retried task");
    expect(worker.channel.assignments[1]).toMatchObject({ taskId: running, attempt: 2 });
  });
});

/** The worker's report that it stopped an attempt it was told to cancel. */
function reportStopped(scheduler: Scheduler, session: WorkerSession, attempt: TaskAssignment): void {
  scheduler.handleWorkerMessage(session, {
    kind: { $case: "results", results: { results: [{ taskId: attempt.taskId, attempt: attempt.attempt, outcome: AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED, result: Buffer.from(""), error: "cancelled", retryable: true, retryAfterMs: 0 }] } },
  });
}
