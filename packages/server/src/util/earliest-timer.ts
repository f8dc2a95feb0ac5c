import type { Clock, TimerHandle } from "./clock.js";

/** Node fires a timer longer than about 24.8 days after 1 ms; no wait here is longer than a day. */
const maxWaitMs = 24 * 3600 * 1000;

/**
 * One timer for the earliest of the times it is asked to wake at: a later time leaves it alone, an
 * earlier one replaces it. A time more than a day away wakes after a day; `onDue` is expected to
 * look up what is due and arm again.
 */
export class EarliestTimer {
  private timer: { handle: TimerHandle; due: number } | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: () => void,
  ) {}

  arm(due: number): void {
    if (this.timer && this.timer.due <= due) return;
    this.clear();
    const handle = this.clock.setTimeout(() => {
      this.timer = null;
      this.onDue();
    }, Math.min(maxWaitMs, Math.max(0, due - this.clock.now())));
    this.timer = { handle, due };
  }

  clear(): void {
    if (this.timer) this.clock.clearTimeout(this.timer.handle);
    this.timer = null;
  }
}
