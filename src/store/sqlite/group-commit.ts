import type { Database } from "better-sqlite3";
import { Code } from "../../errors/code.js";
import { OrchestratorError } from "../../errors/orchestrator-error.js";

interface PendingWrite {
  operation: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Group commit: every write asked for during one turn of the event loop runs in one transaction,
 * so a burst of N writes costs one commit (one fsync with synchronous=FULL) instead of N. Each write
 * that throws is rolled back alone (the batch is then replayed with a savepoint per write); no
 * promise resolves before the transaction holding its write has committed, and, when `afterCommit`
 * is given (synchronous=full), before that commit is on disk.
 */
export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly runBatch: (batch: PendingWrite[]) => Array<{ ok: boolean; value: unknown }>;

  private readonly runFast: (batch: PendingWrite[]) => Array<{ ok: boolean; value: unknown }>;

  private syncsInFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly db: Database,
    private readonly afterCommit?: (done: (error: Error | null) => void) => void,
  ) {
    const inSavepoint = db.transaction((operation: () => unknown) => operation());
    this.runBatch = db.transaction((batch: PendingWrite[]) =>
      batch.map((write) => {
        try {
          return { ok: true, value: inSavepoint(write.operation) };
        } catch (error) {
          return { ok: false, value: error };
        }
      }),
    );
    // The common case, where no write throws, pays for no savepoints.
    this.runFast = db.transaction((batch: PendingWrite[]) => batch.map((write) => ({ ok: true, value: write.operation() })));
  }

  run<T>(operation: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ operation, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits whatever is pending now; used before close. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let outcomes: Array<{ ok: boolean; value: unknown }>;
    try {
      outcomes = this.runFast(batch);
    } catch {
      // Some write threw and the whole transaction rolled back: run the batch again with a
      // savepoint around each write, so only the failing ones fail. Writes are pure functions of
      // their inputs, so running them again is safe.
      try {
        outcomes = this.runBatch(batch);
      } catch (error) {
        for (const write of batch) write.reject(error);
        return;
      }
    }
    const afterCommit = this.afterCommit;
    if (!afterCommit) {
      settle(batch, outcomes);
      return;
    }
    this.syncsInFlight += 1;
    afterCommit((error) => {
      this.syncsInFlight -= 1;
      if (error) {
        // The rows are committed but may not survive a power loss: the caller must not report them
        // as accepted. A client that retries with its idempotency key gets the same task back.
        const failure = new OrchestratorError(Code.Unavailable, `the store could not sync its write-ahead log to disk: ${error.message}`, { cause: error });
        for (const write of batch) write.reject(failure);
      } else {
        settle(batch, outcomes);
      }
      if (this.syncsInFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  /** Commits whatever is pending and resolves once every commit is durable; used before close. */
  async settleAll(): Promise<void> {
    this.flush();
    if (this.syncsInFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}

function settle(batch: readonly PendingWrite[], outcomes: ReadonlyArray<{ ok: boolean; value: unknown }>): void {
  outcomes.forEach((outcome, index) => {
    const write = batch[index];
    if (!write) return;
    if (outcome.ok) write.resolve(outcome.value);
    else write.reject(outcome.value);
  });
}
