import { Metadata, type ClientReadableStream, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";
import {
  type GatewayServer, type ProgressUpdate, type SubmitTaskRequest, type SubmitTaskResponse, type SubscribeProgressRequest, type TaskEventUpdate,
  type WatchTasksRequest,
} from "orchestrator-ts-client/internal";
import { limits } from "../scheduler/limits.js";
import { SubmitPipeline } from "orchestrator-ts-client/internal";
import { serveSubmitStream, type SubmitOutcome } from "../util/submit-stream-server.js";
import { SchedulerWatch, type ProgressSink } from "./scheduler-watch.js";
import { version } from "orchestrator-ts-client/internal";
import { Code } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { drained, serverStream, unary } from "../util/grpc-handlers.js";
import type { Logger } from "orchestrator-ts-client/internal";
import { keyInterceptors } from "orchestrator-ts-client/internal";
import { channelCredentials } from "orchestrator-ts-client/internal";
import { describeSchedulers, type SchedulerClient, type UnaryMethod } from "orchestrator-ts-client/internal";
import { SchedulerPool } from "./scheduler-pool.js";
import { relayTaskEvents } from "./task-events-relay.js";
import type { CompiledGatewayOptions } from "./options.js";
import { traceForward } from "../tracing/spans.js";
import { traceHeaders, withTraceHeaders } from "./trace-headers.js";
import { clientKeyId, gatewayClientKeyId, KeyRing, keyIdHeader } from "../util/auth.js";

/**
 * The public front door. It holds no task state: every call goes to a Scheduler over one
 * multiplexed HTTP/2 connection per Scheduler, and errors come back with the Scheduler's status
 * code. Given several Schedulers, calls and streams go to the connected ones (SchedulerPool), and
 * a broken submit or watch stream opens again on another.
 */
export class Gateway {
  private readonly schedulers: SchedulerPool;
  /** "the scheduler at a" or "the schedulers at a, b", for messages. */
  private readonly schedulerNames: string;
  /** Every submit reaching the Gateway in one turn, from any client, goes up in one stream message. */
  private readonly submits: SubmitPipeline;
  /** Every client's SubscribeProgress, as a subscription on one Watch stream to the Scheduler. */
  private readonly watch: SchedulerWatch;
  /** Client connections with SubscribeProgress streams open: how many, and the group that stands for the connection upstream. */
  private readonly subscribers = new Map<string, { open: number; group: number }>();
  private nextGroup = 1;
  /** WatchTasks streams open per client connection. */
  private readonly taskWatchers = new Map<string, number>();

  /** `keys`: the Gateway's own, to tell the id of the key a client called with (operator actions). */
  constructor(private readonly options: CompiledGatewayOptions, private readonly logger: Logger, private readonly keys: KeyRing = KeyRing.empty) {
    this.schedulers = new SchedulerPool(options.schedulerAddresses, channelCredentials(options.schedulerTls), {
      ...keyInterceptors(options.schedulerApiKey),
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
    }, logger);
    this.schedulerNames = describeSchedulers(options.schedulerAddresses);
    this.submits = new SubmitPipeline(() => this.schedulers.openStream("submit", (client) => client.submitStream(new Metadata())), {
      peer: this.schedulerNames,
      answerTimeoutMs: options.forwardTimeoutMs,
    });
    this.watch = new SchedulerWatch(() => this.schedulers.openStream("watch", (client) => client.watch(new Metadata())), (error) => this.fromScheduler(error), logger);
  }

  /** Null when some Scheduler is connected (the Gateway can serve calls); otherwise why not. */
  notReady(): string | null {
    return this.schedulers.connectedCount() > 0 ? null : `not connected to ${this.schedulerNames}`;
  }

  close(): void {
    this.submits.close();
    this.watch.close();
    this.schedulers.close();
  }

  /**
   * `idempotent`: the call may be made again on another Scheduler when the first died under it.
   * `timeoutMs` replaces the forward timeout (a bulk action); `metadata` goes up with the call.
   */
  private async forward<Req, Res>(
    method: (scheduler: SchedulerClient) => UnaryMethod<Req, Res>, request: Req, idempotent: boolean, options: { timeoutMs?: number; metadata?: Metadata } = {},
  ): Promise<Res> {
    const timeoutMs = options.timeoutMs ?? this.options.forwardTimeoutMs;
    try {
      return await this.schedulers.unary(method, request, timeoutMs, idempotent, options.metadata);
    } catch (error) {
      throw this.fromScheduler(error, timeoutMs);
    }
  }

  /**
   * An operator action, forwarded with the id of the client's key (never the key) for the
   * Scheduler's log. A bulk one gets the bulk deadline: it works through its tasks in batches,
   * which over many tasks takes longer than the forward timeout allows.
   */
  private forwardAction<Req, Res>(
    method: (scheduler: SchedulerClient) => UnaryMethod<Req, Res>, request: Req, keyId: string | undefined, bulk: boolean, idempotent = false,
  ): Promise<Res> {
    const metadata = new Metadata();
    if (keyId !== undefined) metadata.set(keyIdHeader, keyId);
    const timeoutMs = bulk ? Math.max(this.options.forwardTimeoutMs, limits.bulkActionTimeoutMs) : undefined;
    return this.forward(method, request, idempotent, { metadata, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  }

  /** One submit through the upstream pipeline, with the Scheduler's failures explained as for forwarded calls. */
  private submit(task: SubmitTaskRequest): Promise<SubmitTaskResponse> {
    return traceForward(task, () => this.submits.submit(task).catch((error: unknown) => {
      throw this.fromScheduler(error);
    }));
  }

  private submitBatch(tasks: SubmitTaskRequest[]): Promise<SubmitOutcome[]> {
    return Promise.all(tasks.map((task) => this.submit(task).catch((error: unknown) => OrchestratorError.from(error))));
  }

  /**
   * What a failed call to the Scheduler tells the client: connection trouble and the Gateway's own
   * refused credential are explained; anything else (a refusal of the request) passes through.
   */
  private fromScheduler(reason: unknown, timeoutMs = this.options.forwardTimeoutMs): OrchestratorError {
    const error = OrchestratorError.from(reason);
    const details = error.rawMessage;
    if (error.code === Code.Unavailable) {
      const unreachable = this.options.schedulerAddresses.length === 1 ? "is unreachable" : "are unreachable";
      return new OrchestratorError(Code.Unavailable, `${this.schedulerNames} ${unreachable} (${details}); start it with "orchestrator scheduler" or check --scheduler`, { cause: error });
    }
    if (error.code === Code.DeadlineExceeded) {
      return new OrchestratorError(Code.Unavailable, `${this.schedulerNames} did not answer within ${timeoutMs} ms`, { cause: error });
    }
    if (error.code === Code.Unauthenticated || error.code === Code.PermissionDenied) {
      // The Gateway's own credential was refused: the client can do nothing about it, and must learn
      // nothing about that key or why the Scheduler refused it. The operator reads both in this log
      // (the Scheduler's reason names roles and methods, never a key).
      this.logger.error({ code: error.code, reason: details }, "The scheduler refused the Gateway's key; check ORCHESTRATOR_GATEWAY_KEY or --gateway-key-file");
      return new OrchestratorError(Code.Internal, "the gateway could not complete the call because of an error on its side; its operator finds the cause in the gateway's log", { cause: error });
    }
    return error;
  }

  /**
   * The dashboard's way to the Schedulers (its HTTP API, dashboard/): one unary call forwarded as a
   * gRPC client's would be, with the Scheduler's failures explained the same way.
   */
  call<Req, Res>(method: (scheduler: SchedulerClient) => UnaryMethod<Req, Res>, request: Req, idempotent: boolean): Promise<Res> {
    return this.forward(method, request, idempotent);
  }

  /**
   * For the dashboard: an operator action, forwarded as a gRPC client's is (the bulk deadline for a
   * bulk one), with the id of the client key the browser presented for the Scheduler's log.
   */
  callAction<Req, Res>(
    method: (scheduler: SchedulerClient) => UnaryMethod<Req, Res>, request: Req, clientKey: string | undefined, bulk: boolean, idempotent = false,
  ): Promise<Res> {
    return this.forwardAction(method, request, clientKeyId(clientKey, this.keys), bulk, idempotent);
  }

  /**
   * For the dashboard: a WatchTasks stream from the next Scheduler in turn, and how to explain its
   * failure. The caller relays it and cancels it when its reader goes away.
   */
  openTaskEvents(request: WatchTasksRequest): { upstream: ClientReadableStream<TaskEventUpdate>; explain: (error: unknown) => OrchestratorError } {
    return { upstream: this.schedulers.pick().client.watchTasks(request, new Metadata()), explain: (error) => this.fromScheduler(error) };
  }

  /**
   * For the dashboard: one task's progress to `sink`, as a subscription on the Gateway's one Watch
   * stream, counted against --max-subscribers like a gRPC client's. Settles as relayProgress does.
   */
  followProgress(taskId: string, afterSequence: number, sink: ProgressSink, signal: AbortSignal): Promise<void> {
    if (this.watch.size >= this.options.maxSubscribers) {
      return Promise.reject(new OrchestratorError(Code.ResourceExhausted, `the gateway already serves ${this.watch.size} progress subscriptions; the limit is ${this.options.maxSubscribers}: retry later, or raise --max-subscribers`));
    }
    return this.watch.subscribe({ taskId, afterSequence, group: this.nextGroup++ }, sink, signal);
  }

  /**
   * Relays one task's progress from the Scheduler, as a subscription on the Gateway's one Watch
   * stream. When the client reads slower than updates come, the subscription's credit runs out and
   * the Scheduler waits for it, so nothing piles up here and no other subscription waits.
   */
  private relayProgress(request: SubscribeProgressRequest, call: ServerWritableStream<SubscribeProgressRequest, ProgressUpdate>, signal: AbortSignal): Promise<void> {
    const peer = call.getPeer();
    const connection = this.subscribers.get(peer) ?? { open: 0, group: this.nextGroup++ };
    if (connection.open >= limits.subscribersPerConnection) {
      return Promise.reject(new OrchestratorError(Code.ResourceExhausted, `this connection already has ${connection.open} SubscribeProgress streams open; the limit is ${limits.subscribersPerConnection}`));
    }
    if (this.watch.size >= this.options.maxSubscribers) {
      return Promise.reject(new OrchestratorError(
        Code.ResourceExhausted,
        `the gateway already serves ${this.watch.size} SubscribeProgress streams (all clients together); the limit is ${this.options.maxSubscribers}: close subscriptions no longer needed, retry later, or raise --max-subscribers`,
      ));
    }
    connection.open++;
    this.subscribers.set(peer, connection);
    const sink = { write: (update: ProgressUpdate) => call.write(update), drained: (abort: AbortSignal) => drained(call, abort) };
    return this.watch.subscribe({ taskId: request.taskId, afterSequence: request.afterSequence, group: connection.group }, sink, signal).finally(() => {
      connection.open--;
      if (connection.open === 0) this.subscribers.delete(peer);
    });
  }

  /** Relays a client's WatchTasks from the next Scheduler in turn (any serves any cursor of the store). */
  private relayTaskEvents(request: WatchTasksRequest, call: ServerWritableStream<WatchTasksRequest, TaskEventUpdate>, signal: AbortSignal): Promise<void> {
    const peer = call.getPeer();
    const open = this.taskWatchers.get(peer) ?? 0;
    if (open >= limits.taskWatchersPerConnection) {
      return Promise.reject(new OrchestratorError(Code.ResourceExhausted, `this connection already has ${open} WatchTasks streams open; the limit is ${limits.taskWatchersPerConnection}: one stream with a filter of several names serves many`));
    }
    this.taskWatchers.set(peer, open + 1);
    const upstream = this.schedulers.pick().client.watchTasks(request, new Metadata());
    return relayTaskEvents(upstream, call, signal, (error) => this.fromScheduler(error)).finally(() => {
      const left = (this.taskWatchers.get(peer) ?? 1) - 1;
      if (left === 0) this.taskWatchers.delete(peer);
      else this.taskWatchers.set(peer, left);
    });
  }

  service(): GatewayServer {
    /** An operator action from a gRPC client: forwarded with the id of its key (forwardAction). */
    const action = <Req, Res>(
      method: (scheduler: SchedulerClient) => UnaryMethod<Req, Res>, bulk: boolean, idempotent: boolean | ((request: Req) => boolean),
    ) => unary((request: Req, call: ServerUnaryCall<Req, Res>) => this.forwardAction(
      method, request, gatewayClientKeyId(call.metadata, this.keys), bulk, typeof idempotent === "boolean" ? idempotent : idempotent(request),
    ));
    return {
      healthCheck: unary(() => ({ healthy: true, version })),
      submitTask: unary(async (request, call) => {
        const response = await this.submit(withTraceHeaders(request, traceHeaders(call.metadata)));
        this.logger.debug({ task_id: response.taskId, name: request.name }, "Task submitted");
        return response;
      }),
      submitStream: (call) => serveSubmitStream(call, { maxInFlight: limits.submitsInFlightPerStream, submit: (tasks) => this.submitBatch(tasks) }),
      // A batch is not made again on another Scheduler: it may have been stored by the first.
      submitTasks: unary((request, call) => {
        const headers = traceHeaders(call.metadata);
        return this.forward((s) => s.submitTasks, headers ? { tasks: request.tasks.map((task) => withTraceHeaders(task, headers)) } : request, false);
      }),
      getTask: unary((request) => this.forward((s) => s.getTask, request, true)),
      listTasks: unary((request) => this.forward((s) => s.listTasks, request, true)),
      // Cancelling twice ends as cancelling once.
      cancelTask: action((s) => s.cancelTask, false, true),
      listWorkers: unary((request) => this.forward((s) => s.listWorkers, request, true)),
      countTasks: unary((request) => this.forward((s) => s.countTasks, request, true)),
      getTaskStats: unary((request) => this.forward((s) => s.getTaskStats, request, true)),
      // A repeated retry would be refused (the task is queued by then); a repeated bulk action would answer another count.
      retryTask: action((s) => s.retryTask, false, false),
      retryTasks: action((s) => s.retryTasks, true, false),
      cancelTasks: action((s) => s.cancelTasks, true, false),
      deleteTasks: action((s) => s.deleteTasks, true, false),
      // Pausing or resuming twice ends as doing it once (the answer's was_paused may then differ).
      pauseQueue: action((s) => s.pauseQueue, false, true),
      resumeQueue: action((s) => s.resumeQueue, false, true),
      listPausedQueues: unary((request) => this.forward((s) => s.listPausedQueues, request, true)),
      // Setting or clearing twice ends as doing it once (a repeated clear answers cleared false).
      setConcurrencyLimit: action((s) => s.setConcurrencyLimit, false, true),
      clearConcurrencyLimit: action((s) => s.clearConcurrencyLimit, false, true),
      listConcurrencyLimits: unary((request) => this.forward((s) => s.listConcurrencyLimits, request, true)),
      // A create with a key is idempotent; without one, a retry could make a second schedule.
      createSchedule: action((s) => s.createSchedule, false, (request) => request.key !== ""),
      getSchedule: unary((request) => this.forward((s) => s.getSchedule, request, true)),
      listSchedules: unary((request) => this.forward((s) => s.listSchedules, request, true)),
      // Setting the same fields twice ends as setting them once.
      updateSchedule: action((s) => s.updateSchedule, false, true),
      // A repeated delete would answer NOT_FOUND for a schedule the first one deleted.
      deleteSchedule: action((s) => s.deleteSchedule, false, false),
      // Setting a limit twice ends as setting it once; clearing twice as clearing once (the answer's cleared may then differ).
      setRateLimit: action((s) => s.setRateLimit, false, true),
      clearRateLimit: action((s) => s.clearRateLimit, false, true),
      listRateLimits: unary((request) => this.forward((s) => s.listRateLimits, request, true)),
      subscribeProgress: serverStream((request, call, signal) => this.relayProgress(request, call, signal)),
      watchTasks: serverStream((request, call, signal) => this.relayTaskEvents(request, call, signal)),
    };
  }
}
