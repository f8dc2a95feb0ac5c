/** Longest a handler may ask its task (and its name) to wait, ms: a day, as the Scheduler allows. */
export const maxRateLimitedDelayMs = 24 * 3600 * 1000;

/** Marks the class across copies of this package (a handler module may load another copy than the worker's). */
const brand = Symbol.for("orchestrator-ts-client.RateLimitedError");

/**
 * What a handler throws when its upstream (an API answering 429, a quota) asked it to slow down:
 * `throw ctx.rateLimited(30_000)`, or `throw new RateLimitedError(30_000)`. The attempt is not a
 * failure: the task waits `retryAfterMs` without using up a retry, and no task of its name starts,
 * on any Scheduler, until then.
 */
export class RateLimitedError extends Error {
  override name = "RateLimitedError";
  /** Whole milliseconds, 1 to a day (a longer wait is shortened to a day). */
  readonly retryAfterMs: number;

  /** `retryAfterMs`: a positive, finite number of milliseconds; a fraction is rounded up, more than a day is a day. */
  constructor(retryAfterMs: number, message?: string, options?: { cause?: unknown }) {
    if (typeof retryAfterMs !== "number" || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0) {
      throw new TypeError(`retryAfterMs must be a positive, finite number of milliseconds (e.g. 30_000 for 30 s), got ${String(retryAfterMs)}`);
    }
    const waitMs = Math.min(maxRateLimitedDelayMs, Math.ceil(retryAfterMs));
    super(message ?? `rate limited by the upstream; retry after ${waitMs} ms`, { cause: options?.cause });
    this.retryAfterMs = waitMs;
    Object.defineProperty(this, brand, { value: true });
  }

  /** Whether a value thrown by a handler is a RateLimitedError (of this or another copy of the package). */
  static is(value: unknown): value is RateLimitedError {
    return value instanceof RateLimitedError
      || (typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true
        && typeof (value as { retryAfterMs?: unknown }).retryAfterMs === "number");
  }
}
