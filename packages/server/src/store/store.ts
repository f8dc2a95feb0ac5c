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
  /** -100..100: among queued tasks of one name, the highest priority is claimed first, then the oldest. */
  priority: number;
  /**
   * When the task may first start (the caller's clock, ms), or null for now. A task stored with a
   * runAt in the future is `scheduled` until then; the store keeps it as its next_attempt_at.
   */
  runAt: number | null;
  /**
   * The start the client asked for, as it asked (run_at_ms or delay_ms), so that an idempotent repeat
   * of a delay_ms submit, whose runAt is later, is still the same request.
   */
  requestedStart?: { runAtMs: number } | { delayMs: number } | undefined;
  /** The schedule that fired this task, and the tick (ms) it fired for; null for a submitted task. */
  scheduleId?: string | null | undefined;
  scheduleTickMs?: number | null | undefined;
  /**
   * Tasks of one name that share a concurrency key run at most its bound at once, and keys are
   * served in turn. The bound is the concurrencyLimit of the key's latest queued task, else the
   * name's ConcurrencyLimit, else none.
   */
  concurrencyKey?: string | null | undefined;
  /** The bound for this task's key (from when it is queued), overriding the name's; null for the name's. Needs a key. */
  concurrencyLimit?: number | null | undefined;
  /**
   * The submit's W3C Trace Context, handed to the worker with each attempt so that the handler's
   * span is a child of the submit's; null or absent when the submit was not traced. Not part of
   * the request an idempotency key stands for: a repeat from another span is the same request.
   */
  traceContext?: TraceContext | null | undefined;
}

/** A W3C Trace Context (https://www.w3.org/TR/trace-context/), as the headers of that name carry it. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string | undefined;
}

/** A trace context as the stores keep it (one nullable text column, JSON), or null. */
export function encodeTraceContext(context: TraceContext | null | undefined): string | null {
  if (!context) return null;
  return JSON.stringify(context.tracestate ? { traceparent: context.traceparent, tracestate: context.tracestate } : { traceparent: context.traceparent });
}

/** The stored column back; a value that is not one (edited by hand) is no trace context rather than a failed claim. */
export function decodeTraceContext(stored: unknown): TraceContext | null {
  if (typeof stored !== "string") return null;
  try {
    const value = JSON.parse(stored) as Partial<Record<keyof TraceContext, unknown>>;
    if (typeof value.traceparent !== "string") return null;
    return typeof value.tracestate === "string" ? { traceparent: value.traceparent, tracestate: value.tracestate } : { traceparent: value.traceparent };
  } catch {
    return null;
  }
}

/** Longest concurrency key accepted, in UTF-8 bytes. */
export const maxConcurrencyKeyBytes = 255;
/** Largest concurrency limit accepted (a per-name or per-request max_running). */
export const maxConcurrencyLimit = 100_000;

/** Largest rate limit accepted: starts per window. */
export const maxRateLimitStarts = 1_000_000;
/** Rate limit windows accepted, ms: a second to a day. */
export const minRateLimitWindowMs = 1_000;
export const maxRateLimitWindowMs = 24 * 3600 * 1000;
/** Longest a handler may ask its task (and name) to wait when its upstream says slow down, ms. */
export const maxRateLimitedDelayMs = 24 * 3600 * 1000;

/**
 * At most `maxStarts` attempts of the task name start per window of `perMs` (windows aligned to
 * multiples of perMs since the epoch, on the Schedulers' clocks; a window already counted in is never
 * gone back to), counted across every Scheduler. A
 * task over the limit waits, queued, for the next window; it is not failed.
 */
export interface RateLimit {
  name: string;
  maxStarts: number;
  perMs: number;
  /**
   * Each concurrency key of the name gets the limit on its own (BullMQ Pro's group rate limit);
   * the name's unkeyed tasks share one window. False: the name's tasks share one window.
   */
  perKey: boolean;
  /** When it was last set (the caller's clock, ms). */
  updatedAt: number;
}

/** A per-name bound on the attempts of one concurrency key running at once. */
export interface ConcurrencyLimit {
  name: string;
  maxRunning: number;
  /** When it was last set (the caller's clock, ms). */
  updatedAt: number;
}

/**
 * The first event of a new task: `scheduled` until its runAt when that is after `now`, else `queued`.
 * (A repeat of an idempotent submit answers the stored first event instead.)
 */
export function firstEvent(task: Pick<NewTask, "id" | "runAt">, now: number): TaskEvent {
  const scheduled = task.runAt !== null && task.runAt > now;
  return {
    taskId: task.id, sequence: 1, state: scheduled ? "scheduled" : "queued", attempt: 0, percent: 0,
    message: scheduled ? "scheduled" : "queued", timestamp: now, workerId: null, result: null, error: null,
    nextAttemptAt: scheduled ? task.runAt : null,
  };
}

/** Scheduled tasks one promoteDue call moves at most, so one transaction stays small. */
export const promoteBatch = 1000;

export interface TaskRecord extends Omit<NewTask, "requestedStart" | "traceContext"> {
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

/**
 * Which events a queue-wide watch (readEventsAfter) delivers: every condition given must hold; an
 * empty list or a null means any. `states` is the state the event recorded, not the task's current one.
 */
export interface EventFilter {
  names: readonly string[];
  states: readonly TaskState[];
  concurrencyKey: string | null;
  scheduleId: string | null;
}

/** One event of the store's queue-wide order, with its task's name and the position after it. */
export interface QueueEvent extends TaskEvent {
  name: string;
  /** Opaque: readEventsAfter(cursor) continues right after this event. */
  cursor: string;
}

export interface EventsPage {
  /** In the store's order (commit order), those of the places read that the filter keeps. */
  events: QueueEvent[];
  /** After the last place read (whether the filter kept it or not): where the next read starts. */
  cursor: string;
  /** False when the read stopped at its limit: more settled events may follow at once. */
  caughtUp: boolean;
}

/** Places (events, kept by the filter or not) one readEventsAfter call reads at most. */
export const maxEventsPage = 500;

/** Identifies one attempt of one task; a write naming an attempt that is no longer current is refused. */
export interface AttemptRef {
  taskId: string;
  attempt: number;
}

/** A lease to renew: each until its own time, since each worker was last heard at its own moment. */
export interface LeaseRenewal extends AttemptRef {
  until: number;
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
  /** The submit's trace context (NewTask.traceContext), or null. */
  traceContext: TraceContext | null;
  /**
   * When the task was submitted, or its run_at when that is later (the caller's clock, ms): the
   * start of its first wait for a worker. A retry's wait is not measured from it.
   */
  runnableSince: number;
}

/** Waiting tasks of one name in one waiting state (countWaitingByName). */
export interface WaitingCount {
  name: string;
  state: "scheduled" | "queued" | "retrying";
  count: number;
}

/** A countWaitingByName row ({ name, state, tasks }) of either backend. */
export function toWaitingCount(row: Record<string, unknown>): WaitingCount {
  return { name: String(row.name), state: String(row.state) as WaitingCount["state"], count: Number(row.tasks) };
}

export interface AttemptFailure {
  error: string;
  /** False ends the task now, whatever retries are left. */
  retryable: boolean;
}

/**
 * How long a failed attempt waits before the next one, as data (not a function) so that every
 * store applies it the same way, in its own process or in SQL: the n-th failure waits
 * base * 2^(n-1), capped at maxDelayMs, then scaled by a factor drawn from [1 - jitter, 1] so that
 * tasks failing together do not retry together. retryDelayMs() is the formula.
 */
export interface RetryBackoff {
  maxDelayMs: number;
  /** 0 (no jitter) to 1; the Scheduler uses 0.5. */
  jitter: number;
}

/** The delay of RetryBackoff; `random` is a number in [0, 1). */
export function retryDelayMs(backoff: RetryBackoff, failedAttempt: number, retryBackoffMs: number, random: number): number {
  const exponential = retryBackoffMs * 2 ** Math.min(Math.max(failedAttempt - 1, 0), 30);
  const capped = Math.min(backoff.maxDelayMs, exponential);
  return Math.max(0, Math.round(capped * (1 - backoff.jitter * random)));
}

export interface LeaseTerms {
  /** How long a claimed attempt stays owned without a renewal. */
  leaseMs: number;
  /** Added to the task's timeout before the store itself ends a running attempt. */
  deadlineGraceMs: number;
}

export interface CancelOutcome {
  /** State after the call. */
  state: TaskState;
  /** The task's name. */
  name: string;
  cancelled: boolean;
  event: TaskEvent | null;
  /** The attempt that was running when the task was cancelled, so its worker can be told. */
  interrupted: (AttemptRef & { workerId: string }) | null;
}

/** What retry() did: a task in the `retryable` states goes back to queued; any other is left as it is. */
export interface RetryOutcome {
  /** True when the task was retried (queued again). */
  retried: boolean;
  /** The state the task was in before the call. */
  previousState: TaskState;
  name: string;
  /** The `queued` event of the new attempt series; null when the task was not retried. */
  event: TaskEvent | null;
}

/** The states retry() (and a bulk retry) takes a task out of. */
export const retryableStates: readonly TaskState[] = ["failed", "cancelled"];
/** The states a bulk cancel takes a task out of: every unfinished one. */
export const cancellableStates: readonly TaskState[] = ["scheduled", "queued", "running", "retrying"];
/** The states a bulk delete removes a task in: every finished one. */
export const deletableStates: readonly TaskState[] = ["succeeded", "failed", "cancelled"];

/**
 * One batch of a bulk operator action (retryBatch, cancelBatch, deleteBatch): the tasks of
 * `selection` in one of the action's states, in store order after `after`, at most `limit`, among
 * the next `span` places of that order. The span bounds what one batch reads (and, on SQLite,
 * how long it holds the writer) when the selection's tasks are few among many others.
 */
export interface ActionBatch {
  selection: TaskSelection;
  /** Where the previous batch ended (its `next`); 0 for the first. */
  after: number;
  limit: number;
  span: number;
}

export interface ActionBatchOutcome {
  /** The tasks the batch changed (retried, cancelled or deleted). */
  changed: number;
  /**
   * Where the next batch starts; null when this one reached the end of the selection. A bulk
   * action goes forward only, so a task it changed is not met again (a retried task that fails
   * again at once is not retried twice by one call).
   */
  next: number | null;
}

/** A bulk cancel's batch: also the names of the tasks cancelled (for the metrics). */
export interface CancelBatchOutcome extends ActionBatchOutcome {
  names: string[];
}

/** The selection narrowed to the states an action applies to (all of them when it names none). */
export function narrowStates(selection: TaskSelection, applicable: readonly TaskState[]): TaskSelection {
  const asked = selection.states ?? [];
  return { ...selection, states: asked.length === 0 ? applicable : asked.filter((state) => applicable.includes(state)) };
}

/** The message of the `queued` event a retry records: the new series, and the operator's reason. */
export function retryMessage(afterAttempt: number, reason: string): string {
  const series = `retried: a new attempt series after attempt ${afterAttempt}`;
  return reason === "" ? series : `${series} (${reason})`;
}

export interface ExpiredAttempt extends AttemptRef {
  /** The task's name. */
  name: string;
  workerId: string | null;
  reason: "lease expired" | "deadline passed";
  event: TaskEvent;
}

/**
 * A task name whose tasks are not dispatched: they are still accepted, stored and (when delayed)
 * promoted, but no claim takes them until the name is resumed. Attempts already running carry on.
 */
export interface PausedName {
  name: string;
  /** Why, as the caller gave it (may be empty). */
  reason: string;
  /** When it was paused (the caller's clock, ms); a repeated pause keeps the first time. */
  pausedAt: number;
}

export interface PauseOutcome {
  paused: PausedName;
  /** True when the name was paused already (the stored pause is kept as it was). */
  wasPaused: boolean;
}

/** Which tasks a listing, a count or an operator action covers: every field given narrows it. */
export interface TaskSelection {
  names?: readonly string[] | undefined;
  states?: readonly TaskState[] | undefined;
  concurrencyKey?: string | undefined;
  scheduleId?: string | undefined;
  /** created_at at or after this time (ms, the caller's clock). */
  createdAfter?: number | undefined;
  /** created_at before this time (ms, the caller's clock). */
  createdBefore?: number | undefined;
}

export interface TaskFilter extends TaskSelection {
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string | undefined;
}

/** One task name's tasks by state, and how many finished in each of the last minutes. */
export interface NameStats {
  name: string;
  counts: Record<TaskState, number>;
  /** Oldest minute first; the last entry is the minute `now` falls in. */
  succeededPerMinute: number[];
  failedPerMinute: number[];
  paused: boolean;
}

export interface TaskStats {
  /** Every name with a task or a pause, sorted by name. */
  names: NameStats[];
  /** Where the first per-minute bucket starts (ms, the caller's clock). */
  firstMinute: number;
}

export interface TaskPage {
  tasks: TaskRecord[];
  nextCursor: string | null;
}

export interface TaskStore extends ScheduleStore {
  /**
   * How many commit batches of claims, submits and completions the store runs at once (each on its
   * own connection); the dispatcher runs as many rounds at once. Absent: one.
   */
  readonly commitsAtOnce?: number;

  /** Creates or upgrades the schema; safe to call on every start. */
  migrate(): Promise<void>;

  /**
   * Stores new tasks as queued (scheduled when their runAt is after `now`), all or none. Returns each task's first event, in input order. A
   * task whose idempotency key was stored less than `keyRetentionMs` ago is not stored: if its
   * fields (requestFingerprint) match those the key was stored with, its entry is the first event
   * of the task that holds the key (so its taskId differs from the one given); if they differ, the
   * call fails with ALREADY_EXISTS naming that task, and stores nothing.
   */
  enqueue(tasks: readonly NewTask[], now: number, keyRetentionMs?: number): Promise<TaskEvent[]>;

  /** Forgets idempotency keys stored at or before `before`. */
  forgetIdempotencyKeys(before: number): Promise<void>;

  /** Tasks waiting to run (scheduled, queued or retrying). */
  countWaiting(): Promise<number>;

  /**
   * Waiting tasks by name and state (names with none are left out), for the metrics scrape: one
   * grouped count per waiting state, each read through the state's index.
   */
  countWaitingByName(): Promise<WaitingCount[]>;

  /**
   * Moves up to `limit` queued tasks per request to running, highest priority first, then oldest, each with a fresh
   * attempt number, a lease and a deadline. Requests are served in order within one commit.
   */
  claim(requests: readonly ClaimRequest[], now: number, terms: LeaseTerms): Promise<ClaimedAttempt[][]>;

  /** Records a success; null when the attempt is no longer current (the result is discarded). */
  complete(ref: AttemptRef, result: Uint8Array, now: number): Promise<TaskEvent | null>;

  /** Records a failure: retrying (with backoff) while retries remain and the failure allows it, else failed. */
  fail(ref: AttemptRef, failure: AttemptFailure, now: number, backoff: RetryBackoff): Promise<TaskEvent | null>;

  /** Records progress of a running attempt; null when the attempt is no longer current. */
  progress(ref: AttemptRef, percent: number, message: string, now: number): Promise<TaskEvent | null>;

  /**
   * Renews the leases of these attempts (those still current). Named one by one, not by worker:
   * a worker that reconnects must not revive attempts it abandoned.
   */
  extendLeases(renewals: readonly LeaseRenewal[]): Promise<void>;

  /** Fails every running attempt whose lease or deadline has passed. */
  expireAttempts(now: number, backoff: RetryBackoff): Promise<ExpiredAttempt[]>;

  /**
   * Moves retrying tasks whose backoff has elapsed, and scheduled tasks that are due, to queued;
   * returns their names. A scheduled task's promotion records a `queued` event. Safe with several
   * callers at once: each due task is promoted by exactly one. Promotes at most `promoteBatch`
   * scheduled tasks per call (earliest due first); nextDueAt() then tells that more are due.
   */
  promoteDue(now: number): Promise<string[]>;

  /** When the earliest retrying or scheduled task becomes due, or null. */
  nextDueAt(): Promise<number | null>;

  cancel(taskId: string, reason: string, now: number): Promise<CancelOutcome | null>;

  /**
   * Starts a new attempt series of a failed or cancelled task: it is queued again (claimable as any
   * queued task, under its name's pause, keys and limits) with its whole max_retries budget; its
   * attempt numbers go on counting from the last one (so a fencing token is never reused) and its
   * events stay, with a `queued` event (retryMessage) added. Signals work available for its name.
   * A task in another state is left as it is (`retried` false); null when there is no such task.
   */
  retry(taskId: string, reason: string, now: number): Promise<RetryOutcome | null>;

  /**
   * One batch of a bulk retry: each failed or cancelled task of the batch (see ActionBatch) as
   * retry() does it, in one transaction.
   */
  retryBatch(batch: ActionBatch, reason: string, now: number): Promise<ActionBatchOutcome>;

  /**
   * One batch of a bulk cancel: each unfinished task of the batch as cancel() does it, in one
   * transaction; a running attempt's `cancelled` event names its worker, as cancel()'s does.
   */
  cancelBatch(batch: ActionBatch, reason: string, now: number): Promise<CancelBatchOutcome>;

  /** One batch of a bulk delete: each finished task of the batch with its events and idempotency key, as retention deletes them. */
  deleteBatch(batch: ActionBatch): Promise<ActionBatchOutcome>;

  /**
   * Pauses a task name: from the commit on, no claim (by any Scheduler on this store) takes its
   * tasks. Pausing a paused name changes nothing and answers the stored pause.
   */
  pauseName(name: string, reason: string, now: number): Promise<PauseOutcome>;

  /**
   * Resumes a paused task name and signals work available for it (to every Scheduler on the
   * store, as an enqueue does). Returns the pause it ended, or null when the name was not paused.
   */
  resumeName(name: string): Promise<PausedName | null>;

  /** Every paused task name, by name. */
  listPausedNames(): Promise<PausedName[]>;

  /**
   * Sets the name's bound on running attempts per concurrency key (tasks that carry their own
   * concurrencyLimit keep it) and signals work available for the name, as a raised bound may let
   * waiting tasks start. Attempts already running above a lowered bound carry on.
   */
  setConcurrencyLimit(name: string, maxRunning: number, now: number): Promise<ConcurrencyLimit>;
  /** Removes the name's bound (keys of the name are then unbounded); returns it, or null when none was set. */
  clearConcurrencyLimit(name: string): Promise<ConcurrencyLimit | null>;
  /** Every per-name bound, by name. */
  listConcurrencyLimits(): Promise<ConcurrencyLimit[]>;

  /**
   * Sets the name's rate limit (see RateLimit), replacing any; starts already counted in the
   * current window still count. Signals work available for the name.
   */
  setRateLimit(name: string, maxStarts: number, perMs: number, now: number, perKey?: boolean): Promise<RateLimit>;
  /** Removes the name's rate limit; returns it, or null when none was set. Signals work available for the name. */
  clearRateLimit(name: string): Promise<RateLimit | null>;
  /** Every rate limit, by name. */
  listRateLimits(): Promise<RateLimit[]>;

  /**
   * The handler reported that its upstream asked it to slow down: the attempt ends without
   * counting against max_retries, the task waits (retrying) `delayMs`, and no attempt of its name
   * starts, on any Scheduler, until then. Fenced like fail: null when the attempt is not current.
   */
  deferRateLimited(ref: AttemptRef, delayMs: number, message: string, now: number): Promise<TaskEvent | null>;

  /**
   * A worker gave the attempt back: unfinished when it stopped, or unstarted when it held it past
   * the hold limit (claim-ahead). It ends without counting against max_retries and the task is due
   * again at once (retrying, promoted like any due retry); its name is not held back. Fenced like
   * fail: null when the attempt is not current.
   */
  handBack(ref: AttemptRef, message: string, now: number): Promise<TaskEvent | null>;

  getTask(taskId: string): Promise<TaskRecord | null>;
  /** Newest first; listed tasks carry an empty payload and no result (getTask has them). */
  listTasks(filter: TaskFilter): Promise<TaskPage>;
  /** How many tasks the selection covers. */
  countTasks(selection: TaskSelection): Promise<number>;
  /** Per name: tasks by state, and the tasks that succeeded or failed in each of the `minutes` minutes up to `now`. */
  taskStats(now: number, minutes: number): Promise<TaskStats>;
  /** Events with a sequence above `afterSequence`, in order. */
  listEvents(taskId: string, afterSequence: number): Promise<TaskEvent[]>;

  /**
   * Settled events after `cursor` (null: from the oldest retained), in one order that every
   * Scheduler on the store reads alike, so a cursor from one Scheduler resumes on another. An event
   * becomes readable only once no event can commit before it in that order any more; from then on
   * it stays at its place (until retention deletes its task). Reads at most `limit` places
   * (maxEventsPage at most). A cursor this store did not issue fails with INVALID_ARGUMENT naming `after`.
   */
  readEventsAfter(cursor: string | null, filter: EventFilter, limit: number): Promise<EventsPage>;

  /**
   * The cursor of "now": every event settled at this call is behind it. Events committed from now
   * on come after it (on a shared store also those of transactions still running at this call,
   * some of which may have committed just before).
   */
  eventsHead(): Promise<string>;

  // ---- what several Schedulers on one store need ------------------------------------------

  /** Committed events and "work available" hints, from every writer of the store (see StoreSignals). */
  readonly signals: StoreSignals;

  /**
   * Tells `listener` how long each batch this process committed took (ms, from its first statement
   * to its COMMIT), for the metrics. Returns the unsubscribe function.
   */
  onCommit(listener: (durationMs: number) => void): () => void;

  /**
   * Takes or renews the maintenance leadership for `holder` for `ttlMs` (measured on the store's
   * clock). A holder whose term has not run out keeps it; an expired term passes to the first
   * caller, with term + 1. See Leadership for what it answers.
   */
  acquireLeadership(holder: string, ttlMs: number, now: number): Promise<Leadership>;

  /** Gives up the leadership if `holder` has it, so another Scheduler takes over at once. */
  releaseLeadership(holder: string): Promise<void>;

  /**
   * Raises the lease of every running attempt to at least `until`: after a time when no Scheduler
   * could hear workers (all down, or the store unreachable), so that workers can reconnect and
   * report their attempts before those are expired. Returns how many attempts it raised.
   */
  extendAllLeases(until: number): Promise<number>;

  /**
   * Deletes up to `limit` tasks that finished at or before `before`, with their events and
   * idempotency keys; returns how many. Called repeatedly, in small batches, by the leader. Also
   * forgets up to `limit` concurrency keys with no queued task that were last served at or before
   * `before` (a later task of such a key starts with a fresh turn).
   */
  deleteFinished(before: number, limit: number): Promise<number>;

  /** Refreshes the planner statistics of the hot tables (ANALYZE); a no-op where not needed. */
  analyze(): Promise<void>;

  close(): Promise<void>;
}

export type OverlapPolicy = "allow" | "skip";
export type CatchUpPolicy = "skip" | "one" | "all";
export const overlapPolicies: readonly OverlapPolicy[] = ["allow", "skip"];
export const catchUpPolicies: readonly CatchUpPolicy[] = ["skip", "one", "all"];

/** The task a schedule submits at each tick: the fields of a submit the client chooses. */
export type ScheduleTaskTemplate = Pick<NewTask, "name" | "description" | "payload" | "timeoutMs" | "maxRetries" | "retryBackoffMs" | "priority">;

/** What a schedule's owner chooses; two creates with one key are the same request when these match. */
export interface ScheduleSpec {
  cron: string;
  /** An IANA zone the cron is read in. */
  timeZone: string;
  task: ScheduleTaskTemplate;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
}

/**
 * A stored schedule. Its times are wall-clock ms as the cron gives them (never shifted to a
 * database's clock): nextFireAt is compared, exactly, by the conditional update that fires it.
 */
export interface ScheduleRecord extends ScheduleSpec {
  id: string;
  /** A name the client chose, unique; null when the schedule is known by its id only. */
  key: string | null;
  paused: boolean;
  /** The next tick to fire; null while paused. */
  nextFireAt: number | null;
  lastTickMs: number | null;
  lastTaskId: string | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * One firing of a schedule: the ticks' tasks (none when every due tick is skipped) are enqueued and
 * the schedule's next_fire_at moved from `expectedNextFireAt` to `nextFireAt` in one transaction,
 * only if next_fire_at still is `expectedNextFireAt`, so of several firers of one tick one wins.
 */
export interface ScheduleFiring {
  scheduleId: string;
  expectedNextFireAt: number;
  nextFireAt: number | null;
  /** Each carries scheduleId, scheduleTickMs and an idempotency key made of both; oldest tick first. */
  tasks: readonly NewTask[];
  /** The latest tick this firing handled (fired or skipped). */
  lastTickMs: number;
}

/** Schedules one listSchedules call returns at most. */
export const scheduleListLimit = 1000;

/** The idempotency key of a schedule's task for one tick: a repeated firing finds the first task. */
export function scheduleTickKey(scheduleId: string, tickMs: number): string {
  return `schedule:${scheduleId}:${tickMs}`;
}

/** Whether two specs are the same request (a repeated create with one key). */
export function sameScheduleSpec(a: ScheduleSpec, b: ScheduleSpec): boolean {
  return a.cron === b.cron && a.timeZone === b.timeZone && a.overlap === b.overlap && a.catchUp === b.catchUp
    && a.task.name === b.task.name && a.task.description === b.task.description && a.task.timeoutMs === b.task.timeoutMs
    && a.task.maxRetries === b.task.maxRetries && a.task.retryBackoffMs === b.task.retryBackoffMs
    && a.task.priority === b.task.priority && Buffer.from(a.task.payload).equals(Buffer.from(b.task.payload));
}

/**
 * The durable part of cron schedules (the cron arithmetic is the Scheduler's). Every method is
 * safe with several Schedulers on one store.
 */
export interface ScheduleStore {
  /**
   * Stores a new schedule. When its key is taken: the stored schedule if its spec is the same
   * (an idempotent repeat; paused is not compared), else ALREADY_EXISTS naming it.
   */
  createSchedule(schedule: ScheduleRecord): Promise<{ schedule: ScheduleRecord; created: boolean }>;
  /** By id, or by key. */
  getSchedule(idOrKey: string): Promise<ScheduleRecord | null>;
  /** Oldest first, at most scheduleListLimit. */
  listSchedules(): Promise<ScheduleRecord[]>;
  /** Replaces the spec, paused flag and next fire time of a stored schedule; null when it is gone. */
  updateSchedule(schedule: ScheduleRecord): Promise<ScheduleRecord | null>;
  deleteSchedule(id: string): Promise<boolean>;
  /** Unpaused schedules whose next_fire_at is at or before `now` (wall clock), earliest first. */
  dueSchedules(now: number, limit: number): Promise<ScheduleRecord[]>;
  /** The earliest next_fire_at of an unpaused schedule, or null. */
  nextScheduleFireAt(): Promise<number | null>;
  /**
   * Applies a firing (see ScheduleFiring): the tasks' first events, or null when next_fire_at had
   * moved (another firer won) and nothing was written.
   */
  fireSchedule(firing: ScheduleFiring, now: number): Promise<TaskEvent[] | null>;
}

/**
 * The maintenance leadership as a store records it: one row with a holder, a term (raised on each
 * change of holder) and an expiry. Only the leader sweeps leases, promotes due retries and prunes;
 * every write those do is fenced by the attempt number, so two leaders for a moment do no harm.
 */
export interface Leadership {
  isLeader: boolean;
  term: number;
  holder: string | null;
  /**
   * How long (ms) before this call the leadership was last renewed by anyone, or null for the
   * first leader ever. A gap far longer than the renewal interval means no Scheduler was running
   * the sweep (all were down, or the store was unreachable).
   */
  sinceLastRenewalMs: number | null;
}

/**
 * What a store tells its Scheduler beyond call answers.
 *
 * Ordering contract: a listener gets each committed event at least once (a repeat is possible
 * after a reconnect; subscribers drop sequences they have seen), and the events of one task in
 * sequence order within what one source reports: this process's commits, or the feed of other
 * writers'. Across the two a task's later event can come first (this process completed a task
 * whose claim by another Scheduler the feed has not reported yet): a subscriber that sees a
 * sequence jump reads the gap with listEvents. A store reports its own process's writes right
 * after they commit, and other writers' writes (PostgreSQL: other Schedulers) after a
 * "LISTEN/NOTIFY" hint, a slow poll or a reconnect. Within one process, writes asked for in one event-loop turn commit together, their
 * first statements run in call order (group commit; on PostgreSQL a write's further statements
 * may run after later writes' first ones), so a claim asked for right after an enqueue can see its tasks; the
 * Scheduler uses that only to save a commit: it never depends on it, because the work-available
 * signal follows every commit that made tasks claimable.
 */
export interface StoreSignals {
  /** Committed task events, from every writer. Returns the unsubscribe function. */
  onEvents(listener: (events: readonly TaskEvent[]) => void): () => void;
  /**
   * Tasks may have become claimable: `names` lists their task names, or is null when any name may
   * have (a poll tick, a reconnect). Returns the unsubscribe function.
   */
  onWorkAvailable(listener: (names: readonly string[] | null) => void): () => void;
}
