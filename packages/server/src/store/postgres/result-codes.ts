// The PostgreSQL SQLSTATE codes the store acts on (see "PostgreSQL Error Codes" in the manual).
// An error from the server carries its SQLSTATE in `code`; an error of the connection itself
// (refused, reset, closed) carries a Node system error code or none.

export const sqlState = {
  uniqueViolation: "23505",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
  readOnlyTransaction: "25006",
  diskFull: "53100",
  outOfMemory: "53200",
  tooManyConnections: "53300",
  adminShutdown: "57P01",
  crashShutdown: "57P02",
  cannotConnectNow: "57P03",
  databaseDropped: "57P04",
} as const;

/** The SQLSTATE of a server error, or undefined for anything else. */
export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** A conflict between concurrent transactions that running the transaction again resolves. */
export function isRetryableConflict(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state === sqlState.serializationFailure || state === sqlState.deadlockDetected;
}

const connectionErrorCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

/** The connection to the server failed or was lost (as opposed to a statement the server refused). */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && connectionErrorCodes.has(code)) return true;
  const state = sqlStateOf(error);
  if (state !== undefined) {
    return state.startsWith("08") || state === sqlState.adminShutdown || state === sqlState.crashShutdown
      || state === sqlState.cannotConnectNow || state === sqlState.databaseDropped;
  }
  const message = error instanceof Error ? error.message : "";
  // node-postgres reports a socket closed under it with these messages and no code.
  return /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed/i.test(message);
}
