import { Metadata, type Client, type ClientDuplexStream, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { callUnary as callGeneratedUnary, type UnaryMethod } from "../../packages/client/src/transport/grpc-call.js";

export type { UnaryMethod } from "../../packages/client/src/transport/grpc-call.js";

/** Calls a generated unary method with a deadline; rejects with the raw grpc-js ServiceError. */
export function callUnary<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, request: Req, timeoutMs = 10_000): Promise<Res> {
  return callGeneratedUnary(client, method, request, timeoutMs);
}

/** Calls a method by its path with raw bytes, e.g. one the server does not implement. */
export function callRaw(client: Client, path: string, request: Buffer = Buffer.alloc(0), timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      path, (value) => value, (value) => value, request, new Metadata(), { deadline: Date.now() + timeoutMs },
      (error, response) => {
        if (error) reject(error);
        else resolve(response ?? Buffer.alloc(0));
      },
    );
  });
}

export interface CallStatus {
  code: number;
  details: string;
}

/** The status a call ended with: OK (0) when it succeeded, else the code and details of its failure. */
export async function statusOf(call: Promise<unknown>): Promise<CallStatus> {
  try {
    await call;
    return { code: 0, details: "" };
  } catch (error) {
    if (isServiceError(error)) return { code: error.code, details: error.details };
    throw error;
  }
}

export function isServiceError(value: unknown): value is ServiceError {
  return value instanceof Error && typeof (value as Partial<ServiceError>).code === "number" && typeof (value as Partial<ServiceError>).details === "string";
}

interface StreamLike {
  on(event: "data", listener: (message: unknown) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "status", listener: (status: { code: number; details: string }) => void): unknown;
  cancel(): void;
}

/**
 * Resolves with the status a stream ends with (its error, or OK), and the messages it carried,
 * rejecting if it has not ended within `timeoutMs` (then it is cancelled).
 */
export function streamOutcome(stream: StreamLike, timeoutMs = 10_000): Promise<CallStatus & { messages: unknown[] }> {
  const messages: unknown[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.cancel();
      reject(new Error(`the stream did not end within ${timeoutMs} ms (${messages.length} messages received)`));
    }, timeoutMs);
    stream.on("data", (message) => messages.push(message));
    stream.on("error", (error) => {
      clearTimeout(timer);
      if (isServiceError(error)) resolve({ code: error.code, details: error.details, messages });
      else reject(error);
    });
    stream.on("status", (status) => {
      if (status.code !== 0) return;
      clearTimeout(timer);
      resolve({ code: 0, details: status.details, messages });
    });
  });
}

/**
 * Calls a method of any streaming shape by its path, with raw bytes, and resolves with the status
 * it ends with. Streams send `requests` then half-close; responses are read and dropped.
 */
export function rawCallStatus(
  client: Client,
  method: { path: string; requestStream: boolean; responseStream: boolean },
  metadata: Metadata,
  requests: Buffer[] = [Buffer.alloc(0)],
  timeoutMs = 10_000,
): Promise<CallStatus> {
  const raw = (value: Buffer): Buffer => value;
  const options = { deadline: Date.now() + timeoutMs };
  return new Promise((resolve) => {
    const done = (error: ServiceError | null): void => resolve(error ? { code: error.code, details: error.details } : { code: 0, details: "" });
    if (!method.responseStream) {
      if (!method.requestStream) {
        client.makeUnaryRequest(method.path, raw, raw, requests[0] ?? Buffer.alloc(0), metadata, options, (error) => done(error));
        return;
      }
      const call = client.makeClientStreamRequest(method.path, raw, raw, metadata, options, (error) => done(error));
      for (const request of requests) call.write(request);
      call.end();
      return;
    }
    const settle = (stream: ClientReadableStream<Buffer> | ClientDuplexStream<Buffer, Buffer>): void => {
      stream.on("data", () => undefined);
      stream.on("error", () => undefined); // the status below says the same
      stream.on("status", (status: { code: number; details: string }) => resolve({ code: status.code, details: status.details }));
    };
    if (!method.requestStream) {
      settle(client.makeServerStreamRequest(method.path, raw, raw, requests[0] ?? Buffer.alloc(0), metadata, options));
      return;
    }
    const stream = client.makeBidiStreamRequest(method.path, raw, raw, metadata, options);
    settle(stream);
    for (const request of requests) stream.write(request);
    stream.end();
  });
}

/** Resolves with the error a promise rejects with, as an OrchestratorError; fails if it resolves. */
export async function refusal(promise: Promise<unknown>): Promise<OrchestratorError> {
  try {
    await promise;
  } catch (error) {
    return OrchestratorError.from(error);
  }
  throw new Error("expected a refusal, but the call succeeded");
}
