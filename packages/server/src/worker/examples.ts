import { createHash } from "node:crypto";
import { TaskFailure } from "orchestrator-ts-client/internal";
import { sleep, type HandlerMap } from "orchestrator-ts-client/internal";

/** Per-step pause of data-processing-job, so a person watching sees each step arrive. */
const stepMs = 150;

function parseJson(payload: Buffer): Record<string, unknown> {
  if (payload.byteLength === 0) return {};
  try {
    const value: unknown = JSON.parse(payload.toString("utf8"));
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : { value };
  } catch {
    throw TaskFailure.nonRetryable("the payload is not JSON");
  }
}

/**
 * Handlers the bundled worker runs with no user code: enough to follow the quick start and to
 * try retries, timeouts and cancellation by hand.
 */
export const exampleHandlers: HandlerMap = {
  /** The guide's task: analyses its payload as text in four reported steps. */
  "data-processing-job": async ({ payload, progress, signal }) => {
    const text = payload.toString("utf8");
    progress(10, "parsing payload");
    await sleep(stepMs, signal);
    const lines = text.length === 0 ? 0 : text.split(/\r?\n/).length;
    const words = text.split(/\s+/).filter(Boolean);
    progress(40, `parsed ${payload.byteLength} bytes, ${words.length} words`);
    await sleep(stepMs, signal);
    const frequencies = new Map<string, number>();
    for (const word of words) frequencies.set(word.toLowerCase(), (frequencies.get(word.toLowerCase()) ?? 0) + 1);
    progress(70, "counted word frequencies");
    await sleep(stepMs, signal);
    const topWords = [...frequencies.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 5).map(([word, count]) => ({ word, count }));
    progress(90, "computed checksum");
    await sleep(stepMs, signal);
    return {
      bytes: payload.byteLength, characters: [...text].length, lines, words: words.length,
      top_words: topWords, sha256: createHash("sha256").update(payload).digest("hex"), uppercase: text.slice(0, 256).toUpperCase(),
    };
  },
  /** Returns its payload unchanged. */
  echo: ({ payload }) => payload,
  /** Does nothing; for measuring the orchestrator itself. */
  noop: () => undefined,
  /** Sleeps {"ms": n} milliseconds (default 1000), reporting progress; stops when aborted. */
  sleep: async ({ payload, progress, signal }) => {
    const ms = Number(parseJson(payload).ms ?? 1000);
    if (!Number.isFinite(ms) || ms < 0) throw TaskFailure.nonRetryable("ms must be a non-negative number");
    const steps = 4;
    for (let step = 1; step <= steps; step++) {
      await sleep(ms / steps, signal);
      progress((step / steps) * 100, `slept ${Math.round((ms * step) / steps)} ms`);
    }
    return { slept_ms: ms };
  },
  /**
   * Fails attempts up to {"fail_attempts": n} (default: every attempt), then succeeds;
   * {"retryable": false} makes the failure final.
   */
  flaky: ({ payload, attempt }) => {
    const options = parseJson(payload);
    const failAttempts = Number(options.fail_attempts ?? Infinity);
    if (attempt <= failAttempts) {
      const message = `attempt ${attempt} failed on purpose`;
      throw options.retryable === false ? TaskFailure.nonRetryable(message) : new Error(message);
    }
    return { succeeded_on_attempt: attempt };
  },
};
