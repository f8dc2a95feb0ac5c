// Live updates for the page as server-sent events. Each browser stream has exactly one upstream:
// /api/events one WatchTasks call, /api/tasks/:id/events one SubscribeProgress subscription on the
// Gateway's shared Watch stream. The upstream is paused while the browser's socket is full and
// cancelled when the browser goes away; nothing is buffered here.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Code, OrchestratorError, startCursorHeader, type Logger, type TaskEventUpdate } from "orchestrator-ts-client/internal";
import type { Gateway } from "../gateway/gateway.js";
import { drained } from "../util/grpc-handlers.js";
import { toProgressJson, toTaskEventJson, watchRequest, type TaskFilter } from "./gateway-api.js";
import { errorJson } from "./http.js";

export interface LiveOptions {
  /** Browser streams open at once, all kinds and browsers together; more are refused with 429. */
  maxStreams: number;
  /** A comment line this often keeps proxies and the browser from closing an idle stream. */
  heartbeatMs: number;
}

export const defaultLiveOptions: LiveOptions = { maxStreams: 64, heartbeatMs: 15_000 };

/** One SSE message: `id` lets the browser resume after it (sent back as Last-Event-ID). */
function sseMessage(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class LiveStreams {
  private open = 0;

  constructor(private readonly gateway: Gateway, private readonly options: LiveOptions, private readonly logger: Logger) {}

  /** Streams open now. */
  get size(): number {
    return this.open;
  }

  /**
   * Every task's events the filter keeps, from now or right after the cursor `after` (the last
   * event's id, which the browser sends back as Last-Event-ID). The first message, `ready`, carries
   * the place the stream starts from, so a stream lost before any event resumes from there.
   */
  taskEvents(response: ServerResponse, filter: TaskFilter, after: string | undefined): void {
    const stream = this.start(response);
    if (!stream) return;
    const { upstream, explain } = this.gateway.openTaskEvents(watchRequest(filter, after));
    stream.onClose(() => upstream.cancel());
    upstream.on("metadata", (headers) => {
      const [start] = headers.get(startCursorHeader);
      const cursor = after ?? (typeof start === "string" ? start : "");
      stream.write(sseMessage("ready", { cursor }, cursor === "" ? undefined : cursor));
    });
    upstream.on("data", (update: TaskEventUpdate) => {
      if (!stream.write(sseMessage("task", toTaskEventJson(update), update.cursor))) {
        upstream.pause();
        response.once("drain", () => upstream.resume());
      }
    });
    upstream.on("error", (error: unknown) => {
      const failure = OrchestratorError.from(error);
      if (failure.code !== Code.Cancelled) stream.fail(explain(failure));
    });
    upstream.on("end", () => stream.fail(explain(new OrchestratorError(Code.Unavailable, "the scheduler ended the WatchTasks stream"))));
  }

  /** One task's recorded updates after `afterSequence` (its whole history from 0), then live ones, ending after the terminal one. */
  taskProgress(response: ServerResponse, taskId: string, afterSequence: number): void {
    const stream = this.start(response);
    if (!stream) return;
    const abort = new AbortController();
    stream.onClose(() => abort.abort());
    stream.write(sseMessage("ready", { afterSequence }));
    const sink = {
      write: (update: Parameters<typeof toProgressJson>[0]) => stream.write(sseMessage("progress", toProgressJson(update), String(update.sequence))),
      drained: (signal: AbortSignal) => drained(response, signal),
    };
    this.gateway.followProgress(taskId, afterSequence, sink, abort.signal).then(
      () => stream.end(),
      (error: unknown) => stream.fail(OrchestratorError.from(error)),
    );
  }

  /** Opens the SSE response, or answers 429 when too many streams are open. */
  private start(response: ServerResponse): LiveStream | null {
    if (this.open >= this.options.maxStreams) {
      const error = new OrchestratorError(Code.ResourceExhausted, `the dashboard already serves ${this.open} live streams; the limit is ${this.options.maxStreams}: close other dashboard tabs or retry later`);
      response.writeHead(429, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
      response.end(JSON.stringify(errorJson(error)));
      return null;
    }
    this.open++;
    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no",
    });
    // The browser's reconnect delay after a lost stream; a few seconds spare a restarting Gateway.
    response.write("retry: 2000\n\n");
    const heartbeat = setInterval(() => response.write(": heartbeat\n\n"), this.options.heartbeatMs);
    heartbeat.unref();
    const closers: (() => void)[] = [];
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      this.open--;
      clearInterval(heartbeat);
      for (const closer of closers) closer();
    };
    response.on("close", close);
    return {
      write: (text) => (closed ? true : response.write(text)),
      onClose: (closer) => closers.push(closer),
      end: () => {
        if (!closed) response.end(sseMessage("end", {}));
        close();
      },
      fail: (error) => {
        if (closed) return;
        this.logger.debug({ code: error.code, reason: error.rawMessage }, "A dashboard live stream ended with an error");
        response.end(sseMessage("error", errorJson(error)));
        close();
      },
    };
  }
}

interface LiveStream {
  /** False when the browser's socket is full (wait for "drain"). */
  write(text: string): boolean;
  onClose(closer: () => void): void;
  /** Ends the stream normally (the task ended). */
  end(): void;
  /** Ends the stream with the error as an `error` event; the browser decides whether to reconnect. */
  fail(error: OrchestratorError): void;
}

/** The Last-Event-ID header (a reconnecting EventSource or our fetch reader), else the `cursor` parameter. */
export function resumePoint(request: IncomingMessage, params: URLSearchParams): string | undefined {
  const header = request.headers["last-event-id"];
  const value = (typeof header === "string" ? header : undefined) ?? params.get("cursor") ?? undefined;
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
