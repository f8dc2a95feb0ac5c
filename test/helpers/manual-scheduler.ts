// A Scheduler in the test process on a manual clock, with fake worker streams, on one store backend:
// what the scheduler tests of delays, pauses and schedules share. Tests wait turn by turn (a
// setImmediate on SQLite, 1 ms on PostgreSQL, whose answers come over a socket), never by time.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AssignTasks, AttemptOutcome } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { CancelAttempt, SubmitTaskRequest, TaskAssignment } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { createLogger } from "../../packages/client/src/logger.js";
import { compileSchedulerOptions, databasePath, type CompiledSchedulerOptions } from "../../packages/server/src/scheduler/options.js";
import { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import type { WorkerChannel, WorkerSession } from "../../packages/server/src/scheduler/worker-registry.js";
import { PostgresStore } from "../../packages/server/src/store/postgres/postgres-store.js";
import { SqliteStore } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import type { TaskStore } from "../../packages/server/src/store/store.js";
import type { ManualClock } from "../../packages/server/src/util/clock.js";
import { createTestStore, type StoreBackend, type TestStore } from "./stores.js";

export const silentLogger = createLogger({ level: "silent" });

/** A worker stream that keeps what the Scheduler sends it, and when (by the clock given). */
export class FakeChannel implements WorkerChannel {
  readonly assignments: TaskAssignment[] = [];
  /** The clock's time at each assignment, in order. */
  readonly assignedAt: number[] = [];

  constructor(private readonly clock: () => number = () => 0) {}

  sendAssignments(assign: AssignTasks): void {
    for (const task of AssignTasks.decode(AssignTasks.encode(assign).finish()).tasks) {
      this.assignments.push(task);
      this.assignedAt.push(this.clock());
    }
  }

  sendCancel(cancel: CancelAttempt): void {
    void cancel;
  }

  close(): void {}
}

/** One event-loop turn of the backend: what a write's answer needs to arrive. */
export function turnOf(backend: StoreBackend): () => Promise<void> {
  return () => new Promise((resolve) => (backend === "sqlite" ? setImmediate(resolve) : setTimeout(resolve, 1)));
}

/** Waits, turn by turn, until `condition` holds; fails naming `what` after `turns`. */
export function untilOf(backend: StoreBackend): (condition: () => boolean | Promise<boolean>, what: string, turns?: number) => Promise<void> {
  const turn = turnOf(backend);
  return async (condition, what, turns = 2000) => {
    for (let index = 0; index < turns; index++) {
      if (await condition()) return;
      await turn();
    }
    throw new Error(`gave up waiting for ${what}`);
  };
}

/** A store of the backend in a fresh directory (and a fresh PostgreSQL schema), migrated, on `clock`. */
export class ManualStore {
  readonly directory: string;
  private constructor(readonly store: TaskStore, private readonly testStore: TestStore, directory: string) {
    this.directory = directory;
  }

  static async open(backend: StoreBackend, clock: ManualClock, prefix: string): Promise<ManualStore> {
    const directory = mkdtempSync(join(tmpdir(), prefix));
    const testStore = await createTestStore(backend, directory);
    const store = backend === "sqlite"
      ? new SqliteStore({ path: databasePath(directory) })
      : new PostgresStore({ url: testStore.url, clock, pollIntervalMs: 60_000 });
    await store.migrate();
    return new ManualStore(store, testStore, directory);
  }

  async remove(): Promise<void> {
    await this.store.close();
    await this.testStore.remove();
    rmSync(this.directory, { recursive: true, force: true });
  }
}

/** Options whose sweep runs every `sweepMs` (rarely, so that the timers under test do the work). */
export function manualOptions(directory: string, sweepMs: number): CompiledSchedulerOptions {
  return compileSchedulerOptions({
    heartbeatIntervalMs: sweepMs, workerTimeoutMs: sweepMs * 4, leaseMs: sweepMs * 4, leaderTtlMs: sweepMs * 4,
    dataDir: directory, dispatchIdleMs: 0,
  });
}

export async function startScheduler(store: TaskStore, clock: ManualClock, options: CompiledSchedulerOptions): Promise<Scheduler> {
  const scheduler = new Scheduler(store, options, clock, silentLogger);
  await scheduler.start();
  return scheduler;
}

export const taskRequest = (name: string, extra: Partial<SubmitTaskRequest> = {}): SubmitTaskRequest =>
  ({ name, description: "", payload: Buffer.from(name), idempotencyKey: "", traceContext: {}, ...extra });

export async function submitOne(scheduler: Scheduler, name: string, extra: Partial<SubmitTaskRequest> = {}): Promise<string> {
  const [accepted] = await scheduler.submit([taskRequest(name, extra)]);
  if (!accepted) throw new Error("submit accepted nothing");
  return accepted.taskId;
}

export function registerFakeWorker(
  scheduler: Scheduler, id: string, taskNames: string[], slots: number, clock?: () => number,
): { channel: FakeChannel; session: WorkerSession } {
  const channel = new FakeChannel(clock);
  const session = scheduler.registerWorker({ kind: { $case: "register", register: { workerId: id, taskNames, slots, prefetch: 0, version: "test", running: [] } } }, channel);
  return { channel, session };
}

export function reportSuccess(scheduler: Scheduler, session: WorkerSession, attempt: TaskAssignment): void {
  scheduler.handleWorkerMessage(session, {
    kind: { $case: "results", results: { results: [{ taskId: attempt.taskId, attempt: attempt.attempt, outcome: AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, result: Buffer.from(""), error: "", retryable: false, retryAfterMs: 0 }] } },
  });
}
