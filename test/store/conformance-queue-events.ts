/**
 * The part of the conformance suite for the queue-wide event order (readEventsAfter, eventsHead)
 * that WatchTasks streams. Registered by describeTaskStoreConformance inside each backend's suite.
 * On PostgreSQL an event is readable once every older transaction has ended (the settled horizon),
 * and other suites' transactions on the same server may hold that back for a moment: reads here
 * repeat until what was committed is there, as a watch does.
 */
import { describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import type { EventFilter, QueueEvent, TaskStore } from "../../packages/server/src/store/store.js";
import { bytes, newTask, noBackoff, T0 } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";

const any: EventFilter = { names: [], states: [], concurrencyKey: null, scheduleId: null };

/** Every event after `cursor` the filter keeps, page by page, until `count` are there (or 10 s pass). */
async function readUntil(store: TaskStore, cursor: string | null, count: number, filter: EventFilter = any, limit = 500): Promise<{ events: QueueEvent[]; cursor: string | null }> {
  const events: QueueEvent[] = [];
  const deadline = Date.now() + 10_000;
  for (;;) {
    const page = await store.readEventsAfter(cursor, filter, limit);
    events.push(...page.events);
    cursor = page.cursor;
    if (!page.caughtUp) continue;
    if (events.length >= count || Date.now() > deadline) return { events, cursor };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const keys = (events: readonly QueueEvent[]): string[] => events.map((event) => `${event.taskId}#${event.sequence}:${event.state}`);

export function describeQueueEventsConformance(context: ConformanceContext): void {
  const { claimOnly } = context;

  describe("queue-wide events", () => {
    it("reads every event from the start in commit order, with its task's name, and resumes after any event's cursor", async () => {
      const store = context.store();
      await store.enqueue([newTask("a"), newTask("b", { name: "email" })], T0);
      const claimed = await claimOnly("w1", T0 + 1);
      await store.progress(claimed, 50, "half", T0 + 2);
      await store.complete(claimed, bytes("ok"), T0 + 3);
      const { events } = await readUntil(store, null, 5);
      expect(keys(events)).toEqual(["a#1:queued", "b#1:queued", "a#2:running", "a#3:running", "a#4:succeeded"]);
      expect(events.map((event) => event.name)).toEqual(["resize", "email", "resize", "resize", "resize"]);
      expect(events[3]).toMatchObject({ percent: 50, message: "half", workerId: "w1", timestamp: T0 + 2 });
      expect(new Set(events.map((event) => event.cursor)).size).toBe(5);
      for (let i = 0; i < events.length; i++) {
        const after = await readUntil(store, (events[i] as QueueEvent).cursor, events.length - i - 1);
        expect(keys(after.events)).toEqual(keys(events.slice(i + 1)));
      }
    });

    it("starts after every event committed before eventsHead", async () => {
      const store = context.store();
      await store.enqueue([newTask("old")], T0);
      await readUntil(store, null, 1);
      const head = await store.eventsHead();
      await store.enqueue([newTask("new")], T0 + 1);
      const { events } = await readUntil(store, head, 1);
      expect(keys(events)).toEqual(["new#1:queued"]);
    });

    it("reads at most `limit` places per call, and the pages add up to the whole", async () => {
      const store = context.store();
      await store.enqueue(Array.from({ length: 7 }, (_, i) => newTask(`t${i}`)), T0);
      const whole = await readUntil(store, null, 7);
      const first = await store.readEventsAfter(null, any, 3);
      expect(first.caughtUp).toBe(false);
      expect(first.events).toHaveLength(3);
      const rest = await readUntil(store, first.cursor, 4, any, 3);
      expect(keys([...first.events, ...rest.events])).toEqual(keys(whole.events));
    });

    it("keeps only the events the filter names, and moves the cursor past the others", async () => {
      const store = context.store();
      await store.enqueue([
        newTask("r1"), newTask("e1", { name: "email" }), newTask("k1", { concurrencyKey: "customer-1" }),
        newTask("s1", { name: "report", scheduleId: "sched-1", scheduleTickMs: T0 }),
      ], T0);
      const claimed = await claimOnly("w1", T0 + 1, ["email"]);
      await store.fail(claimed, { error: "boom", retryable: false }, T0 + 2, noBackoff);
      const filtered = async (filter: Partial<EventFilter>): Promise<string[]> => keys((await readUntil(store, null, 1, { ...any, ...filter })).events);
      await readUntil(store, null, 6);
      expect(await filtered({ names: ["email", "report"] })).toEqual(["e1#1:queued", "s1#1:queued", "e1#2:running", "e1#3:failed"]);
      expect(await filtered({ states: ["failed"] })).toEqual(["e1#3:failed"]);
      expect(await filtered({ names: ["email"], states: ["queued", "failed"] })).toEqual(["e1#1:queued", "e1#3:failed"]);
      expect(await filtered({ concurrencyKey: "customer-1" })).toEqual(["k1#1:queued"]);
      expect(await filtered({ scheduleId: "sched-1" })).toEqual(["s1#1:queued"]);
      const nothing = await store.readEventsAfter(null, { ...any, names: ["nobody"] }, 500);
      expect(nothing.events).toEqual([]);
      expect((await store.readEventsAfter(nothing.cursor, any, 500)).events).toEqual([]);
    });

    it("places events after retention deleted the newest ones after every cursor issued before", async () => {
      const store = context.store();
      await store.enqueue([newTask("gone")], T0);
      await store.cancel("gone", "no longer needed", T0 + 1);
      const { events } = await readUntil(store, null, 2);
      const last = events.at(-1)?.cursor ?? null;
      expect(await store.deleteFinished(T0 + 10, 100)).toBe(1);
      await store.enqueue([newTask("later")], T0 + 20);
      expect(keys((await readUntil(store, last, 1)).events)).toEqual(["later#1:queued"]);
    });

    it("refuses a cursor it did not issue, naming `after`", async () => {
      const store = context.store();
      const refusal = async (cursor: string): Promise<OrchestratorError | null> => {
        try {
          await store.readEventsAfter(cursor, any, 10);
          return null;
        } catch (error) {
          return error as OrchestratorError;
        }
      };
      for (const cursor of ["garbage", "s:-1", "p:1", "s:1:2", ""]) {
        const error = await refusal(cursor);
        expect(error, cursor).toBeInstanceOf(OrchestratorError);
        expect(error?.code).toBe(Code.InvalidArgument);
        expect(error?.message).toMatch(/\bafter\b/);
      }
      // A cursor of the other kind of store: exactly one of the two is this store's.
      const refused = await Promise.all([refusal("s:1"), refusal("p:1:1")]);
      expect(refused.filter((error) => error !== null)).toHaveLength(1);
      expect(refused.find((error) => error !== null)?.message).toMatch(/after is a cursor of a (SQLite|PostgreSQL) store/);
    });
  });
}
