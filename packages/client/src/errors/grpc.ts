import { Metadata, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { Code } from "./code.js";
import { OrchestratorError } from "./orchestrator-error.js";

/** The one place where an error becomes a gRPC status on the wire. */
export function toGrpcStatus(reason: unknown): Partial<StatusObject> {
  const error = OrchestratorError.from(reason, Code.Internal);
  return { code: error.code, details: error.rawMessage, metadata: new Metadata() };
}

/** The same, shaped as the ServiceError that grpc-js callbacks and server-stream "error" events take. */
export function toServiceError(reason: unknown): ServiceError {
  const status = toGrpcStatus(reason);
  const error = new Error(status.details) as ServiceError;
  error.code = status.code ?? Code.Internal;
  error.details = status.details ?? "";
  error.metadata = status.metadata ?? new Metadata();
  return error;
}

export { OrchestratorError, Code };
