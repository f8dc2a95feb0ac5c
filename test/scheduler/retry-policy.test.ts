import { describe, expect, it } from "vitest";
import { retryDelayMs, type RetryBackoff } from "../../packages/server/src/store/store.js";

const scheduler: RetryBackoff = { maxDelayMs: 1_000_000, jitter: 0.5 };

describe("retryDelayMs (the retry backoff every store applies)", () => {
  it("doubles the delay per failed attempt", () => {
    const exact: RetryBackoff = { maxDelayMs: 1_000_000, jitter: 0 };
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(exact, attempt, 10_000, 0.7))).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
  });

  it("treats the first failed attempt (and anything below it) as the base delay", () => {
    // factor 1 - 0.5 * 0.5 = 0.75
    expect(retryDelayMs(scheduler, 1, 400, 0.5)).toBe(300);
    expect(retryDelayMs(scheduler, 0, 400, 0.5)).toBe(300);
    expect(retryDelayMs(scheduler, 2, 400, 0.5)).toBe(600);
    expect(retryDelayMs(scheduler, 3, 400, 0.5)).toBe(1200);
  });

  it("caps the delay at maxDelayMs before applying jitter", () => {
    const capped: RetryBackoff = { maxDelayMs: 5000, jitter: 0.5 };
    expect(retryDelayMs(capped, 3, 1000, 0)).toBe(4000);
    expect(retryDelayMs(capped, 4, 1000, 0)).toBe(5000);
    expect(retryDelayMs(capped, 10, 1000, 0)).toBe(5000);
    // A huge attempt number neither overflows nor exceeds the cap.
    expect(retryDelayMs(capped, 1000, 1000, 0)).toBe(5000);
    expect(retryDelayMs(capped, 20, 1000, 0.999_999)).toBe(2500);
  });

  it("scales by a jitter factor in (1 - jitter, 1]", () => {
    for (let step = 0; step < 100; step++) {
      const r = step / 100;
      const delay = retryDelayMs(scheduler, 2, 10_000, r);
      expect(delay).toBeLessThanOrEqual(20_000);
      expect(delay).toBeGreaterThan(10_000);
      expect(delay).toBe(Math.round(20_000 * (1 - 0.5 * r)));
    }
  });
});
