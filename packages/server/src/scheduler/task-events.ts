import { OrchestratorError, type WatchTasksRequest } from "orchestrator-ts-client/internal";
import { maxEventsPage, type EventFilter, type QueueEvent, type TaskStore } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import { validateFilterFields } from "./validation.js";

/** Where a queue-wide watch starts: after a cursor, at the oldest retained event, or now. */
export type WatchStart = { after: string } | { fromStart: true } | { now: true };

export interface TaskEventsQuery {
  filter: EventFilter;
  start: WatchStart;
}

/** Where watchTasks() sends events: write() returns false when the reader is behind. */
export interface QueueEventSink {
  /** The watch's starting place is fixed (`cursor`; null: before the oldest retained event): events committed from now on will be sent. */
  started(cursor: string | null): void;
  write(event: QueueEvent): boolean;
  /** Resolves when the reader has caught up, or the signal aborts. */
  drained(signal: AbortSignal): Promise<void>;
}

/**
 * How long a watch waits without hearing of a commit before it reads the store again anyway: the
 * signals report every commit, but on PostgreSQL an event becomes readable only once older
 * transactions have ended, which no signal reports.
 */
export const watchPollMs = 1000;

/** The WatchTasks request as the Scheduler's query; INVALID_ARGUMENT naming the field for anything wrong. */
export function validateWatchTasks(request: WatchTasksRequest): TaskEventsQuery {
  const { names, states, concurrencyKey, scheduleId } = validateFilterFields(request);
  if (request.after !== "" && request.fromStart) {
    throw OrchestratorError.invalidArgument("after and from_start are both set; give a cursor to resume after it, or from_start to begin at the oldest retained event");
  }
  const start: WatchStart = request.after !== "" ? { after: request.after } : request.fromStart ? { fromStart: true } : { now: true };
  return { filter: { names, states, concurrencyKey: concurrencyKey ?? null, scheduleId: scheduleId ?? null }, start };
}

/**
 * Streams the store's events that `query` keeps, in the store's order, each once, until `signal`
 * aborts. It reads the store again when a commit is reported (store.signals: this Scheduler's
 * commits and, on PostgreSQL, other Schedulers'), and every watchPollMs anyway; at most one read
 * per watch is in flight, and reports arriving during a read make one more read, not one each.
 * A reader slower than the events is waited for (sink.drained): nothing is held for it but the
 * page being sent, so a slow reader never makes the Scheduler buffer without bound.
 */
export async function watchTasks(store: TaskStore, clock: Clock, query: TaskEventsQuery, sink: QueueEventSink, signal: AbortSignal): Promise<void> {
  let cursor: string | null;
  if ("after" in query.start) cursor = query.start.after;
  else if ("fromStart" in query.start) cursor = null;
  else cursor = await store.eventsHead();
  // A bad cursor is refused before the stream is said to have started.
  if (cursor !== null) await store.readEventsAfter(cursor, query.filter, 1);
  let reported = false;
  let wake: () => void = () => undefined;
  /** Until a commit is reported, watchPollMs pass, or the signal aborts. */
  const nextCommit = (): Promise<void> => new Promise<void>((resolve) => {
    const done = (): void => {
      clock.clearTimeout(timer);
      wake = () => undefined;
      resolve();
    };
    const timer = clock.setTimeout(done, watchPollMs);
    wake = done;
  });
  const unsubscribe = store.signals.onEvents(() => {
    reported = true;
    wake();
  });
  const onAbort = (): void => wake();
  signal.addEventListener("abort", onAbort);
  try {
    sink.started(cursor);
    while (!signal.aborted) {
      reported = false;
      const page = await store.readEventsAfter(cursor, query.filter, maxEventsPage);
      for (const event of page.events) {
        if (signal.aborted) return;
        if (!sink.write(event)) await sink.drained(signal);
      }
      cursor = page.cursor;
      if (page.caughtUp && !reported && !signal.aborted) await nextCommit();
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
    wake();
  }
}
