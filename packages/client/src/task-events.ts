import { Metadata, type ClientReadableStream } from "@grpc/grpc-js";
import type { GatewayClient, TaskEventUpdate, WatchTasksRequest } from "./protocol/generated/orchestrator/v1/orchestrator.js";
import { stateFromProto, stateToProto, type TaskState } from "./protocol/states.js";
import { Code } from "./errors/code.js";
import { OrchestratorError } from "./errors/orchestrator-error.js";

/**
 * The response header in which the Scheduler (and the Gateway after it) names the place a
 * WatchTasks stream starts from, before any event: a client that loses the stream before its first
 * event resumes from there, not from a later "now".
 */
export const startCursorHeader = "orchestrator-start-cursor";

/** One event of any task, as `client.events()` yields it. */
export interface TaskEvent {
  taskId: string;
  name: string;
  state: TaskState;
  attempt: number;
  /** The task's own 1, 2, 3, ... */
  sequence: number;
  percent: number;
  message: string;
  timestamp: Date;
  workerId: string | null;
  error: string | null;
  /** When the next attempt may start, while `retrying`; when the task comes due, while `scheduled`. */
  nextAttemptAt: Date | null;
  /** Opaque: `client.events({ after: cursor })` resumes right after this event, through any Gateway of the store. */
  cursor: string;
  raw: TaskEventUpdate;
}

export interface EventsFilter {
  /** Only events of tasks with one of these names. */
  names?: readonly string[];
  /** Only events that recorded one of these states. */
  states?: readonly TaskState[];
  /** Only events of tasks with this concurrency key. */
  concurrencyKey?: string;
  /** Only events of tasks fired by this schedule (its id). */
  scheduleId?: string;
  /** Resume right after the event with this cursor; without it, events start from now. */
  after?: string;
  /** Without `after`: start from the oldest event the store still retains. */
  fromStart?: boolean;
  /** Ends the iteration (it then throws CANCELLED). */
  signal?: AbortSignal;
  /** Reconnections in a row (without an event or a start in between) before a lost stream's error is thrown; default 10, 0 never resumes. */
  maxReconnects?: number;
}

interface OpenStream {
  call: ClientReadableStream<TaskEventUpdate>;
  /** The error the stream ended with (an end without one is UNAVAILABLE: the events never end by themselves). */
  ended: Promise<OrchestratorError>;
}

function toTaskEvent(raw: TaskEventUpdate): TaskEvent {
  const state = stateFromProto(raw.state);
  if (!state) throw new TypeError(`the server sent an unknown task state ${raw.state}`);
  return {
    taskId: raw.taskId, name: raw.name, state, attempt: raw.attempt, sequence: raw.sequence, percent: raw.percent, message: raw.message,
    timestamp: new Date(raw.timestampMs), workerId: raw.workerId || null, error: raw.error || null,
    nextAttemptAt: raw.nextAttemptAtMs ? new Date(raw.nextAttemptAtMs) : null, cursor: raw.cursor, raw,
  };
}

/**
 * A WatchTasks stream that resumes by itself: when the stream is lost (UNAVAILABLE: the Gateway
 * or its Scheduler went away) it opens again after the last cursor it saw (or the place the stream
 * started from), with backoff, so the iteration misses nothing still retained and yields nothing twice.
 * The call is made at once: `await events.ready` before doing what the events are to report.
 */
export class TaskEventStream implements AsyncIterable<TaskEvent> {
  /** Resolves once the stream's starting place is fixed (events of what follows will come). */
  readonly ready: Promise<void>;
  /** The cursor to resume from: the last event's, or where the stream started; undefined before that is known. */
  cursor: string | undefined;
  private stream: OpenStream;
  private iterating = false;
  /** Reconnections in a row without a stream that started. */
  private failures = 0;
  private closed = false;

  constructor(private readonly gateway: GatewayClient, private readonly filter: EventsFilter) {
    this.cursor = filter.after;
    this.stream = this.open();
    const first = this.stream;
    this.ready = new Promise<void>((resolve, reject) => {
      first.call.once("metadata", () => resolve());
      void first.ended.then(reject);
    });
    // Nobody need await ready; its failure is the iteration's to report.
    this.ready.catch(() => undefined);
  }

  /** Ends the stream (a running iteration then finishes). */
  close(): void {
    this.closed = true;
    this.stream.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TaskEvent> {
    if (this.iterating) throw new OrchestratorError(Code.FailedPrecondition, "this event stream is iterated already; call client.events() again for another");
    this.iterating = true;
    const { signal } = this.filter;
    const maxReconnects = this.filter.maxReconnects ?? 10;
    const onAbort = (): void => this.stream.call.cancel();
    signal?.addEventListener("abort", onAbort);
    try {
      for (;;) {
        const stream = this.stream;
        try {
          for await (const update of stream.call as AsyncIterable<TaskEventUpdate>) {
            this.cursor = update.cursor;
            yield toTaskEvent(update);
          }
          // An error can come before the iteration listens: the stream then just ends.
          throw await stream.ended;
        } catch (error) {
          if (this.closed) return;
          if (signal?.aborted) throw new OrchestratorError(Code.Cancelled, "the event stream was aborted");
          const failure = OrchestratorError.from(error);
          if (failure.code !== Code.Unavailable || this.failures >= maxReconnects) throw failure;
          this.failures++;
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** this.failures)));
          if (this.closed || signal?.aborted) return;
          this.stream = this.open();
        }
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.closed = true;
      this.stream.call.cancel();
    }
  }

  private open(): OpenStream {
    const { filter } = this;
    const request: WatchTasksRequest = {
      names: [...(filter.names ?? [])], states: (filter.states ?? []).map(stateToProto), concurrencyKey: filter.concurrencyKey,
      scheduleId: filter.scheduleId, after: this.cursor ?? "", fromStart: this.cursor === undefined && filter.fromStart === true,
    };
    const call = this.gateway.watchTasks(request, new Metadata());
    call.on("metadata", (metadata: Metadata) => {
      this.failures = 0;
      const [start] = metadata.get(startCursorHeader);
      if (this.cursor === undefined && typeof start === "string" && start !== "") this.cursor = start;
    });
    // Listened to from the start, so that an error before the iteration is neither lost nor thrown as an unhandled "error" event.
    const ended = new Promise<OrchestratorError>((resolve) => {
      call.once("error", (error: unknown) => resolve(OrchestratorError.from(error)));
      // Errors come as "error" first; a status without one is OK, which a stream of events never ends with.
      call.once("status", () => resolve(new OrchestratorError(Code.Unavailable, "the gateway ended the event stream")));
    });
    return { call, ended };
  }
}
