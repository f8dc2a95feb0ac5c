// How the store's rows become the caller's records: times moved from the database's clock to the caller's.
import type { ConcurrencyLimit, NewTask, PausedName, RateLimit, TaskEvent, TaskRecord, TaskState } from "../store.js";
import { firstEvent, taskStates } from "../store.js";
import type { RateGateRow } from "../rate-gate.js";
import type { Transaction } from "./group-commit.js";

export type Row = Record<string, unknown>;

/** The first event of a stored task, for a repeat of its idempotent submit (as the SQLite store reads it back). */
export function storedFirstEvent(task: TaskRecord): TaskEvent {
  return firstEvent({ id: task.id, runAt: task.runAt }, task.createdAt);
}

/** A task of this call as the record it would become (to name what a reused key changed). */
export function asRecord(task: NewTask, now: number): TaskRecord {
  return {
    ...task, state: "queued", attempt: 0, result: null, error: null, percent: 0, message: "", workerId: null,
    createdAt: now, startedAt: null, finishedAt: null, nextAttemptAt: null, lastSequence: 1,
  };
}

export function nullableString(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

export function shifted(value: unknown, skewMs: number): number | null {
  return value === null || value === undefined ? null : Number(value) - skewMs;
}

export function toState(value: unknown): TaskState {
  const state = String(value) as TaskState;
  if (!taskStates.includes(state)) throw new Error(`unknown task state in store: ${String(value)}`);
  return state;
}

/** A tasks row as callers see it: times moved from the database's clock to theirs. */
export function toTask(row: Row, skewMs: number): TaskRecord {
  return {
    id: String(row.id), name: String(row.name), description: String(row.description), payload: row.payload as Uint8Array,
    state: toState(row.state), attempt: Number(row.attempt), maxRetries: Number(row.max_retries),
    timeoutMs: Number(row.timeout_ms), retryBackoffMs: Number(row.retry_backoff_ms),
    result: (row.result as Uint8Array | null) ?? null, error: nullableString(row.error), percent: Number(row.percent),
    message: String(row.message), workerId: nullableString(row.worker_id), createdAt: Number(row.created_at) - skewMs,
    startedAt: shifted(row.started_at, skewMs), finishedAt: shifted(row.finished_at, skewMs),
    nextAttemptAt: shifted(row.next_attempt_at, skewMs), lastSequence: Number(row.last_sequence),
    priority: Number(row.priority ?? 0), runAt: shifted(row.run_at, skewMs),
    // The tick is the cron's wall-clock time, stored unshifted.
    scheduleId: nullableString(row.schedule_id), scheduleTickMs: row.schedule_tick_ms === null || row.schedule_tick_ms === undefined ? null : Number(row.schedule_tick_ms),
    concurrencyKey: nullableString(row.concurrency_key),
    concurrencyLimit: row.concurrency_limit === null || row.concurrency_limit === undefined ? null : Number(row.concurrency_limit),
  };
}

export function toConcurrencyLimit(row: Row, skewMs: number): ConcurrencyLimit {
  return { name: String(row.name), maxRunning: Number(row.max_running), updatedAt: Number(row.updated_at) - skewMs };
}

export function toPausedName(row: Row, skewMs: number): PausedName {
  return { name: String(row.name), reason: String(row.reason), pausedAt: Number(row.paused_at) - skewMs };
}

export function toEvent(row: Row, skewMs: number): TaskEvent {
  return {
    taskId: String(row.task_id), sequence: Number(row.sequence), state: toState(row.state), attempt: Number(row.attempt),
    percent: Number(row.percent), message: String(row.message), timestamp: Number(row.timestamp) - skewMs,
    workerId: nullableString(row.worker_id), result: (row.result as Uint8Array | null) ?? null,
    error: nullableString(row.error), nextAttemptAt: shifted(row.next_attempt_at, skewMs),
  };
}

export function toRateLimit(row: Row, skewMs: number): RateLimit {
  return {
    name: String(row.name), maxStarts: Number(row.max_starts), perMs: Number(row.per_ms), perKey: row.per_key === true,
    updatedAt: Number(row.updated_at) - skewMs,
  };
}

/**
 * A name's gate row (its rate limit and throttle), null when it has none. Windows are counted on
 * the Schedulers' clocks (window_start is stored as such); the throttle, a task time, is stored on
 * the database's and moved to the caller's.
 */
export function toRateGate(row: Row | undefined, skewMs: number): RateGateRow | null {
  // The gate's outer join gives a row of NULLs for a name without one.
  if (!row || row.window_start === null || row.window_start === undefined) return null;
  return {
    maxStarts: row.max_starts === null || row.max_starts === undefined ? null : Number(row.max_starts),
    perMs: row.per_ms === null || row.per_ms === undefined ? null : Number(row.per_ms), perKey: row.per_key === true,
    windowStart: Number(row.window_start ?? 0), used: Number(row.used ?? 0),
    throttledUntil: row.throttled_until === null || row.throttled_until === undefined ? null : Number(row.throttled_until) - skewMs,
  };
}

/** Records an event in the transaction's commit log (published once it commits). */
export function record(tx: Transaction, event: Omit<TaskEvent, "workerId" | "result" | "error" | "nextAttemptAt"> & Partial<TaskEvent>): TaskEvent {
  const full: TaskEvent = { workerId: null, result: null, error: null, nextAttemptAt: null, ...event };
  tx.log.record(full, tx.oneTrip);
  return full;
}
