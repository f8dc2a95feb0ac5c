import { Metadata, type ClientReadableStream, type ServerWritableStream } from "@grpc/grpc-js";
import { Code, OrchestratorError, startCursorHeader, type TaskEventUpdate, type WatchTasksRequest } from "orchestrator-ts-client/internal";

/**
 * Relays one client's WatchTasks from a Scheduler's WatchTasks call. When the client's write buffer
 * is full the Scheduler's stream is paused until "drain": grpc-js then stops reading it, HTTP/2
 * flow control fills, and the Scheduler stops reading the store for it. Nothing piles up here.
 *
 * Resolves when the client's call ends (signal), rejects with the Scheduler's error otherwise; the
 * loss of the Scheduler (its stream broke or ended) is UNAVAILABLE, so that the client resumes with
 * its last cursor, on whichever Scheduler it reaches next.
 */
export function relayTaskEvents(
  upstream: ClientReadableStream<TaskEventUpdate>,
  call: ServerWritableStream<WatchTasksRequest, TaskEventUpdate>,
  signal: AbortSignal,
  explain: (error: unknown) => OrchestratorError,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: OrchestratorError): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      call.off("drain", onDrain);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = (): void => {
      finish();
      upstream.cancel();
    };
    const onDrain = (): void => {
      upstream.resume();
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    call.on("drain", onDrain);
    // The Scheduler's headers mean its starting place is fixed; the client learns it the same way.
    upstream.on("metadata", (headers: Metadata) => {
      if (settled) return;
      const forwarded = new Metadata();
      const [start] = headers.get(startCursorHeader);
      if (typeof start === "string") forwarded.set(startCursorHeader, start);
      call.sendMetadata(forwarded);
    });
    upstream.on("data", (update: TaskEventUpdate) => {
      if (settled) return;
      if (!call.write(update)) upstream.pause();
    });
    upstream.on("error", (error: unknown) => {
      const failure = OrchestratorError.from(error);
      // The Scheduler cancelled the call: it is shutting down.
      finish(explain(failure.code === Code.Cancelled ? new OrchestratorError(Code.Unavailable, failure.rawMessage, { cause: failure }) : failure));
    });
    upstream.on("end", () => finish(explain(new OrchestratorError(Code.Unavailable, "the scheduler ended the WatchTasks stream"))));
  });
}
