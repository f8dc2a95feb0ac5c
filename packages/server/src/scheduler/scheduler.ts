import type { Logger } from "orchestrator-ts-client/internal";
import type { Clock, TimerHandle } from "../util/clock.js";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { Code } from "orchestrator-ts-client/internal";
import { AttemptOutcome } from "orchestrator-ts-client/internal";
import type {
  ListTasksRequest, SubmitTaskRequest, TaskFilter as ProtoTaskFilter, TaskProgress, TaskResult, WorkerInfo, WorkerMessage,
} from "orchestrator-ts-client/internal";
import type {
  AttemptFailure, AttemptRef, CancelOutcome, ConcurrencyLimit, LeaseRenewal, PausedName, PauseOutcome, RateLimit, RetryBackoff, NewTask, TaskEvent,
  TaskPage, TaskRecord, TaskStats, TaskStore,
} from "../store/store.js";
import { isTerminal, maxRateLimitedDelayMs } from "../store/store.js";
import { Dispatcher } from "./dispatcher.js";
import { traceEnqueue } from "../tracing/spans.js";
import { EventHub } from "./event-hub.js";
import { FailureLog } from "./failure-log.js";
import { limits } from "./limits.js";
import type { CompiledSchedulerOptions } from "./options.js";
import { noSchedulerMetrics, type SchedulerMetrics } from "./metrics.js";
import { Maintenance } from "./maintenance.js";
import { Schedules } from "./schedules.js";
import { actionCallerFields, OperatorActions } from "./operator-actions.js";
import type { ActionCaller } from "../util/auth.js";
import { watchTasks, type QueueEventSink, type TaskEventsQuery } from "./task-events.js";
import {
  validateBatch, validateListFilter, validateMaxRunning, validatePauseReason, validateRateLimit, validateReason, validateStatsMinutes, validateSubmit, validateTaskId, validateTaskSelection,
  validateTaskName,
} from "./validation.js";
import { attemptKey, WorkerRegistry, WorkerSession, type HeldAttempt, type WorkerChannel } from "./worker-registry.js";

export type SchedulerState = "created" | "running" | "stopping" | "stopped";

/** Where watch() sends events: write() returns false when the reader is behind. */
export interface EventSink {
  write(event: TaskEvent): boolean;
  /** Resolves when the reader has caught up, or the signal aborts. */
  drained(signal: AbortSignal): Promise<void>;
}

/** Live events held for one slow subscriber before they are dropped and read back from the store. */
const maxBufferedEvents = 1000;

export interface Accepted {
  taskId: string;
  acceptedAt: number;
}

/**
 * The owner of all task state: accepts tasks, hands them to workers, records what workers report,
 * and retries what fails. It speaks in domain terms; scheduler/grpc.ts puts it on the wire.
 */
export class Scheduler {
  state: SchedulerState = "created";
  readonly hub = new EventHub();
  readonly registry = new WorkerRegistry();
  private readonly dispatcher: Dispatcher;
  private readonly backoff: RetryBackoff;
  private readonly maintenance: Maintenance;
  /** Cron schedules: their requests, and the timer that fires them (on every Scheduler). */
  readonly schedules: Schedules;
  /** Retry, and retry, cancel or delete by filter, each logged with the key id that asked. */
  readonly actions: OperatorActions;
  private readonly unsubscribe: Array<() => void> = [];
  private sweepTimer: TimerHandle | null = null;
  private readonly pendingWrites = new Set<Promise<unknown>>();
  /** Scheduled, queued and retrying tasks: counted by the store now and then, raised by each accept in between. */
  private waitingEstimate = 0;
  private sweeps = 0;
  private readonly backgroundFailures: FailureLog;

  constructor(
    private readonly store: TaskStore,
    private readonly options: CompiledSchedulerOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly metrics: SchedulerMetrics = noSchedulerMetrics,
  ) {
    this.backgroundFailures = new FailureLog(logger, "Background scheduler write failed", () => clock.now());
    this.backoff = { maxDelayMs: options.maxRetryBackoffMs, jitter: 0.5 };
    const terms = { leaseMs: options.leaseMs, deadlineGraceMs: options.deadlineGraceMs };
    this.dispatcher = new Dispatcher(store, this.registry, clock, terms, {
      assigned: (attempt, now) => {
        metrics.attemptStarted(attempt, now);
        logger.debug({ task_id: attempt.taskId, worker_id: attempt.workerId, attempt: attempt.attempt }, "Task assigned");
      },
      orphaned: (attempt) => this.track(this.failAttempt(attempt, { error: "the worker left before the assignment reached it", retryable: true }, attempt)),
    }, logger, options.dispatchIdleMs, options.maxClaimPerRound);
    this.maintenance = new Maintenance(store, options, clock, logger, this.backoff, (work) => this.track(work), () => this.dispatcher.kick(), (expired) => this.recorded(expired.event, expired));
    this.schedules = new Schedules(store, clock, logger, options.defaultRetryBackoffMs, {
      track: (work) => this.track(work),
      workAvailable: () => this.dispatcher.kick(),
    });
    this.actions = new OperatorActions(store, clock, logger, {
      assertRunning: () => this.assertRunning(),
      workAvailable: () => this.dispatcher.kick(),
      cancelled: (name) => metrics.taskCancelled(name),
      assertRoomFor: (count) => this.assertRoomFor(count),
      queued: (count) => {
        this.waitingEstimate += count;
      },
    });
  }

  get heartbeatIntervalMs(): number {
    return this.options.heartbeatIntervalMs;
  }

  /**
   * How long a worker may hold an assignment it has not started (claim-ahead) before handing it
   * back. The attempt's deadline is set at the claim, timeout + deadlineGraceMs later; a handler
   * started within half the grace still gets its whole timeout, with the other half left for the
   * worker's timer and the result's trip. 0 (no grace): no claim-ahead.
   */
  get maxHoldMs(): number {
    return Math.floor(this.options.deadlineGraceMs / 2);
  }

  async start(): Promise<void> {
    this.state = "running";
    this.unsubscribe.push(
      this.store.signals.onEvents((events) => this.committed(events)),
      this.store.signals.onWorkAvailable(() => this.dispatcher.kick()),
    );
    await this.sweep();
    this.dispatcher.kick();
  }

  async stop(): Promise<void> {
    if (this.state === "stopped" || this.state === "stopping") return;
    this.state = "stopping";
    this.dispatcher.stop();
    this.schedules.stop();
    if (this.sweepTimer) this.clock.clearTimeout(this.sweepTimer);
    for (const session of this.registry.all()) {
      this.dropWorker(session, "the scheduler is shutting down");
      session.channel.close("the scheduler is shutting down");
    }
    await Promise.allSettled([...this.pendingWrites]);
    await this.maintenance.stop().catch((error: unknown) => this.logger.warn({ err: error }, "Could not hand the maintenance leadership over; it passes on when it expires"));
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    this.state = "stopped";
  }

  // ---- client side -------------------------------------------------------------------------

  /** Accepts all the tasks or none (SubmitTask, SubmitTasks). */
  async submit(requests: readonly SubmitTaskRequest[], asBatch = true): Promise<Accepted[]> {
    this.assertRunning();
    return this.accept(validateBatch(requests, this.options.defaultRetryBackoffMs, this.clock.now(), asBatch));
  }

  /** Accepts or refuses each task on its own (the Gateway's SubmitStream: its clients' submits, coalesced). */
  async submitEach(requests: readonly SubmitTaskRequest[]): Promise<Array<Accepted | OrchestratorError>> {
    this.assertRunning();
    if (requests.length > limits.batchMaxTasks) {
      throw OrchestratorError.invalidArgument(`tasks holds ${requests.length} tasks; the limit is ${limits.batchMaxTasks} per request`);
    }
    const valid: NewTask[] = [];
    const now = this.clock.now();
    const outcomes = requests.map((request) => {
      try {
        const task = validateSubmit(request, this.options.defaultRetryBackoffMs, now);
        valid.push(task);
        return task;
      } catch (error) {
        return OrchestratorError.from(error);
      }
    });
    // accept() answers the valid tasks in order (a repeated idempotency key with the existing task's id).
    const answers = (await this.acceptEach(valid)).values();
    return outcomes.map((outcome) => (outcome instanceof OrchestratorError ? outcome : (answers.next().value ?? OrchestratorError.from("lost in submit"))));
  }

  /**
   * Accepts the tasks together (one store call); when that is refused because one of them reuses
   * an idempotency key with a different request, each is tried on its own (still one commit), so
   * only that one is refused.
   */
  private async acceptEach(tasks: readonly NewTask[]): Promise<Array<Accepted | OrchestratorError>> {
    try {
      return await this.accept(tasks);
    } catch (error) {
      if (tasks.length === 1 || !(error instanceof OrchestratorError) || error.code !== Code.AlreadyExists) throw error;
    }
    return Promise.all(tasks.map((task) => this.accept([task]).then(([accepted]) => accepted ?? OrchestratorError.from("lost in submit"), (error: unknown) => OrchestratorError.from(error))));
  }

  private async accept(tasks: readonly NewTask[]): Promise<Accepted[]> {
    if (tasks.length === 0) return [];
    this.assertRoomFor(tasks.length);
    const now = this.clock.now();
    const enqueued = traceEnqueue(tasks, this.store.enqueue(tasks, now, this.options.idempotencyRetentionMs));
    // Kicked before the enqueue commits, so the claim of these tasks shares its commit.
    this.dispatcher.kick();
    const events = await enqueued;
    return tasks.map((task, index) => {
      const event = events[index];
      if (!event) throw new OrchestratorError(Code.Internal, "the store answered fewer tasks than it was given");
      if (event.taskId !== task.id) {
        // The idempotency key was used before: same answer as the first time, nothing new stored.
        this.logger.info({ task_id: event.taskId, idempotency_key: task.idempotencyKey }, "Repeated submit; answering the existing task");
        return { taskId: event.taskId, acceptedAt: event.timestamp };
      }
      this.waitingEstimate++;
      this.metrics.taskSubmitted(task.name);
      this.logger.info({ task_id: task.id, name: task.name }, "Task submitted");
      return { taskId: task.id, acceptedAt: now };
    });
  }

  async getTask(taskId: string): Promise<TaskRecord> {
    const id = validateTaskId(taskId);
    const task = await this.store.getTask(id);
    if (!task) throw OrchestratorError.notFound(`task ${id} does not exist`);
    return task;
  }

  // Async, so that a refused request rejects the returned promise instead of throwing at the call.
  async listTasks(request: ListTasksRequest): Promise<TaskPage> {
    return this.store.listTasks(validateListFilter(request));
  }

  async countTasks(filter: ProtoTaskFilter | undefined): Promise<number> {
    return this.store.countTasks(validateTaskSelection(filter));
  }

  async taskStats(minutes: number | undefined): Promise<TaskStats> {
    return this.store.taskStats(this.clock.now(), validateStatsMinutes(minutes));
  }

  /** `caller`: who asked, for the log line (as the operator actions log theirs); absent in-process. */
  async cancel(taskId: string, reason: string, caller?: ActionCaller): Promise<CancelOutcome> {
    this.assertRunning();
    const id = validateTaskId(taskId);
    const why = validateReason(reason);
    const outcome = await this.store.cancel(id, why, this.clock.now());
    if (!outcome) throw OrchestratorError.notFound(`task ${id} does not exist`);
    // The running attempt's worker, attached here or to another Scheduler, is told through the event feed.
    if (outcome.cancelled) {
      this.metrics.taskCancelled(outcome.name);
      this.logger.info({ action: "CancelTask", task_id: id, name: outcome.name, count: 1, reason: why, ...actionCallerFields(caller) }, "Task cancelled");
    }
    return outcome;
  }

  /**
   * Pauses a queue (a task name): the store stops every Scheduler on it from starting its tasks
   * from the commit on. Submits are still accepted; running attempts finish.
   */
  async pauseQueue(name: string, reason: string, caller?: ActionCaller): Promise<PauseOutcome> {
    this.assertRunning();
    const outcome = await this.store.pauseName(validateTaskName(name), validatePauseReason(reason), this.clock.now());
    if (!outcome.wasPaused) this.logger.info({ action: "PauseQueue", name, reason, ...actionCallerFields(caller) }, "Queue paused");
    return outcome;
  }

  /**
   * Resumes a paused queue: the store's work-available signal (here, and through the store's hint
   * on every other Scheduler) kicks dispatch for the name. Null when it was not paused.
   */
  async resumeQueue(name: string, caller?: ActionCaller): Promise<PausedName | null> {
    this.assertRunning();
    const ended = await this.store.resumeName(validateTaskName(name));
    if (ended) this.logger.info({ action: "ResumeQueue", name, paused_for_ms: this.clock.now() - ended.pausedAt, ...actionCallerFields(caller) }, "Queue resumed");
    return ended;
  }

  listPausedQueues(): Promise<PausedName[]> {
    return this.store.listPausedNames();
  }

  /**
   * Bounds the running attempts of each concurrency key of a name, on every Scheduler: the store
   * signals work available for the name, as a raised bound may let waiting tasks start.
   */
  async setConcurrencyLimit(name: string, maxRunning: number, caller?: ActionCaller): Promise<ConcurrencyLimit> {
    this.assertRunning();
    const limit = await this.store.setConcurrencyLimit(validateTaskName(name), validateMaxRunning(maxRunning), this.clock.now());
    this.logger.info({ action: "SetConcurrencyLimit", name, max_running: limit.maxRunning, ...actionCallerFields(caller) }, "Concurrency limit set");
    return limit;
  }

  /** Removes a name's bound; null when it had none. */
  async clearConcurrencyLimit(name: string, caller?: ActionCaller): Promise<ConcurrencyLimit | null> {
    this.assertRunning();
    const cleared = await this.store.clearConcurrencyLimit(validateTaskName(name));
    if (cleared) this.logger.info({ action: "ClearConcurrencyLimit", name, ...actionCallerFields(caller) }, "Concurrency limit cleared");
    return cleared;
  }

  listConcurrencyLimits(): Promise<ConcurrencyLimit[]> {
    return this.store.listConcurrencyLimits();
  }

  /**
   * Sets a task name's rate limit: the store counts the name's starts per window across every
   * Scheduler on it, and its signal lets tasks a lower limit held back start at once.
   */
  async setRateLimit(name: string, maxStarts: number, perMs: number, perKey = false, caller?: ActionCaller): Promise<RateLimit> {
    this.assertRunning();
    const valid = validateRateLimit(name, maxStarts, perMs);
    const limit = await this.store.setRateLimit(valid.name, valid.maxStarts, valid.perMs, this.clock.now(), perKey);
    this.logger.info({ action: "SetRateLimit", name: limit.name, max_starts: limit.maxStarts, per_ms: limit.perMs, per_key: limit.perKey, ...actionCallerFields(caller) }, "Rate limit set");
    return limit;
  }

  /** Removes a task name's rate limit; null when it had none. */
  async clearRateLimit(name: string, caller?: ActionCaller): Promise<RateLimit | null> {
    this.assertRunning();
    const cleared = await this.store.clearRateLimit(validateTaskName(name));
    if (cleared) this.logger.info({ action: "ClearRateLimit", name, max_starts: cleared.maxStarts, per_ms: cleared.perMs, ...actionCallerFields(caller) }, "Rate limit cleared");
    return cleared;
  }

  listRateLimits(): Promise<RateLimit[]> {
    return this.store.listRateLimits();
  }

  /**
   * Streams the task's events after `afterSequence`: first those recorded, then live ones, ending
   * after the terminal one (or when `signal` aborts). A slow reader is waited for, never buffered
   * for without bound: past `maxBufferedEvents` live events are dropped and read back from the store.
   */
  async watch(taskId: string, afterSequence: number, sink: EventSink, signal: AbortSignal): Promise<void> {
    const id = validateTaskId(taskId);
    let pending: TaskEvent[] = [];
    let overflowed = false;
    let wake: () => void = () => undefined;
    const unsubscribe = this.hub.subscribe(id, (event) => {
      if (pending.length >= maxBufferedEvents) {
        pending = [];
        overflowed = true;
      } else {
        pending.push(event);
      }
      wake();
    });
    const onAbort = (): void => wake();
    signal.addEventListener("abort", onAbort);
    try {
      const task = await this.store.getTask(id);
      if (!task) throw OrchestratorError.notFound(`task ${id} does not exist`);
      let last = afterSequence;
      let finished = isTerminal(task.state) && last >= task.lastSequence;
      // A retried task has a terminal event before its last one: the stream goes on past it.
      const recordedUpTo = task.lastSequence;
      const deliver = async (events: readonly TaskEvent[]): Promise<void> => {
        for (const event of events) {
          if (finished || signal.aborted || event.sequence <= last) continue;
          const more = sink.write(event);
          last = event.sequence;
          finished = isTerminal(event.state) && event.sequence >= recordedUpTo;
          if (!more && !finished) await sink.drained(signal);
        }
      };
      await deliver(await this.store.listEvents(id, last));
      while (!finished && !signal.aborted) {
        if (overflowed) {
          overflowed = false;
          pending = [];
          await deliver(await this.store.listEvents(id, last));
          continue;
        }
        const next = pending.shift();
        if (!next) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        // A gap means this subscriber missed a commit; the store has it.
        if (next.sequence > last + 1) await deliver(await this.store.listEvents(id, last));
        await deliver([next]);
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Streams every task's events that the query keeps, in the store's order, until `signal` aborts (see watchTasks). */
  watchTasks(query: TaskEventsQuery, sink: QueueEventSink, signal: AbortSignal): Promise<void> {
    this.assertRunning();
    return watchTasks(this.store, this.clock, query, sink, signal);
  }

  listWorkers(): WorkerInfo[] {
    return this.registry.all().map((session) => ({
      workerId: session.workerId, taskNames: [...session.taskNames], slots: session.slots, running: session.inFlight.size,
      draining: session.draining, connectedAtMs: session.connectedAt, lastSeenMs: session.lastSeen, prefetch: session.prefetch,
      held: session.heldAttempts,
    }));
  }

  // ---- worker side -------------------------------------------------------------------------

  /** Registers a worker from its first stream message; returns its session. */
  registerWorker(message: WorkerMessage, channel: WorkerChannel): WorkerSession {
    this.assertRunning();
    if (message.kind?.$case !== "register") throw OrchestratorError.invalidArgument("the first message on a worker stream must be register");
    const { workerId, taskNames, slots, prefetch } = message.kind.register;
    if (!/^[A-Za-z0-9._:@/-]{1,128}$/.test(workerId)) throw OrchestratorError.invalidArgument("worker_id must be 1-128 characters of letters, digits and . _ : @ / -");
    if (taskNames.length === 0 || taskNames.length > limits.workerTaskNames) throw OrchestratorError.invalidArgument(`task_names must list 1-${limits.workerTaskNames} task names`);
    taskNames.forEach((name, index) => validateTaskName(name, `task_names[${index}]`));
    if (!Number.isInteger(slots) || slots < limits.workerSlots.min || slots > limits.workerSlots.max) {
      throw OrchestratorError.invalidArgument(`slots must be between ${limits.workerSlots.min} and ${limits.workerSlots.max}, got ${slots}`);
    }
    if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > limits.workerSlots.max) {
      throw OrchestratorError.invalidArgument(`prefetch must be between 0 and ${limits.workerSlots.max}, got ${prefetch}`);
    }
    const grantedPrefetch = this.maxHoldMs > 0 ? prefetch : 0;
    const session = new WorkerSession(workerId, [...new Set(taskNames)], slots, this.clock.now(), channel, grantedPrefetch);
    const previous = this.registry.add(session);
    // The old stream's attempts keep their leases: reported ones are adopted below, the rest expire.
    previous?.channel.close("replaced by a newer connection of the same worker");
    const reported = message.kind.register.running.filter((attempt) => /^[0-9a-f-]{36}$/i.test(attempt.taskId)).slice(0, slots + grantedPrefetch);
    for (const attempt of reported) session.inFlight.set(attemptKey(attempt), { taskId: attempt.taskId, attempt: attempt.attempt });
    if (reported.length > 0) this.track(this.adopt(session, reported));
    this.logger.info({ worker_id: workerId, task_names: session.taskNames, slots, prefetch: grantedPrefetch || undefined, still_running: reported.length }, "Worker connected");
    this.dispatcher.kick();
    return session;
  }

  /**
   * A reconnecting worker reports what it still runs: attempts still current (their lease has not
   * run out) carry on; the others are cancelled on the worker, and any result they send is fenced.
   */
  private async adopt(session: WorkerSession, reported: readonly AttemptRef[]): Promise<void> {
    const current: AttemptRef[] = [];
    for (const attempt of reported) {
      const task = await this.store.getTask(attempt.taskId);
      if (task?.state === "running" && task.attempt === attempt.attempt) {
        current.push(attempt);
        // Its name, for the metrics of its outcome.
        const held = session.inFlight.get(attemptKey(attempt));
        if (held) held.name = task.name;
      } else {
        session.channel.sendCancel({ taskId: attempt.taskId, attempt: attempt.attempt, reason: "the attempt is no longer current" });
      }
    }
    const until = this.clock.now() + this.options.leaseMs;
    await this.store.extendLeases(current.map((attempt) => ({ ...attempt, until })));
    for (const attempt of current) this.logger.info({ task_id: attempt.taskId, attempt: attempt.attempt, worker_id: session.workerId }, "Adopted a running attempt after reconnect");
  }

  handleWorkerMessage(session: WorkerSession, message: WorkerMessage): void {
    const now = this.clock.now();
    const wasSilent = now - session.lastSeen > this.options.leaseMs;
    session.lastSeen = now;
    // Silent for a lease, it got no new work (see claimRequests); heard again, it may.
    if (wasSilent) this.dispatcher.kick();
    switch (message.kind?.$case) {
      case "heartbeat":
        return;
      case "progress":
        this.track(this.recordProgress(session, message.kind.progress));
        return;
      case "results":
        for (const result of message.kind.results.results) this.track(this.recordResult(session, result));
        return;
      case "drain":
        session.draining = true;
        this.logger.info({ worker_id: session.workerId }, "Worker draining");
        return;
      case "register":
        this.logger.warn({ worker_id: session.workerId }, "Ignored a second register message on one stream");
        return;
      default:
        return;
    }
  }

  /** The worker's stream ended or broke. */
  workerDisconnected(session: WorkerSession, reason: string): void {
    this.dropWorker(session, reason);
  }

  private async recordProgress(session: WorkerSession, progress: TaskProgress): Promise<void> {
    const percent = Number.isFinite(progress.percent) ? Math.min(100, Math.max(0, progress.percent)) : 0;
    const message = progress.message.slice(0, limits.progressMessageMaxLength);
    const event = await this.store.progress({ taskId: progress.taskId, attempt: progress.attempt }, percent, message, this.clock.now());
    if (event === null) {
      this.logger.warn({ task_id: progress.taskId, attempt: progress.attempt, worker_id: session.workerId }, "Rejected progress of an attempt that is no longer current");
    }
  }

  private async recordResult(session: WorkerSession, result: TaskResult): Promise<void> {
    const ref = { taskId: result.taskId, attempt: result.attempt };
    const held = session.inFlight.get(attemptKey(ref));
    if (held) {
      session.inFlight.delete(attemptKey(ref));
      // A task held past the hold limit comes back while every slot still runs: hold no more there
      // until an attempt ends. A stopping worker's hand-backs change nothing (it gets no work anyway).
      session.holdingPaused = result.outcome === AttemptOutcome.ATTEMPT_OUTCOME_HANDED_BACK && !session.draining;
      this.dispatcher.kick();
    }
    let event: TaskEvent | null;
    if (result.outcome === AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED) {
      event = result.result.byteLength > limits.resultMaxBytes
        ? await this.failAttempt(ref, { error: `the result is ${result.result.byteLength} bytes; the limit is ${limits.resultMaxBytes}`, retryable: false }, held)
        : this.recorded(await this.store.complete(ref, result.result, this.clock.now()), held);
    } else if (result.outcome === AttemptOutcome.ATTEMPT_OUTCOME_RATE_LIMITED) {
      event = await this.deferRateLimited(session, ref, result);
    } else if (result.outcome === AttemptOutcome.ATTEMPT_OUTCOME_HANDED_BACK) {
      event = await this.handBack(session, ref, result.error);
    } else {
      event = await this.failAttempt(ref, describeFailure(result), held);
    }
    if (!event) this.logger.warn({ task_id: ref.taskId, attempt: ref.attempt, worker_id: session.workerId }, "Rejected the result of an attempt that is no longer current");
  }

  /**
   * The handler's upstream asked it to slow down: the task waits retry_after_ms without using a
   * retry, and its name is held back as long (on every Scheduler). Its `retrying` event reaches
   * committed() like a failure's, which arms the due timer for it.
   */
  private async deferRateLimited(session: WorkerSession, ref: AttemptRef, result: TaskResult): Promise<TaskEvent | null> {
    // A worker is trusted: a wait out of range is clamped, not refused (refusing would fail its stream).
    const delayMs = Math.min(maxRateLimitedDelayMs, Math.max(1, result.retryAfterMs));
    const message = `attempt ${ref.attempt} rate limited by its upstream; next attempt in ${(delayMs / 1000).toFixed(1)}s`;
    const event = await this.store.deferRateLimited(ref, delayMs, message, this.clock.now());
    if (event) {
      this.logger.info({
        task_id: ref.taskId, attempt: ref.attempt, worker_id: session.workerId, retry_after_ms: delayMs, reason: result.error || undefined,
        next_attempt_at: new Date(event.nextAttemptAt ?? 0).toISOString(),
      }, "Task attempt rate limited by its upstream; deferred");
    }
    return event;
  }

  /**
   * A worker gave back an attempt it did not finish (stopping) or did not start (held too long,
   * claim-ahead), as BullMQ counts a stalled job apart from its attempts: the task is due again at
   * once, without using a retry.
   */
  private async handBack(session: WorkerSession, ref: AttemptRef, reason: string): Promise<TaskEvent | null> {
    const why = reason.slice(0, limits.progressMessageMaxLength) || "no reason given";
    const message = `attempt ${ref.attempt} handed back by worker ${session.workerId} (${why}); queued again`;
    const event = await this.store.handBack(ref, message, this.clock.now());
    if (event) this.logger.info({ task_id: ref.taskId, attempt: ref.attempt, worker_id: session.workerId, reason: why }, "Task attempt handed back by its worker; queued again without using a retry");
    return event;
  }

  private async failAttempt(ref: AttemptRef, failure: AttemptFailure, held: Partial<HeldAttempt> | undefined): Promise<TaskEvent | null> {
    return this.recorded(await this.store.fail(ref, failure, this.clock.now(), this.backoff), held);
  }

  /**
   * What follows an outcome this Scheduler recorded; subscribers hear of it through the event feed.
   * `held`: what this Scheduler knows of the attempt (its name; when it assigned it), for the metrics.
   */
  private recorded(event: TaskEvent | null, held: Partial<HeldAttempt> | undefined): TaskEvent | null {
    if (event) {
      const durationMs = held?.assignedAt === undefined ? null : event.timestamp - held.assignedAt;
      this.metrics.attemptEnded(held?.name ?? unknownName, event.state, durationMs);
      this.logOutcome(event);
    }
    return event;
  }

  /**
   * Events committed by any Scheduler on this store: live subscribers hear of them; a retry or a
   * delayed task arms the promotion timer; an attempt that ended while a worker attached here still runs it
   * (cancelled, or expired by the maintenance leader) is stopped on that worker.
   */
  private committed(events: readonly TaskEvent[]): void {
    for (const event of events) {
      this.hub.publish(event);
      if ((event.state === "retrying" || event.state === "scheduled") && event.nextAttemptAt !== null) this.maintenance.dueAt(event.nextAttemptAt);
      if (event.state === "running" || event.state === "queued" || event.state === "scheduled" || event.workerId === null) continue;
      // The slot stays held until the worker reports the attempt stopped: its handler may still run.
      const session = this.registry.get(event.workerId);
      if (!session?.inFlight.has(attemptKey(event))) continue;
      const reason = event.state === "cancelled" ? "the task was cancelled" : (event.error ?? `the attempt ended (${event.state})`);
      session.channel.sendCancel({ taskId: event.taskId, attempt: event.attempt, reason });
    }
  }

  private logOutcome(event: TaskEvent): void {
    const fields = { task_id: event.taskId, attempt: event.attempt, worker_id: event.workerId ?? undefined };
    if (event.state === "succeeded") this.logger.info(fields, "Task succeeded");
    else if (event.state === "retrying") this.logger.info({ ...fields, error: event.error, next_attempt_at: new Date(event.nextAttemptAt ?? 0).toISOString() }, "Task attempt failed; retrying");
    else if (event.state === "failed") this.logger.info({ ...fields, error: event.error }, "Task failed");
  }

  /**
   * Forgets a worker whose stream ended. Its attempts are not failed here: their leases stop being
   * renewed and run out leaseMs after the worker's last message, unless it reconnects first and
   * reports them still running (then they carry on). The lease sweep retries the rest.
   */
  private dropWorker(session: WorkerSession, reason: string): void {
    if (!this.registry.remove(session)) return;
    this.logger.info({ worker_id: session.workerId, reason, attempts_held: session.inFlight.size, lease_ms: this.options.leaseMs }, "Worker disconnected");
  }

  // ---- time-driven work: worker silence, lease renewal, and the leader's maintenance ---------

  /** Re-arms itself even when a store call fails (a full disk), so leases still expire once writes succeed again. */
  private async sweep(): Promise<void> {
    try {
      await this.sweepOnce();
    } finally {
      if (this.state === "running") {
        this.sweepTimer = this.clock.setTimeout(() => this.track(this.sweep()), this.options.heartbeatIntervalMs);
      }
    }
  }

  private async sweepOnce(): Promise<void> {
    const now = this.clock.now();
    // Counting is a scan of the waiting tasks, so it runs every sweep only near the limit.
    if (this.sweeps % 30 === 0 || this.waitingEstimate > this.options.maxWaitingTasks / 2) this.waitingEstimate = await this.store.countWaiting();
    this.sweeps++;
    const renewals: LeaseRenewal[] = [];
    for (const session of this.registry.all()) {
      if (now - session.lastSeen > this.options.workerTimeoutMs) {
        // Dropped before the close, which reports itself as a stream error and would log that reason instead.
        this.dropWorker(session, `stopped answering (silent for ${now - session.lastSeen} ms)`);
        session.channel.close(`no message for ${now - session.lastSeen} ms; presumed dead`);
      } else {
        // Counted from the worker's last message, so a silent worker's leases run out on time.
        const until = session.lastSeen + this.options.leaseMs;
        for (const attempt of session.inFlight.values()) renewals.push({ taskId: attempt.taskId, attempt: attempt.attempt, until });
      }
    }
    // One statement for every attempt this Scheduler's workers hold.
    if (renewals.length > 0) await this.store.extendLeases(renewals);
    // The earliest tick, as any Scheduler last set it (changes made through others reach us here).
    await this.schedules.refresh();
    await this.maintenance.pass();
  }

  /** RESOURCE_EXHAUSTED when `count` more waiting tasks would pass --max-waiting-tasks (as far as the estimate knows). */
  private assertRoomFor(count: number): void {
    if (this.waitingEstimate + count > this.options.maxWaitingTasks) {
      throw new OrchestratorError(Code.ResourceExhausted, `the queue holds about ${this.waitingEstimate} waiting tasks; the limit is ${this.options.maxWaitingTasks}: retry later`);
    }
  }

  private assertRunning(): void {
    if (this.state !== "running") throw new OrchestratorError(Code.Unavailable, "the scheduler is shutting down; try again shortly");
  }

  /**
   * Keeps background writes visible, so errors are logged and stop() can wait for them. While the
   * store refuses writes (a full disk) every progress report and result fails: logged once per interval.
   */
  private track(promise: Promise<unknown>): void {
    this.pendingWrites.add(promise);
    promise
      .then(
        () => this.backgroundFailures.succeeded("Background scheduler writes succeed again"),
        (error: unknown) => this.backgroundFailures.failed(error),
      )
      .finally(() => this.pendingWrites.delete(promise));
  }
}

/** The name label of an attempt whose name this Scheduler did not learn (a result it never assigned). */
const unknownName = "(unknown)";

function describeFailure(result: TaskResult): AttemptFailure {
  switch (result.outcome) {
    case AttemptOutcome.ATTEMPT_OUTCOME_TIMED_OUT:
      return { error: result.error || "the attempt timed out", retryable: true };
    case AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED:
      return { error: result.error || "the worker stopped the attempt", retryable: true };
    default:
      return { error: result.error || "the handler failed without a message", retryable: result.retryable };
  }
}
