import type { IncomingMessage, ServerResponse } from "node:http";
import { Code, codeName, OrchestratorError, taskStates, type TaskStateName } from "orchestrator-ts-client/internal";
import type { TaskFilter } from "./gateway-api.js";

/** The HTTP status of each error code: the one place the dashboard's API maps them. */
const statusOfCode: Readonly<Record<Code, number>> = {
  [Code.Cancelled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 409,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** The body of every error answer: the code's name (INVALID_ARGUMENT style) and what to do. */
export interface ErrorJson {
  code: string;
  message: string;
}

export function errorJson(error: OrchestratorError): ErrorJson {
  return { code: codeName(error.code).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase(), message: error.rawMessage };
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  response.end(response.req.method === "HEAD" ? undefined : text);
}

export function sendError(response: ServerResponse, reason: unknown): void {
  const error = OrchestratorError.from(reason, Code.Internal);
  const headers: Record<string, string> = error.code === Code.Unauthenticated ? { "www-authenticate": 'Bearer realm="orchestrator dashboard"' } : {};
  if (response.headersSent) {
    response.destroy();
    return;
  }
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  sendJson(response, statusOfCode[error.code], errorJson(error));
}

/** Reads a request body of at most `maxBytes` (the API's bodies are small JSON objects, or none). */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        reject(new OrchestratorError(Code.InvalidArgument, `the request body is over ${maxBytes} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** A time in a query: Unix milliseconds, or anything Date.parse reads (an ISO date and time). */
function timeParameter(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name)?.trim();
  if (!value) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw OrchestratorError.invalidArgument(`${name} "${value}" is not a time: give Unix milliseconds or an ISO date and time`);
  return ms;
}

/** Comma-separated values of a parameter, each trimmed, blanks dropped. */
function listParameter(params: URLSearchParams, name: string): string[] {
  return params.getAll(name).flatMap((value) => value.split(",")).map((value) => value.trim()).filter((value) => value !== "");
}

/**
 * The task filter of a query string: `name` (comma-separated), `state` (comma-separated), `key`
 * (concurrency key), `schedule`, `after` and `before` (creation time). The page's URL uses the same.
 */
export function filterFromQuery(params: URLSearchParams): TaskFilter {
  const states = listParameter(params, "state");
  for (const state of states) {
    if (!(taskStates as readonly string[]).includes(state)) throw OrchestratorError.invalidArgument(`state "${state}" is not a task state; the states are ${taskStates.join(", ")}`);
  }
  const key = params.get("key") ?? "";
  const schedule = params.get("schedule")?.trim() ?? "";
  return {
    names: listParameter(params, "name"), states: states as TaskStateName[], concurrencyKey: key === "" ? undefined : key,
    scheduleId: schedule === "" ? undefined : schedule, createdAfterMs: timeParameter(params, "after"), createdBeforeMs: timeParameter(params, "before"),
  };
}

/** An integer parameter within [min, max], or `fallback` when absent. */
export function intParameter(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const value = params.get(name);
  if (value === null || value === "") return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > max) throw OrchestratorError.invalidArgument(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return number;
}
