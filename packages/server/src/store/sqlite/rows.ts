// How the store's rows become the caller's records.
import type { ConcurrencyLimit, PausedName, RateLimit, TaskEvent, TaskRecord, TaskState } from "../store.js";
import { taskStates } from "../store.js";
import type { RateGateRow } from "../rate-gate.js";

export type Row = Record<string, unknown>;

export function nullableString(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

export function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

export function toState(value: unknown): TaskState {
  const state = String(value) as TaskState;
  if (!taskStates.includes(state)) throw new Error(`unknown task state in store: ${String(value)}`);
  return state;
}

export function toTask(row: Row): TaskRecord {
  return {
    id: String(row.id), name: String(row.name), description: String(row.description), payload: row.payload as Uint8Array,
    state: toState(row.state), attempt: Number(row.attempt), maxRetries: Number(row.max_retries),
    timeoutMs: Number(row.timeout_ms), retryBackoffMs: Number(row.retry_backoff_ms),
    result: (row.result as Uint8Array | null) ?? null, error: nullableString(row.error), percent: Number(row.percent),
    message: String(row.message), workerId: nullableString(row.worker_id), createdAt: Number(row.created_at),
    startedAt: nullableNumber(row.started_at), finishedAt: nullableNumber(row.finished_at),
    nextAttemptAt: nullableNumber(row.next_attempt_at), lastSequence: Number(row.last_sequence),
    priority: Number(row.priority ?? 0), runAt: nullableNumber(row.run_at),
    scheduleId: nullableString(row.schedule_id), scheduleTickMs: nullableNumber(row.schedule_tick_ms),
    concurrencyKey: nullableString(row.concurrency_key), concurrencyLimit: nullableNumber(row.concurrency_limit),
  };
}

export function toRateGate(row: Row | undefined): RateGateRow | null {
  if (!row) return null;
  return {
    maxStarts: nullableNumber(row.max_starts), perMs: nullableNumber(row.per_ms), perKey: Number(row.per_key) === 1,
    windowStart: Number(row.window_start),
    used: Number(row.used), throttledUntil: nullableNumber(row.throttled_until),
  };
}

export function toRateLimit(row: Row): RateLimit {
  return {
    name: String(row.name), maxStarts: Number(row.max_starts), perMs: Number(row.per_ms), perKey: Number(row.per_key) === 1,
    updatedAt: Number(row.updated_at),
  };
}

export function toConcurrencyLimit(row: Row): ConcurrencyLimit {
  return { name: String(row.name), maxRunning: Number(row.max_running), updatedAt: Number(row.updated_at) };
}

export function toPausedName(row: Row): PausedName {
  return { name: String(row.name), reason: String(row.reason), pausedAt: Number(row.paused_at) };
}

export function toEvent(row: Row): TaskEvent {
  return {
    taskId: String(row.task_id), sequence: Number(row.sequence), state: toState(row.state), attempt: Number(row.attempt),
    percent: Number(row.percent), message: String(row.message), timestamp: Number(row.timestamp),
    workerId: nullableString(row.worker_id), result: (row.result as Uint8Array | null) ?? null,
    error: nullableString(row.error), nextAttemptAt: nullableNumber(row.next_attempt_at),
  };
}
