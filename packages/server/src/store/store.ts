/**
 * The Scheduler's one seam to durable state, in scheduler terms. No connection, statement or
 * transaction type leaks through it, so an embedded SQLite file and a shared PostgreSQL can sit
 * side by side behind it (store/sqlite, store/postgres) and pass one conformance suite.
 *
 * Every write is durable when its promise resolves. Writes that change a task return the
 * progress event they recorded, so the caller can publish it to live subscribers.
 */
export { taskStates, terminalStates, isTerminal, type TaskStateName as TaskState } from "orchestrator-ts-client/internal";
import type { TaskStateName as TaskState } from "orchestrator-ts-client/internal";

export interface NewTask {
  id: string;
  name: string;
  description: string;
  payload: Uint8Array;
  timeoutMs: number;
  maxRetries: number;
  retryBackoffMs: number;
  /** A key the client chose so that repeating the submit creates no second task. */
  idempotencyKey?: string | undefined;
}

export interface TaskRecord extends NewTask {
  state: TaskState;
  /** Attempts started so far; also the fencing token of the current attempt. */
  attempt: number;
  result: Uint8Array | null;
  error: string | null;
  percent: number;
  message: string;
  workerId: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  nextAttemptAt: number | null;
  lastSequence: number;
}

/** One recorded update of a task, as SubscribeProgress streams it. */
export interface TaskEvent {
  taskId: string;
  sequence: number;
  state: TaskState;
  attempt: number;
  percent: number;
  message: string;
  timestamp: number;
  workerId: string | null;
  result: Uint8Array | null;
  error: string | null;
  nextAttemptAt: number | null;
}

/** Identifies one attempt of one task; a write naming an attempt that is no longer current is refused. */
export interface AttemptRef {
  taskId: string;
  attempt: number;
}

export interface ClaimRequest {
  workerId: string;
  /** Task names the worker runs, tried in this order. */
  names: readonly string[];
  limit: number;
}

export interface ClaimedAttempt extends AttemptRef {
  workerId: string;
  name: string;
  payload: Uint8Array;
  timeoutMs: number;
  maxRetries: number;
  event: TaskEvent;
}

export interface AttemptFailure {
  error: string;
  /** False ends the task now, whatever retries are left. */
  retryable: boolean;
}

/** Delay before the next attempt, given the attempt that just failed (1-based) and the task's base backoff. */
export type BackoffPolicy = (failedAttempt: number, retryBackoffMs: number) => number;

export interface LeaseTerms {
  /** How long a claimed attempt stays owned without a renewal. */
  leaseMs: number;
  /** Added to the task's timeout before the store itself ends a running attempt. */
  deadlineGraceMs: number;
}

export interface CancelOutcome {
  /** State after the call. */
  state: TaskState;
  cancelled: boolean;
  event: TaskEvent | null;
  /** The attempt that was running when the task was cancelled, so its worker can be told. */
  interrupted: (AttemptRef & { workerId: string }) | null;
}

export interface ExpiredAttempt extends AttemptRef {
  workerId: string | null;
  reason: "lease expired" | "deadline passed";
  event: TaskEvent;
}

export interface TaskFilter {
  state?: TaskState | undefined;
  name?: string | undefined;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string | undefined;
}

export interface TaskPage {
  tasks: TaskRecord[];
  nextCursor: string | null;
}

export interface TaskStore {
  /** Creates or upgrades the schema; safe to call on every start. */
  migrate(): Promise<void>;

  /**
   * Stores new tasks as queued, all or none. Returns each task's first event, in input order. A
   * task whose idempotency key was stored less than `keyRetentionMs` ago is not stored: if its
   * fields (requestFingerprint) match those the key was stored with, its entry is the first event
   * of the task that holds the key (so its taskId differs from the one given); if they differ, the
   * call fails with ALREADY_EXISTS naming that task, and stores nothing.
   */
  enqueue(tasks: readonly NewTask[], now: number, keyRetentionMs?: number): Promise<TaskEvent[]>;

  /** Forgets idempotency keys stored at or before `before`. */
  forgetIdempotencyKeys(before: number): Promise<void>;

  /** Tasks waiting to run (queued or retrying). */
  countWaiting(): Promise<number>;

  /**
   * Moves up to `limit` queued tasks per request to running, oldest first, each with a fresh
   * attempt number, a lease and a deadline. Requests are served in order within one commit.
   */
  claim(requests: readonly ClaimRequest[], now: number, terms: LeaseTerms): Promise<ClaimedAttempt[][]>;

  /** Records a success; null when the attempt is no longer current (the result is discarded). */
  complete(ref: AttemptRef, result: Uint8Array, now: number): Promise<TaskEvent | null>;

  /** Records a failure: retrying (with backoff) while retries remain and the failure allows it, else failed. */
  fail(ref: AttemptRef, failure: AttemptFailure, now: number, backoff: BackoffPolicy): Promise<TaskEvent | null>;

  /** Records progress of a running attempt; null when the attempt is no longer current. */
  progress(ref: AttemptRef, percent: number, message: string, now: number): Promise<TaskEvent | null>;

  /**
   * Renews the leases of these attempts (those still current). Named one by one, not by worker:
   * a worker that reconnects must not revive attempts it abandoned.
   */
  extendLeases(attempts: readonly AttemptRef[], until: number): Promise<void>;

  /** Fails every running attempt whose lease or deadline has passed. */
  expireAttempts(now: number, backoff: BackoffPolicy): Promise<ExpiredAttempt[]>;

  /** Moves retrying tasks whose backoff has elapsed back to queued; returns their names. */
  promoteDueRetries(now: number): Promise<string[]>;

  /** When the earliest retrying task becomes due, or null. */
  nextRetryAt(): Promise<number | null>;

  cancel(taskId: string, reason: string, now: number): Promise<CancelOutcome | null>;

  getTask(taskId: string): Promise<TaskRecord | null>;
  /** Newest first; listed tasks carry an empty payload and no result (getTask has them). */
  listTasks(filter: TaskFilter): Promise<TaskPage>;
  /** Events with a sequence above `afterSequence`, in order. */
  listEvents(taskId: string, afterSequence: number): Promise<TaskEvent[]>;

  close(): Promise<void>;
}
