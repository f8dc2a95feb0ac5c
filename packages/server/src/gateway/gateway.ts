import { Metadata, type ServerWritableStream } from "@grpc/grpc-js";
import {
  SchedulerClient, type GatewayServer, type ProgressUpdate, type SubmitTaskRequest, type SubmitTaskResponse, type SubscribeProgressRequest,
} from "orchestrator-ts-client/internal";
import { limits } from "../scheduler/limits.js";
import { SubmitPipeline } from "orchestrator-ts-client/internal";
import { serveSubmitStream, type SubmitOutcome } from "../util/submit-stream-server.js";
import { SchedulerWatch } from "./scheduler-watch.js";
import { version } from "orchestrator-ts-client/internal";
import { Code } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { drained, serverStream, unary } from "../util/grpc-handlers.js";
import type { Logger } from "orchestrator-ts-client/internal";
import { keyInterceptors } from "orchestrator-ts-client/internal";
import { channelCredentials } from "orchestrator-ts-client/internal";
import { callUnary, type UnaryMethod } from "orchestrator-ts-client/internal";
import type { CompiledGatewayOptions } from "./options.js";

/**
 * The public front door. It holds no task state: every call goes to the Scheduler over one
 * multiplexed HTTP/2 connection, and errors come back with the Scheduler's status code.
 */
export class Gateway {
  readonly scheduler: SchedulerClient;
  /** Every submit reaching the Gateway in one turn, from any client, goes up in one stream message. */
  private readonly submits: SubmitPipeline;
  /** Every client's SubscribeProgress, as a subscription on one Watch stream to the Scheduler. */
  private readonly watch: SchedulerWatch;
  /** Client connections with SubscribeProgress streams open: how many, and the group that stands for the connection upstream. */
  private readonly subscribers = new Map<string, { open: number; group: number }>();
  private nextGroup = 1;

  constructor(private readonly options: CompiledGatewayOptions, private readonly logger: Logger) {
    this.scheduler = new SchedulerClient(options.schedulerAddress, channelCredentials(options.schedulerTls), {
      ...keyInterceptors(options.schedulerApiKey),
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
    });
    this.submits = new SubmitPipeline(() => this.scheduler.submitStream(new Metadata()), {
      peer: `the scheduler at ${options.schedulerAddress}`,
      answerTimeoutMs: options.forwardTimeoutMs,
    });
    this.watch = new SchedulerWatch(() => this.scheduler.watch(new Metadata()), (error) => this.fromScheduler(error), logger);
  }

  close(): void {
    this.submits.close();
    this.watch.close();
    this.scheduler.close();
  }

  private async forward<Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    try {
      return await callUnary(this.scheduler, method, request, this.options.forwardTimeoutMs);
    } catch (error) {
      throw this.fromScheduler(error);
    }
  }

  /** One submit through the upstream pipeline, with the Scheduler's failures explained as for forwarded calls. */
  private submit(task: SubmitTaskRequest): Promise<SubmitTaskResponse> {
    return this.submits.submit(task).catch((error: unknown) => {
      throw this.fromScheduler(error);
    });
  }

  private submitBatch(tasks: SubmitTaskRequest[]): Promise<SubmitOutcome[]> {
    return Promise.all(tasks.map((task) => this.submit(task).catch((error: unknown) => OrchestratorError.from(error))));
  }

  /**
   * What a failed call to the Scheduler tells the client: connection trouble and the Gateway's own
   * refused credential are explained; anything else (a refusal of the request) passes through.
   */
  private fromScheduler(reason: unknown): OrchestratorError {
    const error = OrchestratorError.from(reason);
    const details = error.rawMessage;
    if (error.code === Code.Unavailable) {
      return new OrchestratorError(Code.Unavailable, `the scheduler at ${this.options.schedulerAddress} is unreachable (${details}); start it with "orchestrator scheduler" or check --scheduler`, { cause: error });
    }
    if (error.code === Code.DeadlineExceeded) {
      return new OrchestratorError(Code.Unavailable, `the scheduler at ${this.options.schedulerAddress} did not answer within ${this.options.forwardTimeoutMs} ms`, { cause: error });
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

  service(): GatewayServer {
    const s = this.scheduler;
    return {
      healthCheck: unary(() => ({ healthy: true, version })),
      submitTask: unary(async (request) => {
        const response = await this.submit(request);
        this.logger.debug({ task_id: response.taskId, name: request.name }, "Task submitted");
        return response;
      }),
      submitStream: (call) => serveSubmitStream(call, { maxInFlight: limits.submitsInFlightPerStream, submit: (tasks) => this.submitBatch(tasks) }),
      submitTasks: unary((request) => this.forward(s.submitTasks, request)),
      getTask: unary((request) => this.forward(s.getTask, request)),
      listTasks: unary((request) => this.forward(s.listTasks, request)),
      cancelTask: unary((request) => this.forward(s.cancelTask, request)),
      listWorkers: unary((request) => this.forward(s.listWorkers, request)),
      subscribeProgress: serverStream((request, call, signal) => this.relayProgress(request, call, signal)),
    };
  }
}
