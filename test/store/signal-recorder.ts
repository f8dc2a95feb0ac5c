import type { TaskEvent, TaskStore } from "../../packages/server/src/store/store.js";

/**
 * Collects what a store's signals deliver, and lets a test wait (on the signal, not on time) until
 * a condition holds.
 */
export class SignalRecorder {
  readonly batches: Array<readonly TaskEvent[]> = [];
  readonly work: Array<readonly string[] | null> = [];
  private waiters: Array<() => void> = [];
  private readonly unsubscribes: Array<() => void>;

  constructor(store: TaskStore) {
    this.unsubscribes = [
      store.signals.onEvents((events) => { this.batches.push(events); this.wake(); }),
      store.signals.onWorkAvailable((names) => { this.work.push(names); this.wake(); }),
    ];
  }

  get events(): TaskEvent[] {
    return this.batches.flat();
  }

  /** Named work hints only (a poll's null hint says nothing about a particular write). */
  get namedWork(): string[][] {
    return this.work.filter((names): names is readonly string[] => names !== null).map((names) => [...names]);
  }

  async until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  /** Waits for `count` more polls of the store's feed (each ends with a work hint for any name). */
  async untilPolls(count: number): Promise<void> {
    const polls = (): number => this.work.filter((names) => names === null).length;
    const target = polls() + count;
    await this.until(() => polls() >= target, `${count} more polls`);
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

