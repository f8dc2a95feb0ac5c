import type { Logger } from "../logger.js";
import type { RateLimitedError } from "../errors/rate-limited.js";

/** What a handler receives for one attempt of one task. */
export interface TaskContext {
  readonly taskId: string;
  readonly name: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxRetries: number;
  readonly payload: Buffer;
  /** Aborted when the attempt times out, is cancelled, or the worker stops: stop work promptly. */
  readonly signal: AbortSignal;
  /** Reports progress, 0-100, with an optional message; recorded and streamed to subscribers. */
  progress(percent: number, message?: string): void;
  readonly log: Logger;
  /**
   * The error to throw when the handler's upstream asked it to slow down: `throw ctx.rateLimited(30_000)`.
   * The task waits `retryAfterMs` (a positive number of ms, at most a day) without using up a retry,
   * and no task of its name starts until then. Throws a TypeError for a wait that is not a positive number.
   */
  rateLimited(retryAfterMs: number, message?: string): RateLimitedError;
}

/**
 * Runs one attempt. The returned value is the task's result: bytes as they are, a string as UTF-8,
 * anything else as JSON. Throwing fails the attempt (TaskFailure.nonRetryable() ends the task),
 * except throwing ctx.rateLimited(ms), which defers it.
 */
export type TaskHandler = (context: TaskContext) => unknown;

export type HandlerMap = Record<string, TaskHandler>;

export function encodeResult(value: unknown): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") return Buffer.from(value, "utf8");
  return Buffer.from(JSON.stringify(value), "utf8");
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
