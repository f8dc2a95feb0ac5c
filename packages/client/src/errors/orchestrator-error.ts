import { Code, codeName, isCode } from "./code.js";

/**
 * The one error type of the project. Every boundary (an RPC handler, a store call, a client call)
 * turns whatever it caught into an OrchestratorError with OrchestratorError.from().
 */
export class OrchestratorError extends Error {
  override name = "OrchestratorError";
  readonly code: Code;
  /** The message without the "[code]" prefix, as sent on the wire. */
  readonly rawMessage: string;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(`[${codeName(code)}] ${message}`, options);
    this.code = code;
    this.rawMessage = message;
  }

  static from(reason: unknown, fallback: Code = Code.Unknown): OrchestratorError {
    if (reason instanceof OrchestratorError) return reason;
    if (isGrpcServiceError(reason)) {
      const code = isCode(reason.code) ? reason.code : fallback;
      return new OrchestratorError(code, reason.details || reason.message, { cause: reason });
    }
    if (reason instanceof Error) {
      if (reason.name === "AbortError") return new OrchestratorError(Code.Cancelled, reason.message, { cause: reason });
      return new OrchestratorError(fallback, reason.message, { cause: reason });
    }
    return new OrchestratorError(fallback, String(reason));
  }

  static invalidArgument(message: string): OrchestratorError {
    return new OrchestratorError(Code.InvalidArgument, message);
  }

  static notFound(message: string): OrchestratorError {
    return new OrchestratorError(Code.NotFound, message);
  }
}

interface GrpcServiceErrorLike {
  code: number;
  details: string;
  message: string;
}

function isGrpcServiceError(reason: unknown): reason is GrpcServiceErrorLike {
  return (
    reason instanceof Error &&
    typeof (reason as Partial<GrpcServiceErrorLike>).code === "number" &&
    typeof (reason as Partial<GrpcServiceErrorLike>).details === "string"
  );
}
