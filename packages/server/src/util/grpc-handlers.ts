import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { toServiceError } from "orchestrator-ts-client/internal";

/** Wraps an async function as a unary handler; whatever it throws becomes a gRPC status here. */
export function unary<Req, Res>(fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    let result: Promise<Res>;
    try {
      result = Promise.resolve(fn(call.request, call));
    } catch (error) {
      callback(toServiceError(error));
      return;
    }
    result.then((response) => callback(null, response), (error: unknown) => callback(toServiceError(error)));
  };
}

/**
 * The reason of every aborted handler signal. Made once: abort() without a reason builds a
 * DOMException with a stack trace each time, which adds up to most of the work when a client
 * drops thousands of streams at once.
 */
const callEnded = Object.freeze({ name: "AbortError", message: "the call ended" });

/** Wraps an async function as a server-streaming handler; it ends the call when it settles. */
export function serverStream<Req, Res>(fn: (request: Req, call: ServerWritableStream<Req, Res>, signal: AbortSignal) => Promise<void>) {
  return (call: ServerWritableStream<Req, Res>): void => {
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort(callEnded));
    call.on("close", () => abort.abort(callEnded));
    fn(call.request, call, abort.signal).then(
      () => {
        if (!abort.signal.aborted) call.end();
      },
      (error: unknown) => {
        // grpc-js turns an "error" event on a server stream into the call's status (destroy() would drop it).
        if (!abort.signal.aborted) call.emit("error", toServiceError(error));
      },
    );
  };
}

/** Resolves when a stream that refused a write has room again, or when the signal aborts. */
export function drained(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    stream.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
