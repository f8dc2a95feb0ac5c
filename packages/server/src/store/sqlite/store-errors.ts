import { Code } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";

/**
 * What a failed SQLite call means to a caller of the store. A full disk (SQLITE_FULL) or a failed
 * read or write of the files (SQLITE_IOERR, SQLITE_IOERR_WRITE, ...: on a full disk SQLite reports
 * either, depending on which write ran out of room) is the Scheduler's storage running out, not a bug
 * in the request: RESOURCE_EXHAUSTED naming the data directory, so every path (SubmitTask,
 * SubmitTasks, SubmitStream, CancelTask, ...) answers alike and the operator knows where to look.
 * The transaction was rolled back, so nothing of the refused call is stored.
 *
 * Matched on the `code` string that better-sqlite3 sets (its extended result code names); any other
 * driver's errors must carry the same strings. Anything else is returned unchanged.
 */
export function storeErrorFrom(error: unknown, dataDirectory: string): unknown {
  if (error instanceof OrchestratorError) return error;
  const code = sqliteCode(error);
  if (code === undefined) return error;
  const where = `data directory ${dataDirectory}`;
  if (code === "SQLITE_FULL") {
    return new OrchestratorError(Code.ResourceExhausted, `the scheduler's disk is full (${where}): free space there; writes resume by themselves`, { cause: error });
  }
  if (code === "SQLITE_IOERR" || code.startsWith("SQLITE_IOERR_")) {
    return new OrchestratorError(
      Code.ResourceExhausted,
      `the scheduler could not read or write its database (${code}, ${where}): the disk may be full or failing; free space there or check the disk`,
      { cause: error },
    );
  }
  return error;
}

function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}
