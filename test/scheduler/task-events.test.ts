// The Scheduler's side of WatchTasks (watchTasks): live tailing driven by the store's commit
// signals, and a slow reader that is waited for instead of buffered for.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { TaskState } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { validateWatchTasks, watchTasks, type QueueEventSink, type TaskEventsQuery } from "../../packages/server/src/scheduler/task-events.js";
import { SqliteStore } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import type { QueueEvent } from "../../packages/server/src/store/store.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import { newTask, T0 } from "../store/conformance.js";

const fromNow: TaskEventsQuery = { filter: { names: [], states: [], concurrencyKey: null, scheduleId: null }, start: { now: true } };

/** A sink that records what it is given and lets the test decide when the reader has room again. */
class RecordingSink implements QueueEventSink {
  readonly events: QueueEvent[] = [];
  startedAt: string | null | undefined;
  /** Events it takes before write() says the reader is behind. */
  room = Infinity;
  private waiters: Array<() => void> = [];
  private drainers: Array<() => void> = [];

  started(cursor: string | null): void {
    this.startedAt = cursor;
    this.notify();
  }

  write(event: QueueEvent): boolean {
    this.events.push(event);
    this.room--;
    this.notify();
    return this.room > 0;
  }

  drained(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.drainers.push(resolve);
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  drain(room: number): void {
    this.room = room;
    for (const drainer of this.drainers.splice(0)) drainer();
  }

  async until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

describe("watchTasks", () => {
  let store: SqliteStore;
  let abort: AbortController;

  beforeEach(async () => {
    store = new SqliteStore({ path: ":memory:" });
    await store.migrate();
    abort = new AbortController();
  });

  afterEach(async () => {
    abort.abort();
    await store.close();
  });

  it("starts now and tails commits as the store signals them (the clock, and so the safety poll, never moves)", async () => {
    await store.enqueue([newTask("before")], T0);
    const sink = new RecordingSink();
    const watching = watchTasks(store, new ManualClock(), fromNow, sink, abort.signal);
    await sink.until(() => sink.startedAt !== undefined, "the start");
    for (let i = 0; i < 3; i++) {
      await store.enqueue([newTask(`live-${i}`)], T0 + 1 + i);
      await sink.until(() => sink.events.length === i + 1, `live event ${i}`);
    }
    expect(sink.events.map((event) => event.taskId)).toEqual(["live-0", "live-1", "live-2"]);
    abort.abort();
    await watching;
  });

  it("waits for a slow reader instead of reading on: one page at most is held for it", async () => {
    await store.enqueue(Array.from({ length: 1200 }, (_, i) => newTask(`t${String(i).padStart(4, "0")}`)), T0);
    const sink = new RecordingSink();
    sink.room = 10;
    const reads: number[] = [];
    const read = store.readEventsAfter.bind(store);
    store.readEventsAfter = async (cursor, filter, limit) => {
      const page = await read(cursor, filter, limit);
      reads.push(page.events.length);
      return page;
    };
    const watching = watchTasks(store, new ManualClock(), { ...fromNow, start: { fromStart: true } }, sink, abort.signal);
    await sink.until(() => sink.events.length === 10, "the first 10 events");
    // Give the watch every chance to run ahead of its reader.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(sink.events).toHaveLength(10);
    expect(reads).toEqual([500]);
    sink.drain(Infinity);
    await sink.until(() => sink.events.length === 1200, "every event once the reader caught up");
    expect(new Set(sink.events.map((event) => event.taskId)).size).toBe(1200);
    expect(reads).toEqual([500, 500, 200]);
    abort.abort();
    await watching;
  });

  it("refuses a request that names no state, or gives both after and from_start, naming the field", () => {
    const request = { names: [], states: [], after: "", fromStart: false };
    expect(() => validateWatchTasks({ ...request, states: [TaskState.TASK_STATE_UNSPECIFIED] })).toThrow(/states\[0\]/);
    expect(() => validateWatchTasks({ ...request, names: ["bad name"] })).toThrow(/names\[0\]/);
    expect(() => validateWatchTasks({ ...request, after: "s:1", fromStart: true })).toThrow(/after and from_start/);
    expect(validateWatchTasks({ ...request, states: [TaskState.TASK_STATE_FAILED], concurrencyKey: "k" }).filter).toEqual({
      names: [], states: ["failed"], concurrencyKey: "k", scheduleId: null,
    });
    try {
      validateWatchTasks({ ...request, states: [99 as TaskState] });
    } catch (error) {
      expect((error as { code: number }).code).toBe(Code.InvalidArgument);
    }
  });
});
