// The public TypeScript API: a client for the Gateway and a worker that runs handlers.
export {
  OrchestratorClient, type ClientOptions, type TaskSpec, type Submitted, type SubscribeOptions, type ListOptions, type BulkActionOptions,
} from "./client.js";
export type { TaskFilter } from "./task-filter.js";
export { TaskEventStream, type TaskEvent, type EventsFilter } from "./task-events.js";
export { Worker, type WorkerState } from "./worker/worker.js";
export type { WorkerOptions } from "./worker/options.js";
export type { TaskContext, TaskHandler, HandlerMap } from "./worker/handler.js";
export type { ClientTlsOptions, Pem } from "./transport/tls.js";
export type { SchedulerAddressList } from "./transport/scheduler-addresses.js";
export { TaskFailure } from "./errors/task-failure.js";
export { RateLimitedError, maxRateLimitedDelayMs } from "./errors/rate-limited.js";
export { OrchestratorError } from "./errors/orchestrator-error.js";
export { Code } from "./errors/code.js";
export { taskStates, isTerminal } from "./protocol/states.js";
export type {
  TaskState, TaskUpdate, TaskInfo, TaskPage, WorkerSummary, PausedQueueInfo, PauseQueueResult, ResumeQueueResult, ConcurrencyLimitInfo,
  ClearConcurrencyLimitResult,
} from "./types.js";
export type { RateLimitInfo, RateLimitSpec, ClearRateLimitResult } from "./rate-limits.js";
export {
  ScheduleClient, type ScheduleSpec, type ScheduleChanges, type ScheduleInfo, type ScheduleTaskSpec, type OverlapPolicy, type CatchUpPolicy,
} from "./schedules.js";
