// Reads the Scheduler's SQLite file read-only: what the Scheduler itself recorded is the ground
// truth for drain rates and for "no task lost or duplicated".
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

export class StoreReader {
  private readonly db: SqliteDatabase;

  constructor(path: string) {
    this.db = openSqlite(path, { readonly: true, fileMustExist: true });
  }

  succeeded(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM tasks WHERE state = 'succeeded'").get() as { n: number }).n;
  }

  /**
   * Polls the count of succeeded rows (every `intervalMs`, at least 100 ms apart) until it reaches
   * `expected` or `timeoutMs` passes; returns the last count.
   */
  async waitForSucceeded(expected: number, timeoutMs: number, intervalMs = 100): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let count = this.succeeded();
    while (count < expected && Date.now() < deadline) {
      await sleep(Math.max(100, intervalMs));
      count = this.succeeded();
    }
    return count;
  }

  /** Each task's started_at (the Scheduler's clock when it claimed the current attempt, whole ms). */
  startedAt(): Map<string, number> {
    const rows = this.db.prepare("SELECT id, started_at AS startedAt FROM tasks WHERE started_at IS NOT NULL").all() as Array<{ id: string; startedAt: number }>;
    return new Map(rows.map((row) => [row.id, row.startedAt]));
  }

  facts(): StoreFacts {
    return this.db.prepare(`
      SELECT count(*) AS total,
             sum(state = 'succeeded') AS succeeded,
             sum(attempt <> 1) AS notFirstAttempt,
             min(created_at) AS minCreatedAt,
             min(started_at) AS minStartedAt,
             max(finished_at) AS maxFinishedAt
      FROM tasks`).get() as StoreFacts;
  }

  close(): void {
    this.db.close();
  }
}
