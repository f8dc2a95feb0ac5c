export { Code, codeName } from "./code.js";
export { OrchestratorError } from "./orchestrator-error.js";
export { TaskFailure } from "./task-failure.js";
export { RateLimitedError, maxRateLimitedDelayMs } from "./rate-limited.js";
