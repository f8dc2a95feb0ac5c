import { Metadata } from "@grpc/grpc-js";
import { GatewayClient, TaskState as ProtoTaskState, type ProgressUpdate, type SubmitTaskRequest } from "./protocol/generated/orchestrator/v1/orchestrator.js";
import { isTerminal, stateFromProto, stateToProto, type TaskState } from "./protocol/states.js";
import {
  toConcurrencyLimitInfo, toPausedQueueInfo, toTaskInfo, toTaskUpdate, toWorkerSummary, type ClearConcurrencyLimitResult,
  type ConcurrencyLimitInfo, type PausedQueueInfo, type PauseQueueResult, type ResumeQueueResult, type TaskInfo, type TaskPage, type TaskUpdate, type WorkerSummary,
} from "./types.js";
import { Code } from "./errors/code.js";
import { OrchestratorError } from "./errors/orchestrator-error.js";
import { encodeResult } from "./worker/handler.js";
import { SubmitPipeline } from "./submit-pipeline.js";
import { endSubmitSpan, startSubmitSpan } from "./tracing.js";
import { keyInterceptors } from "./transport/credentials.js";
import { channelCredentials, type ClientTlsOptions } from "./transport/tls.js";
import { callUnary, type UnaryMethod } from "./transport/grpc-call.js";
import { ScheduleClient } from "./schedules.js";
import { TaskEventStream, type EventsFilter } from "./task-events.js";
import { toRateLimitInfo, type ClearRateLimitResult, type RateLimitInfo, type RateLimitSpec } from "./rate-limits.js";

export interface ClientOptions {
  /** host:port of the Gateway. */
  address?: string;
  /** Deadline of each unary call. */
  timeoutMs?: number;
  /** Pipeline submit() over one stream (default true); false sends one unary SubmitTask each. */
  pipeline?: boolean;
  /** API key (role client), sent as `authorization: Bearer <key>` on every call. */
  apiKey?: string;
  /** TLS to the Gateway: `ca` to trust (default: system roots), `cert` and `key` for mutual TLS; PEM buffers or file paths. */
  tls?: ClientTlsOptions;
}

export interface TaskSpec {
  name: string;
  /** Bytes as they are, a string as UTF-8, anything else as JSON. */
  payload?: unknown;
  description?: string;
  timeoutSecs?: number;
  maxRetries?: number;
  retryBackoffMs?: number;
  /** Repeating a submit with the same key (within the Scheduler's retention) creates no second task. */
  idempotencyKey?: string;
  /**
   * Do not start before this time (a Date or Unix milliseconds), at most one year ahead; a time not
   * in the future means now. The task is `scheduled` until then. Not together with delayMs.
   */
  runAt?: Date | number;
  /** Do not start before this many milliseconds after the Scheduler accepts the task (0 to one year). Not together with runAt. */
  delayMs?: number;
  /** -100 (least urgent) to 100 (most urgent), default 0: among queued tasks of one name the highest starts first, then the oldest. */
  priority?: number;
  /**
   * 1-255 UTF-8 bytes (e.g. a customer id): tasks of one name sharing a key run at most the key's
   * bound at once (concurrencyLimit, else the name's setConcurrencyLimit, else no bound), and the
   * name's keys are served in turn.
   */
  concurrencyKey?: string;
  /** 1-100,000: this key's bound, overriding the name's. Only together with concurrencyKey. */
  concurrencyLimit?: number;
}

export interface Submitted {
  taskId: string;
  /** Unix seconds at which the Gateway acknowledged the task (it is durable by then). */
  timestamp: number;
}

export interface SubscribeOptions {
  /** Resume after this sequence number. */
  afterSequence?: number;
  signal?: AbortSignal;
  /** Reconnect and resume when the stream breaks (default true). */
  resume?: boolean;
}

export interface ListOptions {
  state?: TaskState;
  name?: string;
  pageSize?: number;
  pageToken?: string;
}

/** `traceContext`: the W3C headers of the submit's span (see tracing.ts); empty when not traced. */
export function toTaskRequest(spec: TaskSpec, traceContext: Record<string, string> = {}): SubmitTaskRequest {
  return {
    name: spec.name, description: spec.description ?? "", payload: encodeResult(spec.payload),
    timeoutSecs: spec.timeoutSecs, maxRetries: spec.maxRetries, retryBackoffMs: spec.retryBackoffMs,
    idempotencyKey: spec.idempotencyKey ?? "",
    runAtMs: spec.runAt === undefined ? undefined : spec.runAt instanceof Date ? spec.runAt.getTime() : spec.runAt,
    delayMs: spec.delayMs, priority: spec.priority, concurrencyKey: spec.concurrencyKey, concurrencyLimit: spec.concurrencyLimit,
    traceContext,
  };
}

/** The TypeScript client of the Gateway. */
export class OrchestratorClient {
  readonly address: string;
  private readonly gateway: GatewayClient;
  private readonly timeoutMs: number;
  private readonly pipeline: SubmitPipeline | null;
  /** Cron schedules: create, get, list, update, pause, resume, delete. */
  readonly schedules: ScheduleClient;

  constructor(options: ClientOptions = {}) {
    this.address = options.address ?? "127.0.0.1:50051";
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.gateway = new GatewayClient(this.address, channelCredentials(options.tls), {
      ...keyInterceptors(options.apiKey),
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
    this.pipeline = options.pipeline === false ? null : new SubmitPipeline(() => this.gateway.submitStream(new Metadata()), { peer: "the gateway" });
    this.schedules = new ScheduleClient(this.gateway, (method, request) => this.call(method, request));
  }

  private async call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    try {
      return await callUnary(this.gateway, method, request, this.timeoutMs);
    } catch (error) {
      throw OrchestratorError.from(error);
    }
  }

  /**
   * Resolves once the task is durable; concurrent calls share one stream. With an OpenTelemetry SDK
   * registered, the submit is a `submit <name>` span under the active one, and the task's handler
   * runs in a span that is its child.
   */
  submit(spec: TaskSpec): Promise<Submitted> {
    const { span, traceContext } = startSubmitSpan(spec.name);
    const request = toTaskRequest(spec, traceContext);
    return endSubmitSpan(span, this.pipeline ? this.pipeline.submit(request) : this.call(this.gateway.submitTask, request));
  }

  /** Submits all the tasks or none, in one call; each is traced as submit() traces one. */
  async submitMany(specs: readonly TaskSpec[]): Promise<Submitted[]> {
    const spans = specs.map((spec) => startSubmitSpan(spec.name));
    const answer = this.call(this.gateway.submitTasks, { tasks: specs.map((spec, index) => toTaskRequest(spec, spans[index]?.traceContext)) });
    return Promise.all(spans.map(({ span }, index) => endSubmitSpan(span, answer.then(({ tasks }) => {
      const submitted = tasks[index];
      if (!submitted) throw new OrchestratorError(Code.Internal, `the gateway answered ${tasks.length} of ${specs.length} tasks`);
      return submitted;
    }))));
  }

  async get(taskId: string): Promise<TaskInfo> {
    const { task } = await this.call(this.gateway.getTask, { taskId });
    if (!task) throw new OrchestratorError(Code.Internal, "the gateway answered without a task");
    return toTaskInfo(task);
  }

  async list(options: ListOptions = {}): Promise<TaskPage> {
    const page = await this.call(this.gateway.listTasks, {
      state: options.state ? stateToProto(options.state) : ProtoTaskState.TASK_STATE_UNSPECIFIED,
      name: options.name ?? "", pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? "", filter: undefined,
    });
    return { tasks: page.tasks.map(toTaskInfo), nextPageToken: page.nextPageToken || undefined };
  }

  /** Cancels the task; `cancelled` is false when it had already ended (`state` says how). */
  async cancel(taskId: string, reason = ""): Promise<{ state: TaskState; cancelled: boolean }> {
    const answer = await this.call(this.gateway.cancelTask, { taskId, reason });
    const state = stateFromProto(answer.state);
    if (!state) throw new OrchestratorError(Code.Internal, `the gateway answered an unknown task state ${answer.state}`);
    return { state, cancelled: answer.cancelled };
  }

  async workers(): Promise<WorkerSummary[]> {
    return (await this.call(this.gateway.listWorkers, {})).workers.map(toWorkerSummary);
  }

  /**
   * Pauses a queue (the tasks of one name) on every Scheduler: submits are still accepted and
   * stored, no task of the name starts, running attempts finish. Pausing a paused queue changes
   * nothing (`wasPaused` is true, and the first pause's reason and time are kept).
   */
  async pauseQueue(name: string, options: { reason?: string } = {}): Promise<PauseQueueResult> {
    const answer = await this.call(this.gateway.pauseQueue, { name, reason: options.reason ?? "" });
    if (!answer.queue) throw new OrchestratorError(Code.Internal, "the gateway answered PauseQueue without the queue");
    return { queue: toPausedQueueInfo(answer.queue), wasPaused: answer.wasPaused };
  }

  /** Resumes a paused queue: its waiting tasks start again. `wasPaused` is false when it was not paused (nothing changed). */
  async resumeQueue(name: string): Promise<ResumeQueueResult> {
    const answer = await this.call(this.gateway.resumeQueue, { name });
    return { wasPaused: answer.wasPaused, queue: answer.queue ? toPausedQueueInfo(answer.queue) : null };
  }

  /** The paused queues, by name. */
  async listPausedQueues(): Promise<PausedQueueInfo[]> {
    return (await this.call(this.gateway.listPausedQueues, {})).queues.map(toPausedQueueInfo);
  }

  /**
   * Bounds the attempts of each concurrency key of a task name running at once (1-100,000), on
   * every Scheduler. Tasks submitted with their own concurrencyLimit keep theirs.
   */
  async setConcurrencyLimit(name: string, maxRunning: number): Promise<ConcurrencyLimitInfo> {
    const answer = await this.call(this.gateway.setConcurrencyLimit, { name, maxRunning });
    if (!answer.limit) throw new OrchestratorError(Code.Internal, "the gateway answered SetConcurrencyLimit without the limit");
    return toConcurrencyLimitInfo(answer.limit);
  }

  /** Removes a name's bound (its keys are then unbounded). `cleared` is false when it had none (nothing changed). */
  async clearConcurrencyLimit(name: string): Promise<ClearConcurrencyLimitResult> {
    const answer = await this.call(this.gateway.clearConcurrencyLimit, { name });
    return { cleared: answer.cleared, limit: answer.limit ? toConcurrencyLimitInfo(answer.limit) : null };
  }

  /** The per-name concurrency limits, by name. */
  async listConcurrencyLimits(): Promise<ConcurrencyLimitInfo[]> {
    return (await this.call(this.gateway.listConcurrencyLimits, {})).limits.map(toConcurrencyLimitInfo);
  }

  /**
   * Limits how fast tasks of a name start, on every Scheduler: at most `maxStarts` per window of
   * `perMs` (1,000 to 86,400,000 ms); tasks over the limit wait, queued. Replaces any limit the name had.
   */
  async setRateLimit(name: string, spec: RateLimitSpec): Promise<RateLimitInfo> {
    const answer = await this.call(this.gateway.setRateLimit, { name, maxStarts: spec.maxStarts, perMs: spec.perMs, perKey: spec.perKey ?? false });
    if (!answer.limit) throw new OrchestratorError(Code.Internal, "the gateway answered SetRateLimit without the limit");
    return toRateLimitInfo(answer.limit);
  }

  /** Removes a name's rate limit. `cleared` is false when it had none (nothing changed). */
  async clearRateLimit(name: string): Promise<ClearRateLimitResult> {
    const answer = await this.call(this.gateway.clearRateLimit, { name });
    return { cleared: answer.cleared, limit: answer.limit ? toRateLimitInfo(answer.limit) : null };
  }

  /** The rate limits, by name. */
  async listRateLimits(): Promise<RateLimitInfo[]> {
    return (await this.call(this.gateway.listRateLimits, {})).limits.map(toRateLimitInfo);
  }

  /**
   * The task's updates: those recorded so far, then live ones, ending after the terminal one.
   * A broken stream is reopened after the last sequence seen, so no update is lost or repeated.
   */
  async *subscribe(taskId: string, options: SubscribeOptions = {}): AsyncGenerator<TaskUpdate> {
    let last = options.afterSequence ?? 0;
    let failures = 0;
    let ended = false;
    for (;;) {
      const stream = this.gateway.subscribeProgress({ taskId, afterSequence: last });
      const onAbort = (): void => stream.cancel();
      options.signal?.addEventListener("abort", onAbort);
      try {
        for await (const update of stream as AsyncIterable<ProgressUpdate>) {
          failures = 0;
          if (ended || update.sequence <= last) continue;
          last = update.sequence;
          const typed = toTaskUpdate(update);
          yield typed;
          // The server ends the stream right after the terminal update: read on to that end rather
          // than cancel, since every cancelled stream is an RST_STREAM the server counts (Node's
          // HTTP/2 rapid-reset guard closes a connection that resets about 1000 streams quickly).
          if (isTerminal(typed.state)) ended = true;
        }
        return;
      } catch (error) {
        if (ended) return;
        const failure = OrchestratorError.from(error);
        if (options.signal?.aborted) throw new OrchestratorError(Code.Cancelled, "the subscription was aborted");
        const resumable = options.resume !== false && failure.code === Code.Unavailable && failures < 30;
        if (!resumable) throw failure;
        failures++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** failures)));
      } finally {
        options.signal?.removeEventListener("abort", onAbort);
        stream.cancel();
      }
    }
  }

  /**
   * Every task's events (or those the filter keeps), in the store's commit order, from now, from
   * the oldest retained (`fromStart`) or right after a cursor (`after`), until closed or aborted.
   * A lost stream is resumed after the last cursor seen, so nothing still retained is missed or
   * repeated. The call is made at once: `await stream.ready` before submitting what it is to report.
   * One stream serves many tasks: to wait for a batch, watch their name and count terminal states.
   */
  events(filter: EventsFilter = {}): TaskEventStream {
    return new TaskEventStream(this.gateway, filter);
  }

  /** Follows the task to its end and returns the terminal update. */
  async waitForResult(taskId: string, options: SubscribeOptions & { onUpdate?: (update: TaskUpdate) => void } = {}): Promise<TaskUpdate> {
    let terminal: TaskUpdate | undefined;
    for await (const update of this.subscribe(taskId, options)) {
      options.onUpdate?.(update);
      if (isTerminal(update.state)) terminal = update;
    }
    if (!terminal) throw new OrchestratorError(Code.Unavailable, `the progress stream of task ${taskId} ended before the task did`);
    return terminal;
  }

  close(): void {
    this.pipeline?.close();
    this.gateway.close();
  }
}
