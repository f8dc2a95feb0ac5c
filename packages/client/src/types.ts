// The SDK's own types: string states, Dates and nulls for what is unset. The generated wire types
// stay behind them (each value keeps its wire message as `raw`, for the rare field not mapped here).
import type { ConcurrencyLimit, PausedQueue, ProgressUpdate, Task, WorkerInfo } from "./protocol/generated/orchestrator/v1/orchestrator.js";
import { stateFromProto, type TaskState } from "./protocol/states.js";

export type { TaskState };

/** One recorded update of a task, as `subscribe` yields it. */
export interface TaskUpdate {
  taskId: string;
  /** 1, 2, 3, ... per task; `subscribe(id, { afterSequence })` resumes after one. */
  sequence: number;
  state: TaskState;
  attempt: number;
  percent: number;
  message: string;
  timestamp: Date;
  workerId: string | null;
  /** The handler's return value, on the terminal `succeeded` update. */
  result: Buffer | null;
  error: string | null;
  /** When the next attempt may start, while `retrying`; when the task comes due, while `scheduled`. */
  nextAttemptAt: Date | null;
  raw: ProgressUpdate;
}

/** A task as `get` returns it (`list` leaves out payload and result). */
export interface TaskInfo {
  taskId: string;
  name: string;
  description: string;
  payload: Buffer;
  state: TaskState;
  attempt: number;
  maxRetries: number;
  timeoutSecs: number;
  retryBackoffMs: number;
  result: Buffer | null;
  error: string | null;
  percent: number;
  message: string;
  workerId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** When the next attempt may start, while `retrying`; when the task comes due, while `scheduled`. */
  nextAttemptAt: Date | null;
  lastSequence: number;
  /** -100..100; higher starts first. */
  priority: number;
  /** When the task was to start first (runAt, or accept time + delayMs); null when submitted without one. */
  runAt: Date | null;
  /** The schedule that fired the task, and the tick it fired for; null for a submitted task. */
  scheduleId: string | null;
  scheduleTick: Date | null;
  /** The concurrency key the task was submitted with; null without one. */
  concurrencyKey: string | null;
  /** The task's own bound for its key (overriding the name's); null for the name's bound, or without a key. */
  concurrencyLimit: number | null;
  raw: Task;
}

export interface TaskPage {
  tasks: TaskInfo[];
  /** Pass to `list({ pageToken })` for the next page; undefined on the last one. */
  nextPageToken: string | undefined;
}

export interface WorkerSummary {
  workerId: string;
  taskNames: string[];
  slots: number;
  /** Attempts assigned to the worker and not ended, the held ones included. */
  running: number;
  /** Claim-ahead: how many tasks the worker may hold beyond its slots (0: off). */
  prefetch: number;
  /** Of `running`, those held beyond the slots, not started yet. */
  held: number;
  draining: boolean;
  connectedAt: Date;
  lastSeenAt: Date;
  raw: WorkerInfo;
}

/** A paused queue (task name): its tasks are accepted and stored, but none starts until it is resumed. */
export interface PausedQueueInfo {
  name: string;
  /** Why, as given to pauseQueue; "" when none was given. */
  reason: string;
  /** When it was paused (a repeated pause keeps the first time). */
  pausedAt: Date;
  raw: PausedQueue;
}

/** What pauseQueue answers: the pause as stored, and whether the name was paused already. */
export interface PauseQueueResult {
  queue: PausedQueueInfo;
  /** True when the name was paused already (its first pause, reason and time, is kept). */
  wasPaused: boolean;
}

/** What resumeQueue answers: whether the name was paused, and the pause it ended. */
export interface ResumeQueueResult {
  wasPaused: boolean;
  /** The pause this call ended; null when the name was not paused. */
  queue: PausedQueueInfo | null;
}

/** A task name's bound on the attempts of one concurrency key running at once. */
export interface ConcurrencyLimitInfo {
  name: string;
  maxRunning: number;
  /** When it was last set. */
  updatedAt: Date;
  raw: ConcurrencyLimit;
}

/** What clearConcurrencyLimit answers: whether the name had a bound, and the bound it removed. */
export interface ClearConcurrencyLimitResult {
  cleared: boolean;
  /** The bound this call removed; null when the name had none. */
  limit: ConcurrencyLimitInfo | null;
}

function stateOf(wire: number): TaskState {
  const state = stateFromProto(wire);
  if (!state) throw new TypeError(`the server sent an unknown task state ${wire}`);
  return state;
}

const dateOrNull = (ms: number): Date | null => (ms > 0 ? new Date(ms) : null);
const bytesOrNull = (bytes: Uint8Array): Buffer | null => (bytes.byteLength > 0 ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null);

export function toTaskUpdate(raw: ProgressUpdate): TaskUpdate {
  return {
    taskId: raw.taskId, sequence: raw.sequence, state: stateOf(raw.state), attempt: raw.attempt, percent: raw.percent,
    message: raw.message, timestamp: new Date(raw.timestampMs), workerId: raw.workerId || null, result: bytesOrNull(raw.result),
    error: raw.error || null, nextAttemptAt: dateOrNull(raw.nextAttemptAtMs), raw,
  };
}

export function toTaskInfo(raw: Task): TaskInfo {
  return {
    taskId: raw.taskId, name: raw.name, description: raw.description, payload: Buffer.from(raw.payload), state: stateOf(raw.state),
    attempt: raw.attempt, maxRetries: raw.maxRetries, timeoutSecs: raw.timeoutSecs, retryBackoffMs: raw.retryBackoffMs,
    result: bytesOrNull(raw.result), error: raw.error || null, percent: raw.percent, message: raw.message, workerId: raw.workerId || null,
    createdAt: new Date(raw.createdAtMs), startedAt: dateOrNull(raw.startedAtMs), finishedAt: dateOrNull(raw.finishedAtMs),
    nextAttemptAt: dateOrNull(raw.nextAttemptAtMs), lastSequence: raw.lastSequence, priority: raw.priority, runAt: dateOrNull(raw.runAtMs),
    scheduleId: raw.scheduleId || null, scheduleTick: raw.scheduleId ? new Date(raw.scheduleTickMs) : null,
    concurrencyKey: raw.concurrencyKey ?? null, concurrencyLimit: raw.concurrencyLimit ?? null, raw,
  };
}

export function toWorkerSummary(raw: WorkerInfo): WorkerSummary {
  return {
    workerId: raw.workerId, taskNames: raw.taskNames, slots: raw.slots, running: raw.running, prefetch: raw.prefetch, held: raw.held, draining: raw.draining,
    connectedAt: new Date(raw.connectedAtMs), lastSeenAt: new Date(raw.lastSeenMs), raw,
  };
}

export function toPausedQueueInfo(raw: PausedQueue): PausedQueueInfo {
  return { name: raw.name, reason: raw.reason, pausedAt: new Date(raw.pausedAtMs), raw };
}

export function toConcurrencyLimitInfo(raw: ConcurrencyLimit): ConcurrencyLimitInfo {
  return { name: raw.name, maxRunning: raw.maxRunning, updatedAt: new Date(raw.updatedAtMs), raw };
}
