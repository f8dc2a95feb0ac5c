import { CommitLog } from "../signals.js";
import type { SqliteDatabase } from "./driver.js";

interface PendingWrite {
  operation: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Group commit: every write asked for during one turn of the event loop runs in one transaction,
 * so a burst of N writes costs one commit (one fsync with synchronous=FULL) instead of N. Each write
 * that throws is rolled back alone (the batch is then replayed with a savepoint per write); no
 * promise resolves before the transaction holding its write has committed.
 *
 * Writes record their events and the task names they made claimable in `log`; once the batch has
 * committed, `committed` gets what the committed writes recorded (a failed write's part is
 * dropped), before any write's promise resolves.
 */
export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly runBatch: (batch: PendingWrite[]) => Array<{ ok: boolean; value: unknown }>;

  private readonly runFast: (batch: PendingWrite[]) => Array<{ ok: boolean; value: unknown }>;

  constructor(
    private readonly db: SqliteDatabase,
    /** Turns what a failed write threw into what its caller gets (e.g. a full disk into RESOURCE_EXHAUSTED). */
    private readonly errorFrom: (error: unknown) => unknown = (error) => error,
    readonly log: CommitLog = new CommitLog(),
    /** `durationMs`: from the batch's first statement to its COMMIT (for the metrics). */
    private readonly committed: (recorded: ReturnType<CommitLog["take"]>, durationMs: number) => void = () => {},
  ) {
    const inSavepoint = db.transaction((operation: () => unknown) => operation());
    this.runBatch = db.transaction((batch: PendingWrite[]) =>
      batch.map((write) => {
        const mark = this.log.mark();
        try {
          return { ok: true, value: inSavepoint(write.operation) };
        } catch (error) {
          this.log.rollbackTo(mark);
          // Some errors (SQLITE_FULL, SQLITE_IOERR) roll back the whole transaction, not just the
          // savepoint: the writes after it would then run, and commit, each on its own. Fail the batch.
          if (!db.inTransaction) throw error;
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
    this.log.clear();
    const startedAt = performance.now();
    try {
      outcomes = this.runFast(batch);
    } catch {
      this.log.clear();
      // Some write threw and the whole transaction rolled back: run the batch again with a
      // savepoint around each write, so only the failing ones fail. Writes are pure functions of
      // their inputs, so running them again is safe.
      try {
        outcomes = this.runBatch(batch);
      } catch (error) {
        this.log.clear();
        const reason = this.errorFrom(error);
        for (const write of batch) write.reject(reason);
        return;
      }
    }
    this.committed(this.log.take(), performance.now() - startedAt);
    outcomes.forEach((outcome, index) => {
      const write = batch[index];
      if (!write) return;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(this.errorFrom(outcome.value));
    });
  }
}
