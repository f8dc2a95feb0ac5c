import { Metadata, type ServerDuplexStream, type ServerUnaryCall } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type {
  SchedulerMessage, SchedulerServer, SubmitTaskRequest, SubmitTaskResponse, WorkerMessage,
} from "orchestrator-ts-client/internal";
import { concurrencyLimitToProto, pausedToProto, queueEventToProto, rateLimitToProto, scheduleToProto, taskStatsToProto, taskToProto } from "../protocol/convert.js";
import { stateToProto } from "orchestrator-ts-client/internal";
import { version } from "orchestrator-ts-client/internal";
import { startCursorHeader, toServiceError } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { drained, serverStream, unary } from "../util/grpc-handlers.js";
import { validateWatchTasks } from "./task-events.js";
import type { Logger } from "orchestrator-ts-client/internal";
import type { Scheduler } from "./scheduler.js";
import type { WorkerSession } from "./worker-registry.js";
import { serveSubmitStream, type SubmitOutcome } from "../util/submit-stream-server.js";
import { limits } from "./limits.js";
import { serveWatchStream } from "./watch-stream.js";
import { KeyRing, schedulerCaller } from "../util/auth.js";

function toResponse(accepted: { taskId: string; acceptedAt: number }): SubmitTaskResponse {
  return { taskId: accepted.taskId, timestamp: Math.floor(accepted.acceptedAt / 1000) };
}

/**
 * The Scheduler's gRPC face: decoding and encoding only; the decisions live in Scheduler. `keys`
 * tells whose key id an operator action is logged with (schedulerCaller).
 */
export function schedulerGrpcService(scheduler: Scheduler, logger: Logger, keys: KeyRing = KeyRing.empty): SchedulerServer {
  return {
    healthCheck: unary(() => ({ healthy: scheduler.state === "running", version })),
    submitTask: unary(async (request: SubmitTaskRequest) => {
      const [accepted] = await scheduler.submit([request], false);
      if (!accepted) throw new Error("submit accepted nothing");
      return toResponse(accepted);
    }),
    submitTasks: unary(async (request) => ({ tasks: (await scheduler.submit(request.tasks)).map(toResponse) })),
    submitStream: (call) => serveSubmitStream(call, {
      maxInFlight: limits.gatewaySubmitsInFlight,
      submit: async (tasks) => {
        const outcomes: SubmitOutcome[] = [];
        for (let start = 0; start < tasks.length; start += limits.batchMaxTasks) {
          const accepted = await scheduler.submitEach(tasks.slice(start, start + limits.batchMaxTasks));
          for (const outcome of accepted) outcomes.push(outcome instanceof OrchestratorError ? outcome : toResponse(outcome));
        }
        return outcomes;
      },
    }),
    getTask: unary(async (request) => ({ task: taskToProto(await scheduler.getTask(request.taskId)) })),
    listTasks: unary(async (request) => {
      const page = await scheduler.listTasks(request);
      return { tasks: page.tasks.map(taskToProto), nextPageToken: page.nextCursor ?? "" };
    }),
    cancelTask: unary(async (request, call) => {
      const outcome = await scheduler.cancel(request.taskId, request.reason, schedulerCaller(call.metadata, keys));
      return { state: stateToProto(outcome.state), cancelled: outcome.cancelled };
    }),
    listWorkers: unary(() => ({ workers: scheduler.listWorkers() })),
    countTasks: unary(async (request) => ({ count: await scheduler.countTasks(request.filter) })),
    getTaskStats: unary(async (request) => taskStatsToProto(await scheduler.taskStats(request.minutes))),
    retryTask: unary(async (request, call) => ({
      task: taskToProto(await scheduler.actions.retry(request.taskId, request.reason, schedulerCaller(call.metadata, keys))),
    })),
    retryTasks: unary(async (request, call) => ({
      count: await scheduler.actions.retryTasks(request.filter, request.reason, schedulerCaller(call.metadata, keys), callEnded(call)),
    })),
    cancelTasks: unary(async (request, call) => ({
      count: await scheduler.actions.cancelTasks(request.filter, request.reason, schedulerCaller(call.metadata, keys), callEnded(call)),
    })),
    deleteTasks: unary(async (request, call) => ({
      count: await scheduler.actions.deleteTasks(request.filter, schedulerCaller(call.metadata, keys), callEnded(call)),
    })),
    pauseQueue: unary(async (request, call) => {
      const outcome = await scheduler.pauseQueue(request.name, request.reason, schedulerCaller(call.metadata, keys));
      return { queue: pausedToProto(outcome.paused), wasPaused: outcome.wasPaused };
    }),
    resumeQueue: unary(async (request, call) => {
      const ended = await scheduler.resumeQueue(request.name, schedulerCaller(call.metadata, keys));
      return { wasPaused: ended !== null, queue: ended ? pausedToProto(ended) : undefined };
    }),
    listPausedQueues: unary(async () => ({ queues: (await scheduler.listPausedQueues()).map(pausedToProto) })),
    setConcurrencyLimit: unary(async (request, call) => ({
      limit: concurrencyLimitToProto(await scheduler.setConcurrencyLimit(request.name, request.maxRunning, schedulerCaller(call.metadata, keys))),
    })),
    clearConcurrencyLimit: unary(async (request, call) => {
      const cleared = await scheduler.clearConcurrencyLimit(request.name, schedulerCaller(call.metadata, keys));
      return { cleared: cleared !== null, limit: cleared ? concurrencyLimitToProto(cleared) : undefined };
    }),
    listConcurrencyLimits: unary(async () => ({ limits: (await scheduler.listConcurrencyLimits()).map(concurrencyLimitToProto) })),
    createSchedule: unary(async (request, call) => {
      const answer = await scheduler.schedules.create(request, schedulerCaller(call.metadata, keys));
      return { schedule: scheduleToProto(answer.schedule), created: answer.created };
    }),
    getSchedule: unary(async (request) => ({ schedule: scheduleToProto(await scheduler.schedules.get(request.schedule)) })),
    listSchedules: unary(async () => ({ schedules: (await scheduler.schedules.list()).map(scheduleToProto) })),
    updateSchedule: unary(async (request, call) => ({ schedule: scheduleToProto(await scheduler.schedules.update(request, schedulerCaller(call.metadata, keys))) })),
    deleteSchedule: unary(async (request, call) => {
      await scheduler.schedules.delete(request.schedule, schedulerCaller(call.metadata, keys));
      return {};
    }),
    setRateLimit: unary(async (request, call) => ({
      limit: rateLimitToProto(await scheduler.setRateLimit(request.name, request.maxStarts, request.perMs, request.perKey, schedulerCaller(call.metadata, keys))),
    })),
    clearRateLimit: unary(async (request, call) => {
      const cleared = await scheduler.clearRateLimit(request.name, schedulerCaller(call.metadata, keys));
      return { cleared: cleared !== null, limit: cleared ? rateLimitToProto(cleared) : undefined };
    }),
    listRateLimits: unary(async () => ({ limits: (await scheduler.listRateLimits()).map(rateLimitToProto) })),
    watch: (call) => serveWatchStream(call, scheduler, logger),
    // Headers go out once the starting place is fixed: a client that waits for them misses nothing it does next.
    watchTasks: serverStream((request, call, signal) => scheduler.watchTasks(validateWatchTasks(request), {
      started: (cursor) => {
        const headers = new Metadata();
        if (cursor !== null) headers.set(startCursorHeader, cursor);
        call.sendMetadata(headers);
      },
      write: (event) => call.write(queueEventToProto(event)),
      drained: (abort) => drained(call, abort),
    }, signal)),
    connect: (call) => handleWorkerStream(scheduler, call, logger),
  };
}

/** Aborts when the unary call is cancelled (its caller went away or its deadline passed), so a long action can stop. */
function callEnded(call: ServerUnaryCall<unknown, unknown>): AbortSignal {
  const ended = new AbortController();
  call.on("cancelled", () => ended.abort());
  return ended.signal;
}

function handleWorkerStream(scheduler: Scheduler, call: ServerDuplexStream<WorkerMessage, SchedulerMessage>, logger: Logger): void {
  let session: WorkerSession | undefined;
  let closed = false;
  const fail = (error: unknown): void => {
    if (closed) return;
    closed = true;
    call.emit("error", toServiceError(error));
  };
  const close = (reason: string): void => fail(new OrchestratorError(status.UNAVAILABLE, reason));
  call.on("data", (message: WorkerMessage) => {
    if (closed) return;
    try {
      if (!session) {
        session = scheduler.registerWorker(message, {
          sendAssignments: (assign) => {
            if (!closed) call.write({ kind: { $case: "assign", assign } });
          },
          sendCancel: (cancel) => {
            if (!closed) call.write({ kind: { $case: "cancel", cancel } });
          },
          close,
        });
        call.write({ kind: { $case: "registered", registered: { workerId: session.workerId, heartbeatIntervalMs: scheduler.heartbeatIntervalMs, maxHoldMs: scheduler.maxHoldMs } } });
        return;
      }
      scheduler.handleWorkerMessage(session, message);
    } catch (error) {
      logger.warn({ err: error, worker_id: session?.workerId }, "Refused a worker stream message");
      fail(error);
      if (session) scheduler.workerDisconnected(session, "sent an invalid message");
    }
  });
  const ended = (reason: string) => () => {
    if (session) scheduler.workerDisconnected(session, reason);
    if (!closed) {
      closed = true;
      call.end();
    }
  };
  call.on("end", ended("disconnected"));
  call.on("cancelled", ended("disconnected (stream cancelled)"));
  call.on("error", ended("disconnected (stream error)"));
}
