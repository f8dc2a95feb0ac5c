// The operator actions on the PostgreSQL store (TaskStore.retry and the bulk batches): functions
// run inside the store's group commit, on its transaction. A batch locks its tasks as it reads them
// (actionBatchSql), so what it read and what it then writes see one version of each task.
import type { ActionBatch, ActionBatchOutcome, CancelBatchOutcome, CancelOutcome, RetryOutcome, TaskEvent, TaskState } from "../store.js";
import { cancellableStates, deletableStates, narrowStates, retryableStates, retryMessage } from "../store.js";
import { freedKeySlot } from "../signals.js";
import type { Transaction } from "./group-commit.js";
import { nullableString, record, toState, type Row } from "./rows.js";
import { actionBatchSql, deleteBatchSql, lastSeqSql } from "./sql/actions.js";
import { cancelManySql, lockTaskSql } from "./sql/cancel.js";
import { retryManySql, retrySql } from "./sql/retry.js";
import { selectionValues } from "./sql/selection.js";

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

/**
 * The outcome of cancelling a task read (and locked) as `before`, from the cancel statement's `row`:
 * its event names the worker of a running attempt, so the Scheduler that holds it tells the worker.
 */
export function recordCancelled(tx: Transaction, taskId: string, before: Row, row: Row, reason: string, now: number): CancelOutcome {
  const state = toState(before.state);
  const workerId = nullableString(before.worker_id);
  if (state === "running") freedKeySlot(tx.log, before);
  const event = record(tx, {
    taskId, sequence: Number(row.last_sequence), state: "cancelled", attempt: Number(row.attempt),
    percent: Number(row.percent), message: "cancelled", timestamp: now, workerId, error: reason,
  });
  const interrupted = state === "running" && workerId ? { taskId, attempt: Number(row.attempt), workerId } : null;
  return { state: "cancelled", name: String(before.name), cancelled: true, event, interrupted };
}

/** The batch's tasks (locked), narrowed to the action's states, and where the next batch starts. */
async function readBatch(tx: Transaction, batch: ActionBatch, applicable: readonly TaskState[]): Promise<{ rows: Row[]; next: number | null }> {
  const selection = narrowStates(batch.selection, applicable);
  const { rows } = await tx.query(actionBatchSql, [...selectionValues(selection, tx.skewMs), batch.after, batch.limit, batch.after + batch.span]);
  const found = rows.at(-1);
  if (rows.length >= batch.limit && found) return { rows, next: Number(found.seq) };
  const { rows: [end] } = await tx.query(lastSeqSql);
  return { rows, next: nextAfterSpan(batch, end?.last) };
}

/** Where a batch that found fewer than its limit leaves off: the end of its span while tasks lie beyond it, else nowhere. */
function nextAfterSpan(batch: ActionBatch, last: unknown): number | null {
  const upTo = batch.after + batch.span;
  return last !== null && last !== undefined && Number(last) > upTo ? upTo : null;
}

export async function retryBatch(tx: Transaction, context: PostgresActionContext, batch: ActionBatch, reason: string, now: number): Promise<ActionBatchOutcome> {
  const { rows, next } = await readBatch(tx, batch, retryableStates);
  if (rows.length === 0) return { changed: 0, next };
  const { rows: retried } = await tx.query(retryManySql, [rows.map((row) => row.seq)]);
  // In store order, so each task's events and the feed read alike.
  const bySeqOrder = new Map(rows.map((row, index) => [String(row.id), index]));
  retried.sort((a, b) => (bySeqOrder.get(String(a.id)) ?? 0) - (bySeqOrder.get(String(b.id)) ?? 0));
  for (const row of retried) recordRetried(tx, context, String(row.id), row, reason, now);
  return { changed: retried.length, next };
}

export async function cancelBatch(tx: Transaction, batch: ActionBatch, reason: string, now: number): Promise<CancelBatchOutcome> {
  const { rows, next } = await readBatch(tx, batch, cancellableStates);
  if (rows.length === 0) return { changed: 0, next, names: [] };
  const { rows: cancelled } = await tx.query(cancelManySql, [rows.map((row) => row.seq), reason, now + tx.skewMs]);
  const after = new Map(cancelled.map((row) => [String(row.id), row]));
  const names: string[] = [];
  for (const before of rows) {
    const row = after.get(String(before.id));
    if (!row) continue;
    recordCancelled(tx, String(before.id), before, row, reason, now);
    names.push(String(before.name));
  }
  return { changed: names.length, next, names };
}

export async function deleteBatch(tx: Transaction, batch: ActionBatch): Promise<ActionBatchOutcome> {
  const selection = narrowStates(batch.selection, deletableStates);
  const { rows: [row] } = await tx.query(deleteBatchSql, [...selectionValues(selection, tx.skewMs), batch.after, batch.limit, batch.after + batch.span]);
  const changed = Number(row?.deleted ?? 0);
  if (Number(row?.matched ?? 0) >= batch.limit && row?.found !== null && row?.found !== undefined) return { changed, next: Number(row.found) };
  return { changed, next: nextAfterSpan(batch, row?.last) };
}
