import { EventEmitter } from "node:events";
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import {
  AttemptOutcome, SchedulerClient, type SchedulerMessage, type TaskAssignment, type TaskResult, type WorkerMessage,
} from "../protocol/generated/orchestrator/v1/orchestrator.js";
import { version } from "../protocol/index.js";
import { TaskFailure } from "../errors/task-failure.js";
import { RateLimitedError } from "../errors/rate-limited.js";
import { Code, codeName, isCode } from "../errors/code.js";
import { keyInterceptors } from "../transport/credentials.js";
import { channelCredentials } from "../transport/tls.js";
import { randomStart } from "../transport/scheduler-addresses.js";
import { createLogger, type Logger } from "../logger.js";
import { encodeResult, type TaskContext } from "./handler.js";
import { endRunSpan, runInContext, startRunSpan } from "../tracing.js";
import { compileWorkerOptions, type CompiledWorkerOptions, type WorkerOptions } from "./options.js";

export type WorkerState = "idle" | "connecting" | "connected" | "draining" | "stopped";

/** What the "attempt-finished" event tells, after the task id: the attempt's task name, outcome and run time. */
export interface FinishedAttempt {
  name: string;
  outcome: AttemptOutcome;
  durationMs: number;
}

interface Attempt {
  readonly assignment: TaskAssignment;
  /** The attempt's `run <name>` span, ended when the attempt is reported. */
  span: Span | undefined;
  readonly key: string;
  readonly startedAt: number;
  readonly controller: AbortController;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

/** An assignment held beyond the worker's slots (claim-ahead), not started yet. */
interface HeldAssignment {
  readonly assignment: TaskAssignment;
  readonly key: string;
  readonly receivedAt: number;
  /** Hands it back once it has waited WorkerRegistered.max_hold_ms for a slot. */
  readonly timer: NodeJS.Timeout;
}

class AttemptAborted extends Error {
  override name = "AbortError";
}

/** How long results written on a stream are kept to be sent again if that stream breaks. */
const resendWindowMs = 10_000;
/** At most this many such results are kept. */
const resendMaxResults = 10_000;

/**
 * Runs handlers for a Scheduler over one bidirectional stream: registers its task names and
 * slots, runs what is assigned, and sends back progress, results and heartbeats. If the stream
 * breaks, running handlers go on and it reconnects with backoff, reporting what it runs so the
 * Scheduler adopts it. Given several Schedulers, it talks to one at a time, starting at a random
 * one (so workers spread), and a broken stream reconnects to the next in the list.
 */
export class Worker extends EventEmitter {
  state: WorkerState = "idle";
  readonly options: CompiledWorkerOptions;
  /** One channel per Scheduler address, in the order given: each resolves and verifies (TLS) its own host name. */
  private readonly clients: SchedulerClient[];
  /** Index of the Scheduler the worker talks to, or tries next. */
  private current: number;
  private stream: ClientDuplexStream<WorkerMessage, SchedulerMessage> | null = null;
  private readonly running = new Map<string, Attempt>();
  /** Claim-ahead: assignments beyond the free slots, oldest first, each started as a slot frees. */
  private readonly held = new Map<string, HeldAssignment>();
  /** From the Scheduler's WorkerRegistered: how long an assignment may be held; 0, none. */
  private maxHoldMs = 0;
  private outbox: TaskResult[] = [];
  /**
   * Results written on the current stream lately. A Scheduler killed right after receiving them may
   * not have recorded them, so after a reconnect they are sent again; recording one twice is
   * refused by the attempt fence, so the repeat is harmless.
   */
  private unconfirmed: Array<{ result: TaskResult; sentAt: number }> = [];
  private flushScheduled = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;

  private readonly logger: Logger;

  constructor(options: WorkerOptions, logger?: Logger) {
    super();
    this.logger = logger ?? createLogger({ level: "info", service: "worker" });
    this.options = compileWorkerOptions(options);
    this.reconnectDelay = this.options.reconnectInitialMs;
    const credentials = channelCredentials(this.options.tls);
    const channelOptions = {
      ...keyInterceptors(this.options.apiKey),
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": this.options.reconnectMaxMs,
      ...this.options.channelOptions,
    };
    // A channel connects on its first call only: the Schedulers not talked to cost nothing.
    this.clients = this.options.schedulerAddresses.map((address) => new SchedulerClient(address, credentials, channelOptions));
    this.current = randomStart(this.clients.length);
  }

  /** The Scheduler the worker is connected to, or connecting to. */
  get schedulerAddress(): string {
    return this.options.schedulerAddresses[this.current] ?? "";
  }

  get workerId(): string {
    return this.options.workerId;
  }

  runningAttempts(): Array<{ taskId: string; attempt: number; name: string; startedAt: number }> {
    return [...this.running.values()].map((a) => ({ taskId: a.assignment.taskId, attempt: a.assignment.attempt, name: a.assignment.name, startedAt: a.startedAt }));
  }

  start(): void {
    if (this.state !== "idle") return;
    this.connect();
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.state === "stopped") return;
    this.state = "connecting";
    let stream: ClientDuplexStream<WorkerMessage, SchedulerMessage>;
    try {
      stream = (this.clients[this.current] as SchedulerClient).connect();
    } catch (error) {
      // The channel was closed under a pending reconnect (the process is stopping): nothing to do.
      this.logger.debug({ worker_id: this.workerId, err: error }, "Worker not reconnecting: its channel is closed");
      this.state = "stopped";
      return;
    }
    this.stream = stream;
    stream.on("data", (message: SchedulerMessage) => this.handle(stream, message));
    stream.on("error", (error: ServiceError) => this.lost(stream, error.message, error.code));
    stream.on("end", () => this.lost(stream, "the scheduler ended the stream"));
    // Attempts still running (or held) from before a lost connection are reported, so the Scheduler
    // can adopt those still current (and count their slots) and cancel the others.
    const running = [
      ...this.runningAttempts().map((a) => ({ taskId: a.taskId, attempt: a.attempt, name: a.name, startedAtMs: a.startedAt })),
      ...[...this.held.values()].map(({ assignment, receivedAt }) => ({ taskId: assignment.taskId, attempt: assignment.attempt, name: assignment.name, startedAtMs: receivedAt })),
    ];
    const { slots, prefetch } = this.options;
    stream.write({
      kind: { $case: "register", register: { workerId: this.workerId, taskNames: Object.keys(this.options.handlers), slots, prefetch, version, running } },
    });
  }

  private handle(stream: ClientDuplexStream<WorkerMessage, SchedulerMessage>, message: SchedulerMessage): void {
    if (stream !== this.stream) return;
    switch (message.kind?.$case) {
      case "registered": {
        this.state = "connected";
        this.reconnectDelay = this.options.reconnectInitialMs;
        clearInterval(this.heartbeat);
        const interval = Math.max(10, message.kind.registered.heartbeatIntervalMs);
        this.maxHoldMs = message.kind.registered.maxHoldMs;
        this.heartbeat = setInterval(() => stream.write({ kind: { $case: "heartbeat", heartbeat: { sentAtMs: Date.now() } } }), interval);
        this.logger.info({ worker_id: this.workerId, scheduler: this.schedulerAddress }, "Worker registered with the scheduler");
        this.flush();
        this.emit("connected");
        return;
      }
      case "assign":
        for (const assignment of message.kind.assign.tasks) {
          // A Scheduler that knows no claim-ahead never assigns beyond the slots: run what it sends.
          if (this.running.size < this.options.slots || this.maxHoldMs <= 0) this.run(assignment);
          else this.hold(assignment);
        }
        return;
      case "cancel": {
        const { taskId, attempt, reason } = message.kind.cancel;
        const key = `${taskId}#${attempt}`;
        const running = this.running.get(key);
        const held = this.held.get(key);
        if (running) this.abort(running, AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED, `cancelled: ${reason}`);
        else if (held) this.release(held, AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED, `cancelled before it started: ${reason}`);
        // Not running here (already reported, or never arrived): say so, so the Scheduler frees the slot.
        else this.queueResult({ taskId, attempt, outcome: AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED, result: Buffer.alloc(0), error: `not running on this worker: ${reason}`, retryable: true, retryAfterMs: 0 });
        return;
      }
      default:
        return;
    }
  }

  private lost(stream: ClientDuplexStream<WorkerMessage, SchedulerMessage>, reason: string, code?: number): void {
    if (stream !== this.stream) return;
    this.stream = null;
    clearInterval(this.heartbeat);
    // Running attempts go on and their results wait in the outbox: after reconnecting, the
    // Scheduler takes those whose attempt is still current and rejects the rest (fencing).
    const sentLately = this.unconfirmed.filter((entry) => Date.now() - entry.sentAt <= resendWindowMs).map((entry) => entry.result);
    this.outbox = [...sentLately, ...this.outbox];
    this.unconfirmed = [];
    this.emit("disconnected", reason);
    if (this.state === "stopped") return;
    this.state = "connecting";
    const lostAt = this.schedulerAddress;
    // The next Scheduler of the list takes over (the same one when there is only one); it adopts
    // the attempts reported in the register message, as the same Scheduler would after a restart.
    this.current = (this.current + 1) % this.clients.length;
    const where = { worker_id: this.workerId, scheduler: lostAt, next_scheduler: this.schedulerAddress, retry_in_ms: this.reconnectDelay };
    if (code === Code.Unauthenticated || code === Code.PermissionDenied) {
      // Still retried: the Scheduler may be restarted with this key added (rotation).
      this.logger.error({ ...where, code: isCode(code) ? codeName(code) : code, reason },
        "The scheduler refused this worker's key; check ORCHESTRATOR_WORKER_KEY or --worker-key-file");
    } else {
      this.logger.warn({ ...where, reason }, "Lost the scheduler stream; reconnecting");
    }
    this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectDelay);
    this.reconnectDelay = Math.min(this.options.reconnectMaxMs, this.reconnectDelay * 2);
  }

  private hold(assignment: TaskAssignment): void {
    const key = `${assignment.taskId}#${assignment.attempt}`;
    const held: HeldAssignment = {
      assignment, key, receivedAt: Date.now(),
      // Cleared when it starts or is released, so it fires only for an assignment still held.
      timer: setTimeout(() => this.release(held, AttemptOutcome.ATTEMPT_OUTCOME_HANDED_BACK, `held ${this.maxHoldMs} ms without a free slot`), this.maxHoldMs),
    };
    this.held.set(key, held);
  }

  /** Ends a held assignment without running it. */
  private release(held: HeldAssignment, outcome: AttemptOutcome, message: string): void {
    const { taskId, attempt } = held.assignment;
    clearTimeout(held.timer);
    this.held.delete(held.key);
    this.queueResult({ taskId, attempt, outcome, result: Buffer.alloc(0), error: message, retryable: true, retryAfterMs: 0 });
  }

  /** A slot freed: the oldest held assignment starts in it, its timeout counted from now. */
  private startHeld(): void {
    if (this.state === "draining" || this.state === "stopped") return;
    for (const held of this.held.values()) {
      if (this.running.size >= this.options.slots) return;
      clearTimeout(held.timer);
      this.held.delete(held.key);
      this.run(held.assignment);
    }
  }

  private run(assignment: TaskAssignment): void {
    const key = `${assignment.taskId}#${assignment.attempt}`;
    const attempt: Attempt = { assignment, key, span: undefined, startedAt: Date.now(), controller: new AbortController(), timer: undefined, done: false };
    this.running.set(key, attempt);
    const log = this.logger.child({ task_id: assignment.taskId, attempt: assignment.attempt, worker_id: this.workerId });
    const handler = this.options.handlers[assignment.name];
    if (!handler) {
      this.finish(attempt, { outcome: AttemptOutcome.ATTEMPT_OUTCOME_FAILED, error: `worker ${this.workerId} has no handler named "${assignment.name}"`, retryable: true });
      return;
    }
    attempt.timer = setTimeout(() => {
      this.abort(attempt, AttemptOutcome.ATTEMPT_OUTCOME_TIMED_OUT, `the attempt timed out after ${assignment.timeoutMs / 1000} s`);
    }, assignment.timeoutMs);
    const context: TaskContext = {
      taskId: assignment.taskId, name: assignment.name, attempt: assignment.attempt, maxRetries: assignment.maxRetries,
      payload: assignment.payload, signal: attempt.controller.signal, log,
      progress: (percent, message = "") => this.progress(attempt, percent, message),
      rateLimited: (retryAfterMs, message) => new RateLimitedError(retryAfterMs, message),
    };
    log.debug("Task started");
    const run = startRunSpan(assignment, this.workerId);
    attempt.span = run.span;
    // The handler, and every callback it schedules, runs with the run span active.
    runInContext(run.context, () => Promise.resolve().then(() => handler(context)))
      .then(
        (value) => this.finish(attempt, { outcome: AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, result: encodeResult(value) }),
        (error: unknown) => this.finish(attempt, RateLimitedError.is(error)
          ? { outcome: AttemptOutcome.ATTEMPT_OUTCOME_RATE_LIMITED, error: error.message, retryable: true, retryAfterMs: error.retryAfterMs }
          : {
            outcome: AttemptOutcome.ATTEMPT_OUTCOME_FAILED,
            error: error instanceof Error ? error.message : String(error),
            retryable: TaskFailure.isRetryable(error),
          }),
      )
      .catch((error: unknown) => this.finish(attempt, { outcome: AttemptOutcome.ATTEMPT_OUTCOME_FAILED, error: `the result could not be encoded: ${String(error)}`, retryable: false }));
  }

  /** Tells the handler to stop and reports the attempt at once, without waiting for the handler. */
  private abort(attempt: Attempt, outcome: AttemptOutcome, message: string): void {
    if (attempt.done) return;
    attempt.controller.abort(new AttemptAborted(message));
    this.finish(attempt, { outcome, error: message, retryable: true });
  }

  private finish(attempt: Attempt, result: Omit<TaskResult, "taskId" | "attempt" | "result" | "error" | "retryable" | "retryAfterMs"> & Partial<TaskResult>): void {
    if (attempt.done) return;
    attempt.done = true;
    clearTimeout(attempt.timer);
    this.running.delete(attempt.key);
    this.queueResult({ taskId: attempt.assignment.taskId, attempt: attempt.assignment.attempt, result: Buffer.alloc(0), error: "", retryable: false, retryAfterMs: 0, ...result });
    if (attempt.span) endRunSpan(attempt.span, result.outcome, result.error);
    this.logger.debug({ task_id: attempt.assignment.taskId, worker_id: this.workerId, outcome: AttemptOutcome[result.outcome] }, "Task attempt finished");
    const finished: FinishedAttempt = { name: attempt.assignment.name, outcome: result.outcome, durationMs: Date.now() - attempt.startedAt };
    this.emit("attempt-finished", attempt.assignment.taskId, finished);
    if (this.held.size > 0) this.startHeld();
  }

  /** Results leave in one message per event-loop turn. */
  private queueResult(result: TaskResult): void {
    this.outbox.push(result);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || !this.stream || (this.state !== "connected" && this.state !== "draining")) return;
    this.stream.write({ kind: { $case: "results", results: { results: this.outbox } } });
    const now = Date.now();
    for (const result of this.outbox) this.unconfirmed.push({ result, sentAt: now });
    while ((this.unconfirmed[0] && now - this.unconfirmed[0].sentAt > resendWindowMs) || this.unconfirmed.length > resendMaxResults) this.unconfirmed.shift();
    this.outbox = [];
  }

  private progress(attempt: Attempt, percent: number, message: string): void {
    if (attempt.done || !this.stream) return;
    this.stream.write({
      kind: { $case: "progress", progress: { taskId: attempt.assignment.taskId, attempt: attempt.assignment.attempt, percent, message: String(message) } },
    });
  }

  /** Takes no new work, lets running tasks finish within the grace period, hands back the rest, closes. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    clearTimeout(this.reconnectTimer);
    const stream = this.stream;
    if (stream && this.state === "connected") {
      this.state = "draining";
      stream.write({ kind: { $case: "drain", drain: {} } });
      // What it holds and has not started goes back at once, for other workers.
      for (const held of [...this.held.values()]) this.release(held, AttemptOutcome.ATTEMPT_OUTCOME_HANDED_BACK, "the worker shut down before the attempt started");
      await this.waitForIdle(this.options.shutdownGraceMs);
      for (const attempt of [...this.running.values()]) {
        this.abort(attempt, AttemptOutcome.ATTEMPT_OUTCOME_HANDED_BACK, "the worker shut down before the attempt finished");
      }
      this.flush();
    }
    this.state = "stopped";
    // A stream lost while draining may have armed a reconnect after the one cleared above.
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeat);
    // Without a connection nothing can be handed back: stop the handlers; their leases run out.
    for (const attempt of [...this.running.values()]) this.abort(attempt, AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED, "the worker stopped while disconnected");
    for (const held of [...this.held.values()]) clearTimeout(held.timer);
    this.held.clear();
    if (stream) {
      const closed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        stream.once("close", () => { clearTimeout(timer); resolve(); });
        stream.once("error", () => { clearTimeout(timer); resolve(); });
      });
      stream.end();
      await closed;
    }
    this.stream = null;
    for (const client of this.clients) client.close();
  }

  private waitForIdle(timeoutMs: number): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const check = (): void => {
        if (this.running.size === 0) done();
      };
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.on("attempt-finished", check);
      this.on("disconnected", done);
      void timer;
    });
  }
}
