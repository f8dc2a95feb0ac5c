import type { BackoffPolicy } from "../store/store.js";

export interface RetryPolicyOptions {
  /** Upper bound of one delay. */
  maxDelayMs: number;
  /** Returns a number in [0, 1); injectable so tests can pin the jitter. */
  random?: () => number;
}

/**
 * Exponential backoff with jitter: the n-th retry waits base * 2^(n-1), capped, then scaled by a
 * random factor in [0.5, 1) so that tasks failing together do not retry together.
 */
export function exponentialBackoff(options: RetryPolicyOptions): BackoffPolicy {
  const random = options.random ?? Math.random;
  return (failedAttempt, baseMs) => {
    const exponential = baseMs * 2 ** Math.min(Math.max(failedAttempt - 1, 0), 30);
    const capped = Math.min(options.maxDelayMs, exponential);
    return Math.round(capped * (0.5 + random() * 0.5));
  };
}
