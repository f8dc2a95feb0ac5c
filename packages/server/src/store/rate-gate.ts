/**
 * The arithmetic of a name's rate limit, shared by the stores (which read and write the row in
 * their own SQL): how many starts the current window has left, and when more may start.
 */

export interface RateGateRow {
  maxStarts: number | null;
  perMs: number | null;
  /** The limit applies to each concurrency key of the name on its own (the unkeyed tasks share one window). */
  perKey: boolean;
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
  const current = now - (now % row.perMs);
  // Windows never go back: a window already counted ahead of this claim's clock (another
  // Scheduler's, or this one's before its skew was measured again) is the one this claim counts in,
  // else a start a moment "earlier" would open a fresh, empty window and the limit could be spent
  // twice around an edge. (A window of an earlier per_ms is not aligned to this one: not taken.)
  const ahead = row.windowStart > current && row.windowStart % row.perMs === 0;
  const windowStart = ahead ? row.windowStart : current;
  const used = row.windowStart === windowStart ? row.used : 0;
  return { allowed: Math.max(0, row.maxStarts - used), windowStart, used, opensAt: windowStart + row.perMs, counted: true };
}

/** The earlier of two times, either of which may be missing. */
export function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** A per-key rate limit as the keyed claim applies it to each key's own window. */
export interface KeyRate {
  maxStarts: number;
  perMs: number;
}

/** One key's window: what it has left now, from the key row's counters. */
export function keyBudget(rate: KeyRate, windowStart: number, used: number, now: number): RateBudget {
  return rateBudget({ maxStarts: rate.maxStarts, perMs: rate.perMs, perKey: true, windowStart, used, throttledUntil: null }, now);
}

/**
 * How one claim of one name applies the name's rate limit row: a throttle holds every task back;
 * a name-wide limit caps keyed and unkeyed starts together; a per-key limit leaves the keyed claim
 * to each key's window (keyRate) and caps the unkeyed tasks with the name's own window.
 */
export class NameGate {
  readonly budget: RateBudget;
  /** Set when each key has its own window. */
  readonly keyRate: KeyRate | null;
  private readonly throttled: boolean;

  constructor(row: RateGateRow | null, private readonly now: number) {
    this.budget = rateBudget(row, now);
    this.throttled = row?.throttledUntil !== null && row?.throttledUntil !== undefined && row.throttledUntil > now;
    this.keyRate = !this.throttled && row?.perKey === true && row.maxStarts !== null && row.perMs !== null
      ? { maxStarts: row.maxStarts, perMs: row.perMs } : null;
  }

  /** Keyed tasks this claim may start, of the `left` slots. */
  keyedCap(left: number): number {
    return this.keyRate ? left : Math.min(left, this.budget.allowed);
  }

  /** Unkeyed tasks it may start once `keyed` keyed ones started. */
  unkeyedCap(left: number, keyed: number): number {
    return this.keyRate ? Math.min(left - keyed, this.budget.allowed) : Math.min(left, this.budget.allowed) - keyed;
  }

  /** The starts the name's own window counts. */
  counted(keyed: number, unkeyed: number): number {
    return this.keyRate ? unkeyed : keyed + unkeyed;
  }

  /**
   * When to look again because the name's window (not the queue) ended this claim: the claim
   * started all the window allowed and had slots for more. Null when nothing was held back.
   */
  wakeAt(left: number, keyed: number, unkeyed: number): number | null {
    if (this.budget.opensAt === null) return null;
    const counted = this.counted(keyed, unkeyed);
    const room = this.keyRate ? left - keyed : left;
    return counted >= this.budget.allowed && this.budget.allowed < room ? this.budget.opensAt : null;
  }
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
