import { Code } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { isConnectionError, isRetryableConflict, sqlState, sqlStateOf } from "./result-codes.js";

/**
 * What a failed PostgreSQL call means to a caller of the store, worded for the operator: the
 * database named (without its password), what happened, and what to do. A lost or refused
 * connection is UNAVAILABLE (the caller may retry: nothing of the refused call is stored), a full
 * disk or exhausted server RESOURCE_EXHAUSTED, a conflict with another writer ABORTED. Anything
 * else (a bug, a constraint) is returned unchanged.
 */
export function storeErrorFrom(error: unknown, database: string): unknown {
  if (error instanceof OrchestratorError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isConnectionError(error)) {
    return new OrchestratorError(
      Code.Unavailable,
      `the scheduler cannot reach its PostgreSQL database ${database} (${detail}): check that the server runs and accepts connections; writes resume by themselves`,
      { cause: error },
    );
  }
  const state = sqlStateOf(error);
  if (state === sqlState.diskFull) {
    return new OrchestratorError(Code.ResourceExhausted, `the PostgreSQL server's disk is full (database ${database}): free space there; writes resume by themselves`, { cause: error });
  }
  if (state === sqlState.outOfMemory || state === sqlState.tooManyConnections) {
    return new OrchestratorError(
      Code.ResourceExhausted,
      `the PostgreSQL server ran out of ${state === sqlState.outOfMemory ? "memory" : "connections (max_connections)"} (database ${database}): ${detail}`,
      { cause: error },
    );
  }
  if (state === sqlState.readOnlyTransaction) {
    return new OrchestratorError(Code.Unavailable, `the PostgreSQL server for ${database} is read-only (a standby?): ${detail}`, { cause: error });
  }
  if (isRetryableConflict(error)) {
    return new OrchestratorError(Code.Aborted, `a write conflicted with another scheduler's on ${database} (${detail}); retry it`, { cause: error });
  }
  return error;
}
