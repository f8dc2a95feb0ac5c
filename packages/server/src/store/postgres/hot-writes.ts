// The store's most frequent writes, merged across the calls of one commit batch (see
// MergeableWrite): completions and plain submits. Both can go out in one round trip.
import type { AttemptRef, NewTask, TaskEvent } from "../store.js";
import { encodeTraceContext, firstEvent } from "../store.js";
import { freedKeySlot } from "../signals.js";
import type { MergeableWrite, Transaction } from "./group-commit.js";
import { nullableString, record } from "./rows.js";
import { completeInOneTripSql, completeSql } from "./sql/complete.js";
import { enqueueInOneTripSql, enqueueSql } from "./sql/enqueue.js";

/** Where a one-trip write sends the hint of work it frees: the LISTEN/NOTIFY channel and this store's id in hints. */
export interface HintTarget {
  channel: string;
  from: string;
  maxPayloadBytes: number;
}

export interface Completion {
  ref: AttemptRef;
  result: Uint8Array;
  now: number;
}

/**
 * The completions of one batch in one statement. An attempt named twice is completed by the first
 * call only (as two calls in a row would do: the second finds it no longer running). One-trip
 * batches exist only with a hint target (hints on LISTEN/NOTIFY).
 */
export function completions(hint: HintTarget | null): MergeableWrite<Completion, TaskEvent | null> {
  return {
    oneTrip: () => true,
    runMany: async (tx, calls) => {
      const firstCall = new Map<string, Completion>();
      for (const call of calls) {
        const key = `${call.ref.attempt}:${call.ref.taskId}`;
        if (!firstCall.has(key)) firstCall.set(key, call);
      }
      const unique = [...firstCall.values()];
      const values = [
        unique.map((call) => call.ref.taskId), unique.map((call) => call.ref.attempt),
        unique.map((call) => Buffer.from(call.result)), unique.map((call) => call.now + tx.skewMs),
      ];
      const { rows } = tx.oneTrip && hint
        ? await tx.query(completeInOneTripSql, [...values, hint.channel, hint.from, hint.maxPayloadBytes])
        : await tx.query(completeSql, values);
      const completed = new Map(rows.map((row) => [`${Number(row.attempt)}:${String(row.id)}`, row]));
      // In one trip the statement has sent the hint for freed keys; here they wake this Scheduler.
      for (const row of rows) freedKeySlot(tx.log, row);
      return calls.map((call) => {
        const key = `${call.ref.attempt}:${call.ref.taskId}`;
        const row = completed.get(key);
        if (!row || firstCall.get(key) !== call) return null;
        return record(tx, {
          taskId: call.ref.taskId, sequence: Number(row.last_sequence), state: "succeeded", attempt: call.ref.attempt,
          percent: 100, message: "succeeded", timestamp: call.now, workerId: nullableString(row.worker_id), result: call.result,
        });
      });
    },
  };
}

/**
 * New tasks (of one or several calls) in one statement, in order; `now` is each task's call's
 * (caller's clock). Sent before it returns; in one trip the statement stores their first events.
 */
export function insertTasks(tx: Transaction, tasks: readonly NewTask[], now: readonly number[]): Promise<unknown> {
  if (tasks.length === 0) return Promise.resolve();
  return tx.query(tx.oneTrip ? enqueueInOneTripSql : enqueueSql, [
    tasks.map((t) => t.id), tasks.map((t) => t.name), tasks.map((t) => t.description), tasks.map((t) => Buffer.from(t.payload)),
    tasks.map((t) => t.maxRetries), tasks.map((t) => t.timeoutMs), tasks.map((t) => t.retryBackoffMs), now.map((at) => at + tx.skewMs),
    tasks.map((t) => t.priority), tasks.map((t) => (t.runAt === null ? null : t.runAt + tx.skewMs)),
    tasks.map((t, index) => firstEvent(t, now[index] ?? 0).state),
    tasks.map((t) => t.scheduleId ?? null), tasks.map((t) => t.scheduleTickMs ?? null),
    tasks.map((t) => t.concurrencyKey ?? null), tasks.map((t) => t.concurrencyLimit ?? null),
    tasks.some((t) => t.traceContext) ? tasks.map((t) => encodeTraceContext(t.traceContext)) : null,
  ]);
}

export function recordEnqueued(tx: Transaction, task: NewTask, now: number): TaskEvent {
  const event = firstEvent(task, now);
  tx.log.record(event, tx.oneTrip);
  if (event.state === "queued") tx.log.workAvailable(task.name);
  return event;
}
