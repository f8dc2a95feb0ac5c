import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AssignTasks, AttemptOutcome, CancelAttempt, TaskState } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type {
  SubmitStreamRequest, SubmitStreamResponse, SubmitTaskRequest, SubmitTaskResponse, SubmitTasksRequest, SubmitTasksResponse, TaskAssignment, WorkerMessage,
} from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { ServerDuplexStream, ServerUnaryCall } from "@grpc/grpc-js";
import { compileSchedulerOptions, databasePath } from "../../packages/server/src/scheduler/options.js";
import type { CompiledSchedulerOptions } from "../../packages/server/src/scheduler/options.js";
import { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import { schedulerGrpcService } from "../../packages/server/src/scheduler/grpc.js";
import type { WorkerChannel, WorkerSession } from "../../packages/server/src/scheduler/worker-registry.js";
import { SqliteStore } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import type { TaskEvent, TaskRecord, TaskStore } from "../../packages/server/src/store/store.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { createTestStore, type StoreBackend, type TestStore } from "../helpers/stores.js";
import { gated, heldOpen, type GatedStore } from "../helpers/gated-store.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import { createLogger } from "../../packages/client/src/logger.js";

/** The Scheduler against one store backend; scheduler.test.ts runs it for each (as Kysely runs a suite per dialect). */
export function describeSchedulerSuite(backend: StoreBackend): void {
  const logger = createLogger({ level: "silent" });
  const T0 = Date.UTC(2026, 0, 1);
  const HEARTBEAT_MS = 100;
  /** Backoff of the n-th failed attempt with the default base (1000 ms) and random pinned to 0.5: base * 2^(n-1) * 0.75. */
  const backoffOf = (failedAttempt: number): number => 1000 * 2 ** (failedAttempt - 1) * 0.75;

  /**
   * Records everything the Scheduler sends down one worker stream, as the worker would receive it:
   * each message goes through the wire encoding.
   */
  class FakeChannel implements WorkerChannel {
    readonly assignments: TaskAssignment[] = [];
    readonly cancels: CancelAttempt[] = [];
    readonly closes: string[] = [];

    sendAssignments(assign: AssignTasks): void {
      this.assignments.push(...AssignTasks.decode(AssignTasks.encode(assign).finish()).tasks);
    }

    sendCancel(cancel: CancelAttempt): void {
      this.cancels.push(CancelAttempt.decode(CancelAttempt.encode(cancel).finish()));
    }

    close(reason: string): void {
      this.closes.push(reason);
    }
  }

  /** The Scheduler's side of one SubmitStream: answers go to `onAnswer`. */
  class FakeSubmitStream extends EventEmitter {
    constructor(private readonly onAnswer: (message: SubmitStreamResponse) => void) {
      super();
    }

    write(message: SubmitStreamResponse): boolean {
      for (const each of [message, ...message.more]) this.onAnswer(each);
      return true;
    }

    end(): void {}
  }

  interface FakeWorker {
    id: string;
    channel: FakeChannel;
    session: WorkerSession;
  }

  /**
   * One macrotask turn: lets the Dispatcher's and the store's setImmediate callbacks run. PostgreSQL
   * answers over a socket, so there a turn is a millisecond of real time.
   */
  const turn = (): Promise<void> => new Promise((resolve) => (backend === "sqlite" ? setImmediate(resolve) : setTimeout(resolve, 1)));

  /** Lets every chain of setImmediate-driven work started so far run to completion. */
  async function settle(turns = 30): Promise<void> {
    for (let index = 0; index < turns; index++) await turn();
  }

  /** Waits, turn by turn and never by wall-clock time, until `condition` holds. */
  async function until(condition: () => boolean, what: string, turns = 500): Promise<void> {
    for (let index = 0; index < turns; index++) {
      if (condition()) return;
      await turn();
    }
    throw new Error(`gave up waiting for ${what}`);
  }

  let directory = "";
  let clock: ManualClock;
  let options: CompiledSchedulerOptions;
  let store: GatedStore;
  let scheduler: Scheduler;
  const opened: Array<{ scheduler: Scheduler; store: TaskStore }> = [];
  let testStore: TestStore;

  async function openScheduler(at = T0): Promise<void> {
    clock = new ManualClock(at);
    const inner = backend === "sqlite"
      ? new SqliteStore({ path: databasePath(directory), random: () => 0.5 })
      : new PostgresStore({ url: testStore.url, clock, random: () => 0.5, pollIntervalMs: 60_000 });
    store = gated(inner);
    await store.migrate();
    scheduler = new Scheduler(store, options, clock, logger);
    opened.push({ scheduler, store });
    await scheduler.start();
  }

  beforeEach(async () => {
    directory = mkdtempSync(join(tmpdir(), "orchestrator-scheduler-"));
    testStore = await createTestStore(backend, directory);
    options = compileSchedulerOptions({
      heartbeatIntervalMs: HEARTBEAT_MS, workerTimeoutMs: 500, leaseMs: 500, deadlineGraceMs: 200, defaultRetryBackoffMs: 1000, dataDir: directory,
      // Every kick claims at once, in the submit's commit, so the timing of each test is fixed.
      dispatchIdleMs: 0,
    });
    await openScheduler();
  });

  afterEach(async () => {
    for (const { scheduler: each, store: itsStore } of opened.splice(0)) {
      await each.stop();
      await itsStore.close();
    }
    await testStore.remove();
    rmSync(directory, { recursive: true, force: true });
  });

  function register(id: string, taskNames: string[], slots = 1, running: Array<{ taskId: string; attempt: number }> = []): FakeWorker {
    const channel = new FakeChannel();
    const reported = running.map((attempt) => ({ ...attempt, name: taskNames[0] ?? "", startedAtMs: clock.now() }));
    const session = scheduler.registerWorker({ kind: { $case: "register", register: { workerId: id, taskNames, slots, prefetch: 0, version: "test", running: reported } } }, channel);
    return { id, channel, session };
  }

  function heartbeat(worker: FakeWorker): void {
    scheduler.handleWorkerMessage(worker.session, { kind: { $case: "heartbeat", heartbeat: { sentAtMs: clock.now() } } });
  }

  function report(
    worker: FakeWorker, attempt: TaskAssignment, outcome: AttemptOutcome,
    details: { result?: string; error?: string; retryable?: boolean } = {},
  ): void {
    const message: WorkerMessage = {
      kind: {
        $case: "results",
        results: {
          results: [{
            taskId: attempt.taskId, attempt: attempt.attempt, outcome, result: Buffer.from(details.result ?? ""),
            error: details.error ?? "", retryable: details.retryable ?? true, retryAfterMs: 0,
          }],
        },
      },
    };
    scheduler.handleWorkerMessage(worker.session, message);
  }

  function progress(worker: FakeWorker, attempt: TaskAssignment, percent: number, message: string): void {
    scheduler.handleWorkerMessage(worker.session, { kind: { $case: "progress", progress: { taskId: attempt.taskId, attempt: attempt.attempt, percent, message } } });
  }

  async function submit(name: string, extra: Partial<SubmitTaskRequest> = {}): Promise<string> {
    const [accepted] = await scheduler.submit([{ name, description: "", payload: Buffer.from(`payload of ${name}`), idempotencyKey: "", traceContext: {}, ...extra }]);
    if (!accepted) throw new Error("submit accepted nothing");
    return accepted.taskId;
  }

  async function submitMany(name: string, count: number): Promise<string[]> {
    const requests = Array.from({ length: count }, (_, index) => ({ name, description: "", payload: Buffer.from(String(index)), idempotencyKey: "", traceContext: {} }));
    return (await scheduler.submit(requests)).map((accepted) => accepted.taskId);
  }

  const task = (id: string): Promise<TaskRecord> => scheduler.getTask(id);

  function lastAssignment(worker: FakeWorker): TaskAssignment {
    const last = worker.channel.assignments.at(-1);
    if (!last) throw new Error(`${worker.id} has no assignment`);
    return last;
  }

  /**
   * Moves the clock forward in heartbeat-sized steps; before each step every worker in `live` sends a
   * heartbeat, and after each step the timers' async work is let settle.
   */
  async function advance(ms: number, live: readonly FakeWorker[] = []): Promise<void> {
    let left = ms;
    while (left > 0) {
      const step = Math.min(HEARTBEAT_MS, left);
      for (const worker of live) heartbeat(worker);
      clock.advance(step);
      await settle();
      left -= step;
    }
  }

  describe(`Scheduler dispatch (${backend} store)`, () => {
    it("hands the worker the trace context the task was submitted with", async () => {
      const worker = register("w1", ["resize"]);
      await settle();
      const traceContext = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "vendor=1" };
      const id = await submit("resize", { traceContext });
      await until(() => worker.channel.assignments.length > 0, "the assignment");
      expect(worker.channel.assignments).toMatchObject([{ taskId: id, traceContext }]);
    });

    it("pushes a submitted task to a registered worker of its name at once, without the clock moving", async () => {
      const worker = register("w1", ["resize"]);
      // Let the registration's dispatch round finish first, so only the submit can start the next one.
      await settle();
      expect(worker.channel.assignments).toEqual([]);
      const id = await submit("resize", { timeoutSecs: 7, maxRetries: 2 });
      await until(() => worker.channel.assignments.length > 0, "the assignment");
      expect(clock.now()).toBe(T0);
      expect(worker.channel.assignments).toEqual([
        { taskId: id, attempt: 1, name: "resize", payload: Buffer.from("payload of resize"), timeoutMs: 7000, maxRetries: 2, traceContext: {} },
      ]);
      const record = await task(id);
      expect(record.state).toBe("running");
      expect(record.attempt).toBe(1);
      expect(record.workerId).toBe("w1");
      expect(scheduler.listWorkers()).toMatchObject([{ workerId: "w1", running: 1, slots: 1 }]);
    });

    it("gives nothing to a worker of other names and keeps the task queued until a matching worker registers", async () => {
      const other = register("other", ["thumbnail", "encode"], 4);
      const id = await submit("resize");
      await settle();
      expect(other.channel.assignments).toEqual([]);
      expect((await task(id)).state).toBe("queued");

      const matching = register("matching", ["encode", "resize"], 1);
      await until(() => matching.channel.assignments.length > 0, "the assignment to the matching worker");
      expect(clock.now()).toBe(T0);
      expect(matching.channel.assignments.map((a) => [a.taskId, a.attempt])).toEqual([[id, 1]]);
      expect(other.channel.assignments).toEqual([]);
      expect(await task(id)).toMatchObject({ state: "running", workerId: "matching", attempt: 1 });
    });

    it("never gives a worker more tasks than it has slots; a finished task frees a slot for the next one", async () => {
      const worker = register("w2", ["batch"], 2);
      await settle();
      const ids = await submitMany("batch", 5);
      await until(() => worker.channel.assignments.length >= 2, "two assignments");
      await settle();
      expect(worker.channel.assignments.map((a) => a.taskId)).toEqual(ids.slice(0, 2));
      expect(scheduler.listWorkers()[0]?.running).toBe(2);
      expect((await task(ids[2] ?? "")).state).toBe("queued");

      report(worker, worker.channel.assignments[0] as TaskAssignment, AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "done" });
      await until(() => worker.channel.assignments.length >= 3, "the third assignment");
      await settle();
      expect(worker.channel.assignments.map((a) => a.taskId)).toEqual(ids.slice(0, 3));
      const first = await task(ids[0] ?? "");
      expect(first.state).toBe("succeeded");
      expect(Buffer.from(first.result ?? new Uint8Array()).toString()).toBe("done");
      expect((await scheduler.listTasks({ state: TaskState.TASK_STATE_QUEUED, name: "batch", pageSize: 0, pageToken: "", filter: undefined })).tasks).toHaveLength(2);
      expect(clock.now()).toBe(T0);
    });

    it("claims at most maxClaimPerRound tasks per round, serving first the workers the last round left out", async () => {
      options = { ...options, maxClaimPerRound: 3 };
      await openScheduler();
      const workers = ["w1", "w2", "w3"].map((id) => register(id, ["fan"], 2));
      await settle();
      store.claimCalls.length = 0;
      const ids = await submitMany("fan", 6);
      await until(() => workers.every((worker) => worker.channel.assignments.length === 2), "two assignments per worker");
      await settle();
      const rounds = store.claimCalls.filter((call) => call.length > 0);
      expect(rounds.every((call) => call.reduce((sum, request) => sum + request.limit, 0) <= 3)).toBe(true);
      expect(rounds[0]).toEqual([{ workerId: "w1", limit: 2 }, { workerId: "w2", limit: 1 }]);
      // w3 waited a round: it comes first now, then what w2 still has free.
      expect(rounds[1]).toEqual([{ workerId: "w3", limit: 2 }, { workerId: "w2", limit: 1 }]);
      expect(workers.flatMap((worker) => worker.channel.assignments.map((a) => a.taskId)).sort()).toEqual([...ids].sort());
    });
  });

  describe(`Scheduler retries (${backend} store)`, () => {
    it("retries a retryable failure after the backoff, and fails the task after max_retries + 1 failures", async () => {
      const worker = register("w1", ["flaky"]);
      const id = await submit("flaky", { maxRetries: 2 });
      await until(() => worker.channel.assignments.length === 1, "attempt 1");

      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_FAILED, { error: "boom 1", retryable: true });
      await until(() => scheduler.listWorkers()[0]?.running === 0, "the freed slot");
      await settle();
      const retrying = await task(id);
      expect(retrying).toMatchObject({ state: "retrying", attempt: 1, error: "boom 1", nextAttemptAt: T0 + backoffOf(1) });

      await advance(backoffOf(1) - 1, [worker]);
      expect(worker.channel.assignments).toHaveLength(1);
      expect((await task(id)).state).toBe("retrying");
      await advance(1, [worker]);
      await until(() => worker.channel.assignments.length === 2, "attempt 2");
      expect(lastAssignment(worker)).toMatchObject({ taskId: id, attempt: 2 });
      expect(await task(id)).toMatchObject({ state: "running", attempt: 2 });

      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_FAILED, { error: "boom 2", retryable: true });
      await settle();
      expect(await task(id)).toMatchObject({ state: "retrying", attempt: 2, nextAttemptAt: T0 + backoffOf(1) + backoffOf(2) });
      await advance(backoffOf(2) - 1, [worker]);
      expect(worker.channel.assignments).toHaveLength(2);
      await advance(1, [worker]);
      await until(() => worker.channel.assignments.length === 3, "attempt 3");
      expect(lastAssignment(worker)).toMatchObject({ taskId: id, attempt: 3 });

      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_FAILED, { error: "boom 3", retryable: true });
      await settle();
      const failed = await task(id);
      expect(failed).toMatchObject({ state: "failed", attempt: 3, error: "boom 3", nextAttemptAt: null });
      expect(failed.finishedAt).toBe(T0 + backoffOf(1) + backoffOf(2));

      await advance(10_000, [worker]);
      expect(worker.channel.assignments).toHaveLength(3);
      expect((await task(id)).state).toBe("failed");
      const events = await store.listEvents(id, 0);
      expect(events.map((e) => e.state)).toEqual(["queued", "running", "retrying", "running", "retrying", "running", "failed"]);
    });

    it("fails a non-retryable failure at once, with retries left", async () => {
      const worker = register("w1", ["strict"]);
      const id = await submit("strict", { maxRetries: 5 });
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_FAILED, { error: "bad input", retryable: false });
      await settle();
      expect(await task(id)).toMatchObject({ state: "failed", attempt: 1, error: "bad input", nextAttemptAt: null });
      await advance(60_000, [worker]);
      expect(worker.channel.assignments).toHaveLength(1);
    });

    it("retries an attempt the worker reports as timed out, whatever its retryable flag", async () => {
      const worker = register("w1", ["slow"]);
      const id = await submit("slow", { maxRetries: 1 });
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_TIMED_OUT, { retryable: false });
      await settle();
      expect(await task(id)).toMatchObject({ state: "retrying", error: "the attempt timed out" });
    });
  });

  describe(`Scheduler failure detection (${backend} store)`, () => {
    it("presumes a silent worker dead after workerTimeoutMs and retries its attempt on another worker, refusing the dead worker's late result", async () => {
      const silent = register("silent", ["job"]);
      const id = await submit("job");
      await until(() => silent.channel.assignments.length === 1, "attempt 1");
      const live = register("live", ["job"]);
      await settle();
      expect(live.channel.assignments).toEqual([]);

      // The lease runs out leaseMs after the silent worker's last message.
      await advance(options.leaseMs - HEARTBEAT_MS, [live]);
      expect(silent.channel.closes).toEqual([]);
      expect(await task(id)).toMatchObject({ state: "running", attempt: 1, workerId: "silent" });

      await advance(HEARTBEAT_MS, [live]);
      const deadAt = T0 + options.leaseMs;
      const retrying = await task(id);
      expect(retrying).toMatchObject({ state: "retrying", attempt: 1, nextAttemptAt: deadAt + backoffOf(1) });
      expect(retrying.error).toMatch(/stopped renewing its lease/);

      // Silent for longer than workerTimeoutMs: its stream is closed.
      await advance(HEARTBEAT_MS, [live]);
      expect(silent.channel.closes).toHaveLength(1);
      expect(silent.channel.closes[0]).toMatch(/presumed dead/);
      expect(live.channel.closes).toEqual([]);
      expect(scheduler.listWorkers().map((w) => w.workerId)).toEqual(["live"]);

      await advance(backoffOf(1) - 2 * HEARTBEAT_MS, [live]);
      expect(live.channel.assignments).toEqual([]);
      await advance(HEARTBEAT_MS, [live]);
      await until(() => live.channel.assignments.length === 1, "attempt 2 on the live worker");
      expect(lastAssignment(live)).toMatchObject({ taskId: id, attempt: 2 });
      expect(silent.channel.assignments).toHaveLength(1);

      report(live, lastAssignment(live), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "from live" });
      await settle();
      const succeeded = await task(id);
      expect(succeeded).toMatchObject({ state: "succeeded", attempt: 2, workerId: "live" });

      // The dead worker was only slow: its result for attempt 1 arrives late and must not count.
      report(silent, silent.channel.assignments[0] as TaskAssignment, AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "from silent" });
      report(silent, silent.channel.assignments[0] as TaskAssignment, AttemptOutcome.ATTEMPT_OUTCOME_FAILED, { error: "late", retryable: false });
      await settle();
      const after = await task(id);
      expect(after).toMatchObject({ state: "succeeded", attempt: 2, workerId: "live", error: null, lastSequence: succeeded.lastSequence });
      expect(Buffer.from(after.result ?? new Uint8Array()).toString()).toBe("from live");
      expect((await store.listEvents(id, 0)).at(-1)?.state).toBe("succeeded");
    });

    it("refuses a stale attempt's result that arrives while the next attempt runs on another worker, and records the next attempt's result", async () => {
      const silent = register("silent", ["job"]);
      const id = await submit("job", { maxRetries: 2 });
      await until(() => silent.channel.assignments.length === 1, "attempt 1");
      const live = register("live", ["job"]);
      // The lease runs out, then the backoff: attempt 2 starts on the live worker.
      await advance(options.leaseMs + backoffOf(1), [live]);
      await until(() => live.channel.assignments.length === 1, "attempt 2 on the live worker");
      expect(lastAssignment(live)).toMatchObject({ taskId: id, attempt: 2 });
      const running = await task(id);
      expect(running).toMatchObject({ state: "running", attempt: 2, workerId: "live" });

      // Attempt 1 was only slow. Its reports arrive while the task is running again, so only the
      // attempt number tells them apart from attempt 2's: neither may end the task.
      const stale = silent.channel.assignments[0] as TaskAssignment;
      report(silent, stale, AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "from attempt 1" });
      report(silent, stale, AttemptOutcome.ATTEMPT_OUTCOME_FAILED, { error: "late", retryable: false });
      const staleOutcomes = () => store.outcomes.filter((o) => o.taskId === id && o.attempt === 1);
      await until(() => staleOutcomes().length === 2, "the store's answers to attempt 1's reports");
      expect(Object.fromEntries(staleOutcomes().map((o) => [o.call, o.recorded]))).toEqual({ complete: false, fail: false });
      expect(await task(id)).toMatchObject({ state: "running", attempt: 2, workerId: "live", result: null, error: running.error, lastSequence: running.lastSequence });

      report(live, lastAssignment(live), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "from attempt 2" });
      await settle();
      const succeeded = await task(id);
      expect(succeeded).toMatchObject({ state: "succeeded", attempt: 2, workerId: "live" });
      expect(Buffer.from(succeeded.result ?? new Uint8Array()).toString()).toBe("from attempt 2");
      expect((await store.listEvents(id, 0)).map((e) => [e.state, e.attempt])).toEqual([
        ["queued", 0], ["running", 1], ["retrying", 1], ["running", 2], ["succeeded", 2],
      ]);
    });

    it("gives no new work to a worker silent for a lease (not yet presumed dead) until it speaks again", async () => {
      options = { ...options, workerTimeoutMs: 5000 };
      await openScheduler();
      const silent = register("silent", ["job"], 2);
      const id = await submit("job");
      await until(() => silent.channel.assignments.length === 1, "attempt 1");

      // Its lease runs out and the retry comes due while it is still registered with a free slot.
      await advance(options.leaseMs + backoffOf(1) + HEARTBEAT_MS);
      expect(scheduler.listWorkers().map((w) => w.workerId)).toEqual(["silent"]);
      expect(await task(id)).toMatchObject({ state: "queued", attempt: 1 });
      expect(silent.channel.assignments).toHaveLength(1);

      // Heard again, it is given the retry at once.
      heartbeat(silent);
      await until(() => silent.channel.assignments.length === 2, "attempt 2 once the worker speaks");
      expect(lastAssignment(silent)).toMatchObject({ taskId: id, attempt: 2 });
      expect(await task(id)).toMatchObject({ state: "running", attempt: 2, workerId: "silent" });
    });

    it("keeps renewing the lease of a live worker's attempt past leaseMs", async () => {
      const worker = register("w1", ["long"]);
      const id = await submit("long", { timeoutSecs: 60 });
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      await advance(options.leaseMs * 6, [worker]);
      expect(clock.now()).toBe(T0 + options.leaseMs * 6);
      expect(await task(id)).toMatchObject({ state: "running", attempt: 1, workerId: "w1" });
      expect(worker.channel.cancels).toEqual([]);
      expect(worker.channel.closes).toEqual([]);
      expect(await store.listEvents(id, 2)).toEqual([]);

      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "ok" });
      await settle();
      expect((await task(id)).state).toBe("succeeded");
    });

    it("fails an attempt its worker never reports once timeout + deadlineGraceMs pass, and tells the worker to stop it", async () => {
      const worker = register("w1", ["hung"]);
      const id = await submit("hung", { timeoutSecs: 1 });
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      const deadline = 1000 + options.deadlineGraceMs;

      await advance(deadline - HEARTBEAT_MS, [worker]);
      expect(await task(id)).toMatchObject({ state: "running", attempt: 1 });
      expect(worker.channel.cancels).toEqual([]);

      await advance(HEARTBEAT_MS, [worker]);
      expect(worker.channel.cancels).toEqual([{ taskId: id, attempt: 1, reason: "the attempt outlived its timeout" }]);
      expect(worker.channel.closes).toEqual([]);
      expect(await task(id)).toMatchObject({
        state: "retrying", attempt: 1, error: "the attempt outlived its timeout", nextAttemptAt: T0 + deadline + backoffOf(1),
      });

      // The worker stops the handler and says so; the report of the ended attempt changes nothing.
      const before = await task(id);
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED);
      await settle();
      expect((await task(id)).lastSequence).toBe(before.lastSequence);
      await advance(backoffOf(1), [worker]);
      await until(() => worker.channel.assignments.length === 2, "attempt 2");
      expect(lastAssignment(worker)).toMatchObject({ taskId: id, attempt: 2 });
    });
  });

  describe(`Scheduler cancel (${backend} store)`, () => {
    it("tells the worker to stop a running task, cancels it, and refuses the attempt's later result", async () => {
      const worker = register("w1", ["job"]);
      const [id, next] = await submitMany("job", 2);
      if (!id || !next) throw new Error("submit accepted too little");
      await until(() => worker.channel.assignments.length === 1, "attempt 1");

      const outcome = await scheduler.cancel(id, "changed my mind");
      expect(outcome).toMatchObject({ state: "cancelled", cancelled: true, interrupted: { taskId: id, attempt: 1, workerId: "w1" } });
      expect(worker.channel.cancels).toEqual([{ taskId: id, attempt: 1, reason: "the task was cancelled" }]);
      const cancelled = await task(id);
      expect(cancelled).toMatchObject({ state: "cancelled", error: "changed my mind", result: null });

      report(worker, worker.channel.assignments[0] as TaskAssignment, AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "too late" });
      await until(() => worker.channel.assignments.length === 2, "the next task in the freed slot");
      expect(lastAssignment(worker)).toMatchObject({ taskId: next, attempt: 1 });
      const after = await task(id);
      expect(after).toMatchObject({ state: "cancelled", result: null, lastSequence: cancelled.lastSequence });

      const again = await scheduler.cancel(id, "twice");
      expect(again).toMatchObject({ state: "cancelled", cancelled: false, interrupted: null });
      expect(worker.channel.cancels).toHaveLength(1);
    });

    it("cancels a queued task without telling any worker", async () => {
      const id = await submit("nobody-runs-this");
      const outcome = await scheduler.cancel(id, "");
      expect(outcome).toMatchObject({ state: "cancelled", cancelled: true, interrupted: null });
      const worker = register("w1", ["nobody-runs-this"]);
      await settle();
      expect(worker.channel.assignments).toEqual([]);
      expect(await task(id)).toMatchObject({ state: "cancelled", error: "cancelled by request" });
    });
  });

  describe(`Scheduler watch (${backend} store)`, () => {
    function watchInto(id: string, afterSequence: number, signal = new AbortController().signal) {
      const events: TaskEvent[] = [];
      const state = { done: false, error: undefined as unknown };
      const sink = { write: (event: TaskEvent) => events.push(event) > 0, drained: () => Promise.resolve() };
      const finished = scheduler.watch(id, afterSequence, sink, signal).then(
        () => (state.done = true),
        (error: unknown) => ((state.error = error), (state.done = true)),
      );
      return { events, state, finished };
    }

    it("replays recorded history, then streams live events in order without gaps, ending after the terminal one", async () => {
      const worker = register("w1", ["job"]);
      const id = await submit("job");
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      const attempt = lastAssignment(worker);
      progress(worker, attempt, 25, "a quarter");
      await settle();
      expect((await task(id)).lastSequence).toBe(3);

      const late = watchInto(id, 0);
      const later = watchInto(id, 2);
      await until(() => late.events.length === 3 && later.events.length === 1, "the replayed history");
      expect(late.events.map((e) => [e.sequence, e.state])).toEqual([[1, "queued"], [2, "running"], [3, "running"]]);
      expect(later.events.map((e) => e.sequence)).toEqual([3]);

      progress(worker, attempt, 60, "more");
      progress(worker, attempt, 90, "almost");
      await until(() => late.events.length === 5, "the live progress");
      expect(late.state.done).toBe(false);
      expect(later.state.done).toBe(false);

      report(worker, attempt, AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "r" });
      await until(() => late.state.done && later.state.done, "both watches to end");
      expect(late.state.error).toBeUndefined();
      expect(late.events.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(late.events.map((e) => e.percent)).toEqual([0, 0, 25, 60, 90, 100]);
      expect(late.events.at(-1)).toMatchObject({ state: "succeeded", attempt: 1, workerId: "w1" });
      expect(later.events.map((e) => e.sequence)).toEqual([3, 4, 5, 6]);
      expect(late.events).toEqual(await store.listEvents(id, 0));
      expect(scheduler.hub.subscriberCount()).toBe(0);
    });

    it("streams the running event live when a worker takes the task, before any later event", async () => {
      const id = await submit("job");
      const watch = watchInto(id, 0);
      await until(() => watch.events.length === 1, "the queued event");
      const worker = register("w1", ["job"]);
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      await settle();
      expect(watch.events.map((e) => [e.sequence, e.state, e.attempt, e.workerId])).toEqual([[1, "queued", 0, null], [2, "running", 1, "w1"]]);
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED);
      await until(() => watch.state.done, "the watch to end");
      expect(watch.events.map((e) => e.state)).toEqual(["queued", "running", "succeeded"]);
    });

    it("delivers an event committed during its history read once, not twice", async () => {
      const worker = register("w1", ["job"]);
      const id = await submit("job");
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      const history = heldOpen();
      store.historyGate = history.gate;
      const watch = watchInto(id, 0);
      await until(() => scheduler.hub.subscriberCount() === 1, "the subscription");

      progress(worker, lastAssignment(worker), 50, "half");
      // The progress commits while the history read is held (a loaded PostgreSQL may take more turns).
      for (let turns = 0; turns < 500 && (await task(id)).lastSequence < 3; turns++) await turn();
      expect((await task(id)).lastSequence).toBe(3);
      await settle();
      expect(watch.events).toEqual([]);

      store.historyGate = null;
      history.release();
      await until(() => watch.events.length >= 3, "the history");
      await settle();
      expect(watch.events.map((e) => e.sequence)).toEqual([1, 2, 3]);
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED);
      await until(() => watch.state.done, "the watch to end");
      expect(watch.events.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    });

    it("retries an attempt claimed for a worker that left before it was delivered", async () => {
      const leaving = register("leaving", ["job"]);
      await settle();
      // The submit's enqueue and the claim it kicks share one commit; the worker leaves before it.
      const submitted = scheduler.submit([{ name: "job", description: "", payload: Buffer.from("x"), idempotencyKey: "", traceContext: {} }]);
      scheduler.workerDisconnected(leaving.session, "disconnected");
      const [accepted] = await submitted;
      const id = accepted?.taskId ?? "";
      const watch = watchInto(id, 0);
      await until(() => watch.events.length >= 3, "the retrying event");
      await settle();
      expect(leaving.channel.assignments).toEqual([]);
      expect(await task(id)).toMatchObject({
        state: "retrying", attempt: 1, error: "the worker left before the assignment reached it", nextAttemptAt: T0 + backoffOf(1),
      });
      expect(watch.events.map((e) => [e.sequence, e.state])).toEqual([[1, "queued"], [2, "running"], [3, "retrying"]]);
    });

    it("fills a gap in live events from the store", async () => {
      const worker = register("w1", ["job"]);
      const id = await submit("job");
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      const watch = watchInto(id, 0);
      await until(() => watch.events.length === 2, "the recorded history");
      // Recorded without being published: the watcher only learns of it through the gap.
      await store.progress({ taskId: id, attempt: 1 }, 30, "unpublished", clock.now());
      progress(worker, lastAssignment(worker), 60, "published");
      await until(() => watch.events.length === 4, "the gap and the live event");
      expect(watch.events.map((e) => [e.sequence, e.message])).toEqual([[1, "queued"], [2, "attempt 1 started"], [3, "unpublished"], [4, "published"]]);
    });

    it("follows a task through retries and ends only at the terminal event", async () => {
      const worker = register("w1", ["job"]);
      const id = await submit("job", { maxRetries: 1 });
      const watch = watchInto(id, 0);
      await until(() => worker.channel.assignments.length === 1, "attempt 1");
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_FAILED, { error: "once" });
      await advance(backoffOf(1), [worker]);
      await until(() => worker.channel.assignments.length === 2, "attempt 2");
      expect(watch.state.done).toBe(false);
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED);
      await until(() => watch.state.done, "the watch to end");
      expect(watch.events.map((e) => [e.sequence, e.state, e.attempt])).toEqual([
        [1, "queued", 0], [2, "running", 1], [3, "retrying", 1], [4, "running", 2], [5, "succeeded", 2],
      ]);
      expect(watch.events[2]?.nextAttemptAt).toBe(T0 + backoffOf(1));
    });

    it("returns at once for a task that has already finished", async () => {
      const id = await submit("job");
      await scheduler.cancel(id, "stop");
      const full = watchInto(id, 0);
      await until(() => full.state.done, "the watch of a finished task to end", 20);
      expect(full.events.map((e) => e.state)).toEqual(["queued", "cancelled"]);

      const caughtUp = watchInto(id, 2);
      await until(() => caughtUp.state.done, "the caught-up watch to end", 20);
      expect(caughtUp.events).toEqual([]);
      expect(caughtUp.state.error).toBeUndefined();
      expect(scheduler.hub.subscriberCount()).toBe(0);
    });

    it("ends when its signal aborts, and rejects an unknown task", async () => {
      const id = await submit("job");
      const controller = new AbortController();
      const watch = watchInto(id, 0, controller.signal);
      await until(() => watch.events.length === 1, "the first event");
      await settle();
      expect(watch.state.done).toBe(false);
      controller.abort();
      await until(() => watch.state.done, "the aborted watch to end");
      expect(watch.state.error).toBeUndefined();

      const unknown = watchInto("00000000-0000-4000-8000-000000000000", 0);
      await until(() => unknown.state.done, "the unknown-task watch to end");
      expect(String(unknown.state.error)).toMatch(/does not exist/);
      expect(scheduler.hub.subscriberCount()).toBe(0);
    });
  });

  describe(`Scheduler acknowledgements (${backend} store)`, () => {
    it("answers SubmitTask, SubmitTasks and SubmitStream only once the store's commit of their tasks has completed", async () => {
      const service = schedulerGrpcService(scheduler, logger);
      const request = (name: string): SubmitTaskRequest => ({ name, description: "", payload: Buffer.from(name), idempotencyKey: "", traceContext: {} });
      const answered: Array<{ call: string; taskIds: string[] }> = [];
      const answer = (call: string) => (error: unknown, taskIds: string[] = []): void => {
        answered.push({ call, taskIds: error ? [`refused: ${String(error)}`] : taskIds });
      };
      const held = heldOpen();
      store.commitGate = held.gate;
      service.submitTask({ request: request("unary") } as ServerUnaryCall<SubmitTaskRequest, SubmitTaskResponse>, (error, response) => answer("SubmitTask")(error, [response?.taskId ?? ""]));
      service.submitTasks(
        { request: { tasks: [request("batch"), request("batch")] } } as ServerUnaryCall<SubmitTasksRequest, SubmitTasksResponse>,
        (error, response) => answer("SubmitTasks")(error, response?.tasks.map((t) => t.taskId)),
      );
      const stream = new FakeSubmitStream((message) => answer("SubmitStream")(message.error, message.accepted ? [message.accepted.taskId] : []));
      service.submitStream(stream as unknown as ServerDuplexStream<SubmitStreamRequest, SubmitStreamResponse>);
      stream.emit("data", { requestId: 1, task: request("stream"), more: [] });
      // The store has committed all four tasks; the Scheduler has not heard so yet, and says nothing.
      const committed = (): string[] => store.enqueues.filter((call) => call.committed).flatMap((call) => call.names).sort();
      await until(() => committed().length === 4, "the commits");
      expect(committed()).toEqual(["batch", "batch", "stream", "unary"]);
      await settle();
      expect(answered).toEqual([]);

      store.commitGate = null;
      held.release();
      await until(() => answered.length === 3, "the three answers");
      expect(answered.map((a) => a.call).sort()).toEqual(["SubmitStream", "SubmitTask", "SubmitTasks"]);
      const ids = answered.flatMap((a) => a.taskIds);
      expect(ids).toHaveLength(4);
      for (const id of ids) expect((await task(id)).state).toBe("queued");
    });
  });

  describe(`Scheduler maintenance (${backend} store)`, () => {
    it("deletes finished tasks and their events once the retention has passed, and nothing else", async () => {
      await scheduler.stop();
      await store.close();
      options = compileSchedulerOptions({ ...options, heartbeatIntervalMs: 1000, workerTimeoutMs: 5000, leaseMs: 5000, retentionMs: 60_000 });
      await openScheduler(T0);
      const worker = register("w1", ["job"], 2);
      const old = await submit("job");
      await until(() => worker.channel.assignments.length === 1, "the first task");
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "old" });
      await settle();
      expect((await task(old)).state).toBe("succeeded");
      const waiting = await submit("nobody-runs-this");
      const step = async (ms: number): Promise<void> => {
        for (let left = ms; left > 0; left -= 1000) {
          heartbeat(worker);
          clock.advance(1000);
          await settle();
        }
      };
      await step(30_000);
      const recent = await submit("job");
      await until(() => worker.channel.assignments.length === 2, "the second task");
      report(worker, lastAssignment(worker), AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "recent" });
      await settle();
      // Retention runs once a minute of sweeps; by T0 + 60 s the first task is 60 s old. A loaded
      // machine may fold some sweeps of the manual minute together (a sweep still running when the
      // next is due), so the clock moves on, a second at a time, until the deletion is seen: at most
      // 25 s more, which keeps the recent task (finished at T0 + 30 s) inside its retention.
      await step(30_000);
      const oldGone = async (): Promise<boolean> => (await store.listEvents(old, 0)).length === 0;
      for (let extra = 0; extra < 25_000 && !(await oldGone()); extra += 1000) await step(1000);
      await expect(scheduler.getTask(old)).rejects.toMatchObject({ code: Code.NotFound });
      expect(await store.listEvents(old, 0)).toEqual([]);
      expect((await task(recent)).state).toBe("succeeded");
      expect(await store.listEvents(recent, 0)).toHaveLength(3);
      expect((await task(waiting)).state).toBe("queued");
    });
  });

  describe(`Scheduler restart (${backend} store)`, () => {
    it("keeps queued tasks across a restart on the same file and dispatches them to a newly registered worker", async () => {
      const queued = await submitMany("resize", 3);
      const runner = register("runner", ["encode"]);
      const running = await submit("encode");
      await until(() => runner.channel.assignments.length === 1, "the encode attempt");
      await advance(HEARTBEAT_MS * 3, [runner]);
      await scheduler.stop();
      expect(scheduler.state).toBe("stopped");
      expect(runner.channel.closes).toHaveLength(1);
      await store.close();
      const stoppedAt = clock.now();

      await openScheduler(stoppedAt);
      for (const id of queued) expect(await task(id)).toMatchObject({ state: "queued", attempt: 0 });
      // The attempt running at shutdown keeps its lease, so its worker may reconnect and carry on.
      expect(await task(running)).toMatchObject({ state: "running", attempt: 1, workerId: "runner" });

      const resizer = register("resizer", ["resize"], 10);
      await until(() => resizer.channel.assignments.length === 3, "the queued tasks");
      await settle();
      expect(resizer.channel.assignments.map((a) => [a.taskId, a.attempt])).toEqual(queued.map((id) => [id, 1]));
      expect(clock.now()).toBe(stoppedAt);

      // The worker comes back still running the attempt: it is adopted and its result counts.
      const back = register("runner", ["encode"], 1, [{ taskId: running, attempt: 1 }]);
      await settle();
      expect(back.channel.cancels).toEqual([]);
      expect(scheduler.listWorkers().find((w) => w.workerId === "runner")?.running).toBe(1);
      await advance(options.leaseMs * 2, [resizer, back]);
      expect(await task(running)).toMatchObject({ state: "running", attempt: 1 });
      report(back, { taskId: running, attempt: 1 } as TaskAssignment, AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, { result: "adopted" });
      await settle();
      expect(await task(running)).toMatchObject({ state: "succeeded", attempt: 1 });
    });

    it("retries an attempt whose worker does not come back before the lease runs out, and cancels it if it comes back later", async () => {
      const runner = register("runner", ["encode"]);
      const running = await submit("encode");
      await until(() => runner.channel.assignments.length === 1, "the encode attempt");
      scheduler.workerDisconnected(runner.session, "stream broke");
      await advance(options.leaseMs, []);
      expect(await task(running)).toMatchObject({ state: "retrying", attempt: 1 });
      const late = register("runner", ["encode"], 1, [{ taskId: running, attempt: 1 }]);
      await until(() => late.channel.cancels.length === 1, "the cancel of the stale attempt");
      expect(late.channel.cancels[0]).toMatchObject({ taskId: running, attempt: 1 });
    });

    it("keeps sweeping while the store refuses writes (a full disk), so a lease still runs out once it accepts them again", async () => {
      const runner = register("runner", ["encode"]);
      const running = await submit("encode");
      await until(() => runner.channel.assignments.length === 1, "the encode attempt");
      scheduler.workerDisconnected(runner.session, "stream broke");
      store.refuseWrites = true;
      await advance(options.leaseMs * 2, []);
      expect(await task(running)).toMatchObject({ state: "running", attempt: 1 });
      store.refuseWrites = false;
      await advance(HEARTBEAT_MS, []);
      expect(await task(running)).toMatchObject({ state: "retrying", attempt: 1 });
    });

    it("refuses new work once stopped", async () => {
      await scheduler.stop();
      await expect(submit("job")).rejects.toThrow(/shutting down/);
      expect(() => register("w1", ["job"])).toThrow(/shutting down/);
    });
  });
}
