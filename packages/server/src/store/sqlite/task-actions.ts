// The operator actions on the SQLite store (TaskStore.retry and the bulk batches): functions over
// the store's statements and commit log, run inside its group commit. The file has one writer, so
// what a batch reads and what it then writes see one version of each task.
import type { ActionBatch, ActionBatchOutcome, CancelBatchOutcome, CancelOutcome, RetryOutcome, TaskEvent } from "../store.js";
import { cancellableStates, deletableStates, isTerminal, narrowStates, retryableStates, retryMessage } from "../store.js";
import { freedKeySlot, type CommitLog } from "../signals.js";
import type { SqliteStatement } from "./driver.js";
import { nullableString, toState, type Row } from "./rows.js";
import { actionBatchSql, lastSeqSql } from "./sql/actions.js";
import { cancelSql } from "./sql/cancel.js";
import { deleteTaskEventsSql, deleteTaskKeysSql, deleteTaskSql } from "./sql/retention.js";
import { retrySql, taskStateSql } from "./sql/retry.js";
import { selectionParameters, selectionShape } from "./sql/selection.js";

/** What the actions need of the store: its cached statements, its commit log, and how it records an event. */
export interface SqliteActionContext {
  sql(text: string): SqliteStatement;
  readonly log: CommitLog;
  recordEvent(event: Omit<TaskEvent, "workerId" | "result" | "error" | "nextAttemptAt"> & Partial<TaskEvent>): TaskEvent;
}

/** TaskStore.retry, inside a write. */
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

/**
 * TaskStore.cancel of a task read as `before` (its state, worker, name and key), inside a write;
 * the single cancel and a bulk cancel's batch both go through here.
 */
export function cancelRead(context: SqliteActionContext, taskId: string, before: Row, reason: string, now: number): CancelOutcome {
  const state = toState(before.state);
  if (isTerminal(state)) return { state, name: String(before.name), cancelled: false, event: null, interrupted: null };
  const row = context.sql(cancelSql).get({ taskId, reason, now }) as Row;
  const workerId = nullableString(before.worker_id);
  if (state === "running") freedKeySlot(context.log, before);
  const event = context.recordEvent({
    taskId, sequence: Number(row.last_sequence), state: "cancelled", attempt: Number(row.attempt),
    percent: Number(row.percent), message: "cancelled", timestamp: now, workerId, error: reason,
  });
  const interrupted = state === "running" && workerId ? { taskId, attempt: Number(row.attempt), workerId } : null;
  return { state: "cancelled", name: String(before.name), cancelled: true, event, interrupted };
}

/** The batch's tasks, narrowed to the action's states, and where the next batch starts. */
function readBatch(context: SqliteActionContext, batch: ActionBatch, applicable: Parameters<typeof narrowStates>[1]): { rows: Row[]; next: number | null } {
  const selection = narrowStates(batch.selection, applicable);
  const upTo = batch.after + batch.span;
  const rows = context.sql(actionBatchSql(selectionShape(selection))).all({ ...selectionParameters(selection), after: batch.after, upTo, limit: batch.limit }) as Row[];
  const found = rows.at(-1);
  if (rows.length >= batch.limit && found) return { rows, next: Number(found.seq) };
  const last = (context.sql(lastSeqSql).get() as Row | undefined)?.last;
  return { rows, next: last !== null && last !== undefined && Number(last) > upTo ? upTo : null };
}

export function retryBatch(context: SqliteActionContext, batch: ActionBatch, reason: string, now: number): ActionBatchOutcome {
  const { rows, next } = readBatch(context, batch, retryableStates);
  let changed = 0;
  for (const before of rows) {
    const taskId = String(before.id);
    const row = context.sql(retrySql).get({ taskId }) as Row | undefined;
    if (!row) continue;
    recordRetried(context, taskId, row, reason, now);
    changed++;
  }
  return { changed, next };
}

export function cancelBatch(context: SqliteActionContext, batch: ActionBatch, reason: string, now: number): CancelBatchOutcome {
  const { rows, next } = readBatch(context, batch, cancellableStates);
  const names: string[] = [];
  for (const before of rows) {
    if (cancelRead(context, String(before.id), before, reason, now).cancelled) names.push(String(before.name));
  }
  return { changed: names.length, next, names };
}

export function deleteBatch(context: SqliteActionContext, batch: ActionBatch): ActionBatchOutcome {
  const { rows, next } = readBatch(context, batch, deletableStates);
  for (const row of rows) {
    const id = String(row.id);
    context.sql(deleteTaskEventsSql).run(id);
    context.sql(deleteTaskKeysSql).run(id);
    context.sql(deleteTaskSql).run(id);
  }
  return { changed: rows.length, next };
}
