// Hand-written helpers around the generated wire types (generated/ is never edited by hand).
export * as pb from "./generated/orchestrator/v1/orchestrator.js";
export { TaskState as ProtoTaskState, AttemptOutcome } from "./generated/orchestrator/v1/orchestrator.js";
export const version = "0.1.0";
