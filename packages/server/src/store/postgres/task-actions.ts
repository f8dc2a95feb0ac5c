// The operator actions on the PostgreSQL store (TaskStore.retry and the bulk batches): functions
// run inside the store's group commit, on its transaction.
import type { RetryOutcome, TaskEvent } from "../store.js";
import { retryMessage } from "../store.js";
import type { Transaction } from "./group-commit.js";
import { record, toState, type Row } from "./rows.js";
import { lockTaskSql } from "./sql/cancel.js";
import { retrySql } from "./sql/retry.js";

/** What the actions need of the store beyond the transaction. */
export interface PostgresActionContext {
  /** Tasks of these names may have become queued behind this process's claim cursors. */
  queuedAgain(names: readonly string[]): void;
}

/** TaskStore.retry: the row is locked first, so the state read and the update see one version of it. */
export async function retryTask(tx: Transaction, context: PostgresActionContext, taskId: string, reason: string, now: number): Promise<RetryOutcome | null> {
  const { rows: [before] } = await tx.query(lockTaskSql, [taskId]);
  if (!before) return null;
  const previousState = toState(before.state);
  const { rows: [row] } = await tx.query(retrySql, [taskId]);
  if (!row) return { retried: false, previousState, name: String(before.name), event: null };
  return { retried: true, previousState, name: String(row.name), event: recordRetried(tx, context, taskId, row, reason, now) };
}

function recordRetried(tx: Transaction, context: PostgresActionContext, taskId: string, row: Row, reason: string, now: number): TaskEvent {
  const attempt = Number(row.attempt);
  const name = String(row.name);
  // The task keeps its place (seq) in the queue, which may be behind a claim cursor; this commit's
  // hint wakes every Scheduler, as an enqueue's does.
  context.queuedAgain([name]);
  tx.log.workAvailable(name);
  return record(tx, { taskId, sequence: Number(row.last_sequence), state: "queued", attempt, percent: 0, message: retryMessage(attempt, reason), timestamp: now });
}
