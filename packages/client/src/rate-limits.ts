// The SDK's view of rate limits (client.setRateLimit, clearRateLimit, listRateLimits).
import type { RateLimit } from "./protocol/generated/orchestrator/v1/orchestrator.js";

/**
 * A task name's rate limit: at most `maxStarts` attempts of the name start per window of `perMs`,
 * counted across every Scheduler; tasks over the limit wait, queued, for a later window.
 */
export interface RateLimitInfo {
  name: string;
  maxStarts: number;
  perMs: number;
  /** Each concurrency key of the name has its own window (the unkeyed tasks share one). */
  perKey: boolean;
  /** When it was last set. */
  updatedAt: Date;
  raw: RateLimit;
}

/** What setRateLimit takes: 1-1,000,000 starts per window of 1,000 ms (a second) to 86,400,000 ms (a day). */
export interface RateLimitSpec {
  maxStarts: number;
  perMs: number;
  /** Give each concurrency key of the name its own window (default false: one window for the name). */
  perKey?: boolean;
}

/** What clearRateLimit answers: whether the name had a limit, and the limit it removed. */
export interface ClearRateLimitResult {
  cleared: boolean;
  /** The limit this call removed; null when the name had none. */
  limit: RateLimitInfo | null;
}

export function toRateLimitInfo(raw: RateLimit): RateLimitInfo {
  return { name: raw.name, maxStarts: raw.maxStarts, perMs: raw.perMs, perKey: raw.perKey, updatedAt: new Date(raw.updatedAtMs), raw };
}
