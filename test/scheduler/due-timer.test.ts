// The Maintenance due timer on its own: one timer for the earliest due time, never longer than a day
// per wait (Node fires a timer longer than 2^31 - 1 ms after 1 ms, and a delayed task may be a year away).
import { describe, expect, it } from "vitest";
import { createLogger } from "../../packages/client/src/logger.js";
import { Maintenance } from "../../packages/server/src/scheduler/maintenance.js";
import { compileSchedulerOptions } from "../../packages/server/src/scheduler/options.js";
import type { TaskStore } from "../../packages/server/src/store/store.js";
import { ManualClock, type TimerHandle } from "../../packages/server/src/util/clock.js";

const T0 = Date.UTC(2026, 0, 1);
const day = 24 * 3600 * 1000;

/** A manual clock that remembers how long each timer was asked to wait. */
class RecordingClock extends ManualClock {
  readonly waits: number[] = [];

  override setTimeout(callback: () => void, ms: number): TimerHandle {
    this.waits.push(ms);
    return super.setTimeout(callback, ms);
  }
}

describe("the due timer", () => {
  it("waits at most a day at a time for a task a year away, promoting once it is due, and keeps the earliest due time", async () => {
    const clock = new RecordingClock(T0);
    const due = T0 + 365 * day;
    const promotions: number[] = [];
    const store = {
      promoteDue: (now: number) => {
        promotions.push(now);
        return Promise.resolve(now >= due ? ["later"] : []);
      },
      nextDueAt: () => Promise.resolve(clock.now() >= due ? null : due),
    } as unknown as TaskStore;
    const pending: Array<Promise<unknown>> = [];
    let kicks = 0;
    const maintenance = new Maintenance(
      store, compileSchedulerOptions({}), clock, createLogger({ level: "silent" }), { maxDelayMs: 0, jitter: 0 },
      (work) => pending.push(work), () => kicks++, () => undefined,
    );
    maintenance.dueAt(due);
    maintenance.dueAt(due + 1); // later than the armed one: no second timer
    expect(clock.waits).toEqual([day]);
    for (let waited = 0; waited < 365; waited++) {
      clock.advance(day);
      while (pending.length > 0) await pending.shift();
    }
    expect(clock.now()).toBe(due);
    expect(clock.waits).toHaveLength(365);
    expect(clock.waits.every((ms) => ms > 0 && ms <= day)).toBe(true);
    expect(promotions).toHaveLength(365);
    expect(promotions.at(-1)).toBe(due);
    expect(kicks).toBe(1);
    await maintenance.stop();
  });
});
