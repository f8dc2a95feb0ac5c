// The operator actions on the SQLite store (TaskStore.retry and the bulk batches): functions over
// the store's statements and commit log, run inside its group commit.
import type { RetryOutcome, TaskEvent } from "../store.js";
import { retryMessage } from "../store.js";
import type { CommitLog } from "../signals.js";
import type { SqliteStatement } from "./driver.js";
import { toState, type Row } from "./rows.js";
import { retrySql, taskStateSql } from "./sql/retry.js";

/** What the actions need of the store: its cached statements, its commit log, and how it records an event. */
export interface SqliteActionContext {
  sql(text: string): SqliteStatement;
  readonly log: CommitLog;
  recordEvent(event: Omit<TaskEvent, "workerId" | "result" | "error" | "nextAttemptAt"> & Partial<TaskEvent>): TaskEvent;
}

/** TaskStore.retry, inside a write: the file has one writer, so the state read and the update see one version. */
export function retryTask(context: SqliteActionContext, taskId: string, reason: string, now: number): RetryOutcome | null {
  const before = context.sql(taskStateSql).get(taskId) as Row | undefined;
  if (!before) return null;
  const previousState = toState(before.state);
  const row = context.sql(retrySql).get({ taskId }) as Row | undefined;
  if (!row) return { retried: false, previousState, name: String(before.name), event: null };
  return { retried: true, previousState, name: String(row.name), event: recordRetried(context, taskId, row, reason, now) };
}

function recordRetried(context: SqliteActionContext, taskId: string, row: Row, reason: string, now: number): TaskEvent {
  const attempt = Number(row.attempt);
  // Queued again: the same signal an enqueue gives.
  context.log.workAvailable(String(row.name));
  return context.recordEvent({
    taskId, sequence: Number(row.last_sequence), state: "queued", attempt, percent: 0, message: retryMessage(attempt, reason), timestamp: now,
  });
}
