import type { StoreSignals, TaskEvent } from "./store.js";

type EventsListener = (events: readonly TaskEvent[]) => void;
type WorkListener = (names: readonly string[] | null) => void;

/**
 * StoreSignals delivered in this process: the store calls emit* after a commit, and each listener
 * is called at once. A listener that throws does not keep the others from hearing the signal, and
 * its error is rethrown on its own turn (as an uncaught exception), never into the store's commit.
 */
export class LocalSignals implements StoreSignals {
  private readonly eventListeners = new Set<EventsListener>();
  private readonly workListeners = new Set<WorkListener>();

  onEvents(listener: EventsListener): () => void {
    const entry: EventsListener = (events) => listener(events);
    this.eventListeners.add(entry);
    return () => this.eventListeners.delete(entry);
  }

  onWorkAvailable(listener: WorkListener): () => void {
    const entry: WorkListener = (names) => listener(names);
    this.workListeners.add(entry);
    return () => this.workListeners.delete(entry);
  }

  emitEvents(events: readonly TaskEvent[]): void {
    if (events.length === 0) return;
    for (const listener of [...this.eventListeners]) callSafely(() => listener(events));
  }

  emitWorkAvailable(names: readonly string[] | null): void {
    if (names !== null && names.length === 0) return;
    for (const listener of [...this.workListeners]) callSafely(() => listener(names));
  }
}

function callSafely(call: () => void): void {
  try {
    call();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/**
 * What the writes of one commit batch recorded: their events, in order, and the task names they
 * made claimable. A batch replayed with a savepoint per write drops what a failed write recorded
 * (mark() before the write, rollbackTo() when it fails).
 */
export class CommitLog {
  private events: TaskEvent[] = [];
  private names: string[] = [];
  /** Events a write's own statement stored (PostgreSQL one-trip writes): reported, not stored again. */
  private stored = new Set<TaskEvent>();

  /** `stored`: the write's statement has stored the event already; the batch only reports it. */
  record(event: TaskEvent, stored = false): void {
    this.events.push(event);
    if (stored) this.stored.add(event);
  }

  workAvailable(name: string): void {
    this.names.push(name);
  }

  get recordedEvents(): readonly TaskEvent[] {
    return this.events;
  }

  /** The recorded events no write has stored: what the batch stores at its end. */
  get eventsToStore(): readonly TaskEvent[] {
    return this.stored.size === 0 ? this.events : this.events.filter((event) => !this.stored.has(event));
  }

  /** The task names made claimable so far, without repeats. */
  get workNames(): string[] {
    return [...new Set(this.names)];
  }

  mark(): { events: number; names: number } {
    return { events: this.events.length, names: this.names.length };
  }

  rollbackTo(mark: { events: number; names: number }): void {
    this.events.length = mark.events;
    this.names.length = mark.names;
  }

  /**
   * Puts each task's recorded events in sequence order among their own places: writes whose
   * statements were sent together record them as their answers are handled, not always in the
   * order the statements ran.
   */
  orderEachTask(): void {
    this.events = inSequencePerTask(this.events);
  }

  /** Takes what was recorded (names without repeats) and starts empty. */
  take(): { events: TaskEvent[]; names: string[] } {
    const taken = { events: this.events, names: [...new Set(this.names)] };
    this.clear();
    return taken;
  }

  clear(): void {
    this.events = [];
    this.names = [];
    if (this.stored.size > 0) this.stored = new Set();
  }
}

/**
 * An attempt of a keyed task ended (the row holds the task's name and concurrency_key): a task of
 * its key that waits for the slot may start now, on any Scheduler. The dispatcher's kick for the
 * freed worker slot may have claimed before this commit and found the key at its bound, so the
 * commit itself signals work for the name, as an enqueue does.
 */
export function freedKeySlot(log: CommitLog, row: { readonly name?: unknown; readonly concurrency_key?: unknown }): void {
  if (row.concurrency_key !== null && row.concurrency_key !== undefined) log.workAvailable(String(row.name));
}

/** The events in the order given, except that each task's events are put in sequence order among their own places. */
export function inSequencePerTask(events: TaskEvent[]): TaskEvent[] {
  const places = new Map<string, number[]>();
  events.forEach((event, index) => places.set(event.taskId, [...(places.get(event.taskId) ?? []), index]));
  const ordered = [...events];
  for (const indexes of places.values()) {
    if (indexes.length < 2) continue;
    const own = indexes.map((index) => events[index] as TaskEvent).sort((a, b) => a.sequence - b.sequence);
    indexes.forEach((index, rank) => {
      ordered[index] = own[rank] as TaskEvent;
    });
  }
  return ordered;
}

/** Listeners of how long each committed batch took (TaskStore.onCommit). */
export class CommitTimes {
  private readonly listeners = new Set<(durationMs: number) => void>();

  on(listener: (durationMs: number) => void): () => void {
    const entry = (durationMs: number): void => listener(durationMs);
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  emit(durationMs: number): void {
    for (const listener of this.listeners) callSafely(() => listener(durationMs));
  }
}
