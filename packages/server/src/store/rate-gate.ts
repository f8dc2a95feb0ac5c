/**
 * The arithmetic of a name's rate limit, shared by the stores (which read and write the row in
 * their own SQL): how many starts the current window has left, and when more may start.
 */

export interface RateGateRow {
  maxStarts: number | null;
  perMs: number | null;
  windowStart: number;
  used: number;
  throttledUntil: number | null;
}

export interface RateBudget {
  /** Starts allowed now (Infinity when no limit applies). */
  allowed: number;
  /** The window the starts are counted in, and the starts counted in it before this claim. */
  windowStart: number;
  used: number;
  /** When more may start, once `allowed` is spent (null: never held back). */
  opensAt: number | null;
  /** Whether the row's count must be written after the claim. */
  counted: boolean;
}

export function rateBudget(row: RateGateRow | null, now: number): RateBudget {
  if (row?.throttledUntil !== null && row?.throttledUntil !== undefined && row.throttledUntil > now) {
    return { allowed: 0, windowStart: row.windowStart, used: row.used, opensAt: row.throttledUntil, counted: false };
  }
  if (!row || row.maxStarts === null || row.perMs === null) {
    return { allowed: Infinity, windowStart: 0, used: 0, opensAt: null, counted: false };
  }
  const windowStart = now - (now % row.perMs);
  const used = row.windowStart === windowStart ? row.used : 0;
  return { allowed: Math.max(0, row.maxStarts - used), windowStart, used, opensAt: windowStart + row.perMs, counted: true };
}

/**
 * Work hints promised for later: when a claim finds a name held back by its rate limit, the
 * store's own Scheduler is told to look again when the window opens (each Scheduler that found it
 * held back sets its own). One timer per name, for the earliest time asked; unref'd, cleared on close.
 */
export class LaterWork {
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();

  constructor(private readonly emit: (name: string) => void) {}

  /** Hint `name` after `delayMs` (ms from now), unless an earlier hint for it is already set. */
  after(name: string, delayMs: number): void {
    const at = performance.now() + Math.max(0, delayMs);
    const existing = this.timers.get(name);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(name);
      this.emit(name);
    }, Math.max(0, delayMs) + 1);
    timer.unref();
    this.timers.set(name, { at, timer });
  }

  close(): void {
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
