import { describe, expect, it } from "vitest";
import { exponentialBackoff } from "../../packages/server/src/scheduler/retry-policy.js";

/** A random source that always returns the same value. */
const fixed = (value: number) => (): number => value;

describe("exponentialBackoff", () => {
  it("doubles the delay per failed attempt", () => {
    // random 0.999 scales by ~1, so the exponential shape shows through.
    const backoff = exponentialBackoff({ maxDelayMs: 1_000_000, random: fixed(0.999) });
    const delays = [1, 2, 3, 4, 5].map((attempt) => backoff(attempt, 10_000));
    const full = [10_000, 20_000, 40_000, 80_000, 160_000];
    delays.forEach((delay, index) => {
      const expected = full[index] ?? 0;
      expect(delay).toBeLessThan(expected);
      expect(delay).toBeGreaterThanOrEqual(Math.floor(expected * 0.999));
    });
    for (let index = 1; index < delays.length; index++) {
      expect(delays[index]).toBe(2 * (delays[index - 1] ?? 0));
    }
  });

  it("treats the first failed attempt (and anything below it) as the base delay", () => {
    const backoff = exponentialBackoff({ maxDelayMs: 1_000_000, random: fixed(0.5) });
    // factor 0.5 + 0.5 * 0.5 = 0.75
    expect(backoff(1, 400)).toBe(300);
    expect(backoff(0, 400)).toBe(300);
    expect(backoff(2, 400)).toBe(600);
    expect(backoff(3, 400)).toBe(1200);
  });

  it("caps the delay at maxDelayMs before applying jitter", () => {
    const backoff = exponentialBackoff({ maxDelayMs: 5000, random: fixed(0.999) });
    expect(backoff(3, 1000)).toBe(3998);
    expect(backoff(4, 1000)).toBe(4998);
    expect(backoff(10, 1000)).toBe(4998);
    // A huge attempt number neither overflows nor exceeds the cap.
    expect(backoff(1000, 1000)).toBeLessThanOrEqual(5000);
    expect(backoff(1000, 1000)).toBeGreaterThan(4990);
    const halfJitter = exponentialBackoff({ maxDelayMs: 5000, random: fixed(0) });
    expect(halfJitter(20, 1000)).toBe(2500);
  });

  it("scales by a jitter factor in [0.5, 1): random 0 gives half, 0.999 nearly the full delay", () => {
    const half = exponentialBackoff({ maxDelayMs: 1_000_000, random: fixed(0) });
    expect(half(1, 1000)).toBe(500);
    expect(half(3, 1000)).toBe(2000);

    const nearlyFull = exponentialBackoff({ maxDelayMs: 1_000_000, random: fixed(0.999) });
    expect(nearlyFull(1, 10_000)).toBe(9995);
    expect(nearlyFull(1, 10_000)).toBeLessThan(10_000);
    expect(nearlyFull(3, 1000)).toBe(3998);

    // Across the whole range of the random source the factor stays within [0.5, 1).
    for (let step = 0; step < 100; step++) {
      const r = step / 100;
      const delay = exponentialBackoff({ maxDelayMs: 1_000_000, random: fixed(r) })(2, 10_000);
      expect(delay).toBeGreaterThanOrEqual(10_000);
      expect(delay).toBeLessThan(20_000);
      expect(delay).toBe(Math.round(20_000 * (0.5 + r * 0.5)));
    }
  });

  it("uses the injected random source on every call", () => {
    const values = [0, 0.5, 0.999];
    let calls = 0;
    const backoff = exponentialBackoff({ maxDelayMs: 1_000_000, random: () => values[calls++ % values.length] ?? 0 });
    expect([backoff(1, 10_000), backoff(1, 10_000), backoff(1, 10_000)]).toEqual([5000, 7500, 9995]);
    expect(calls).toBe(3);
  });
});
