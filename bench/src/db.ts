// The ground truth of a run: what the Scheduler itself recorded in its store, read directly by the
// bench (the SQLite file read-only here, the PostgreSQL schema in postgres.ts): drain rates and
// "no task lost or duplicated" come from it.
import { openSqlite } from "orchestrator-ts/internal";
import type { SqliteDatabase } from "orchestrator-ts/internal";
import { sleep } from "./util.js";

export interface StoreFacts {
  total: number;
  succeeded: number;
  /** Rows whose attempt is not exactly 1 (a retry, or a task never started). */
  notFirstAttempt: number;
  minCreatedAt: number;
  minStartedAt: number;
  maxFinishedAt: number;
}

/** A read-only view of one deployment's `tasks`, whichever store holds them. */
export interface StoreView {
  /**
   * Polls the count of succeeded rows (every `intervalMs`, at least 100 ms apart) until it reaches
   * `expected` or `timeoutMs` passes; returns the last count.
   */
  waitForSucceeded(expected: number, timeoutMs: number, intervalMs?: number): Promise<number>;
  /** Each task's started_at (the store's clock when the current attempt was claimed, whole ms). */
  startedAt(): Promise<Map<string, number>>;
  /** Of each delayed task (run_at set): started_at - run_at, in ms. */
  startDelays(): Promise<number[]>;
  facts(): Promise<StoreFacts>;
  close(): Promise<void>;
}

export class SqliteStoreReader implements StoreView {
  private readonly db: SqliteDatabase;

  /** afterSeq: only tasks after it count (a preloaded history is not the run's). */
  constructor(path: string, private readonly afterSeq = 0) {
    this.db = openSqlite(path, { readonly: true, fileMustExist: true });
  }

  // "+state" keeps the planner off the state index (a million succeeded history rows) and on the
  // rowid range after afterSeq.
  private count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM tasks WHERE seq > ? AND +state = 'succeeded'").get(this.afterSeq) as { n: number }).n;
  }

  succeeded(): Promise<number> {
    return Promise.resolve(this.count());
  }

  async waitForSucceeded(expected: number, timeoutMs: number, intervalMs = 100): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let count = this.count();
    while (count < expected && Date.now() < deadline) {
      await sleep(Math.max(100, intervalMs));
      count = this.count();
    }
    return count;
  }

  startedAt(): Promise<Map<string, number>> {
    const rows = this.db.prepare("SELECT id, started_at AS startedAt FROM tasks WHERE seq > ? AND started_at IS NOT NULL").all(this.afterSeq) as Array<{ id: string; startedAt: number }>;
    return Promise.resolve(new Map(rows.map((row) => [row.id, row.startedAt])));
  }

  startDelays(): Promise<number[]> {
    const rows = this.db.prepare("SELECT started_at - run_at AS delay FROM tasks WHERE seq > ? AND run_at IS NOT NULL AND started_at IS NOT NULL").all(this.afterSeq) as Array<{ delay: number }>;
    return Promise.resolve(rows.map((row) => row.delay));
  }

  facts(): Promise<StoreFacts> {
    return Promise.resolve(this.db.prepare(`
      SELECT count(*) AS total,
             sum(state = 'succeeded') AS succeeded,
             sum(attempt <> 1) AS notFirstAttempt,
             min(created_at) AS minCreatedAt,
             min(started_at) AS minStartedAt,
             max(finished_at) AS maxFinishedAt
      FROM tasks WHERE seq > ?`).get(this.afterSeq) as StoreFacts);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
