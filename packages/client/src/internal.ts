// What the server package (orchestrator-ts) shares with the client: the wire contract, errors,
// transport helpers and the worker runtime. Not a public API: it changes with the server.
export * from "./protocol/generated/orchestrator/v1/orchestrator.js";
export { fileDescriptorSetBase64 } from "./protocol/generated/descriptor-set.js";
export { version } from "./protocol/index.js";
export {
  taskStates, terminalStates, isTerminal, stateToProto, stateFromProto, type TaskState as TaskStateName,
} from "./protocol/states.js";
export { Code, codeName, isCode } from "./errors/code.js";
export { OrchestratorError } from "./errors/orchestrator-error.js";
export { TaskFailure } from "./errors/task-failure.js";
export { RateLimitedError, maxRateLimitedDelayMs } from "./errors/rate-limited.js";
export { toServiceError } from "./errors/grpc.js";
export * from "./transport/tls.js";
export * from "./transport/grpc-call.js";
export * from "./transport/credentials.js";
export * from "./transport/scheduler-addresses.js";
export * from "./logger.js";
export * from "./submit-pipeline.js";
export { messagingSystem, spanAttributes, spanTime } from "./tracing.js";
export * from "./client.js";
export { startCursorHeader } from "./task-events.js";
export * from "./worker/worker.js";
export * from "./worker/options.js";
export * from "./worker/handler.js";
export * from "./transport/setting-file.js";
