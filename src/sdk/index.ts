// The public TypeScript API: a client for the Gateway and a worker that runs handlers.
export { OrchestratorClient, type ClientOptions, type TaskSpec, type Submitted, type SubscribeOptions, type ListOptions } from "./client.js";
export { WorkerRuntime as Worker, type WorkerRuntimeState } from "../worker/worker-runtime.js";
export type { WorkerRuntimeOptions as WorkerOptions } from "../worker/options.js";
export type { TaskContext, TaskHandler, HandlerMap } from "../worker/handler.js";
export type { ClientTlsOptions, Pem } from "../util/tls.js";
export { TaskFailure } from "../errors/task-failure.js";
export { OrchestratorError } from "../errors/orchestrator-error.js";
export { Code } from "../errors/code.js";
export { TaskState, type ProgressUpdate, type Task, type WorkerInfo } from "../protocol/generated/orchestrator/v1/orchestrator.js";
export { stateLabel, isTerminalProtoState } from "../protocol/convert.js";
