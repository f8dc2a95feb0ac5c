// RateLimitedError, what a handler throws (ctx.rateLimited(ms)) when its upstream says slow down:
// the wait it carries, and the TypeError for a wait that is not a positive number of milliseconds.
import { describe, expect, it } from "vitest";
import { RateLimitedError, maxRateLimitedDelayMs } from "../../packages/client/src/index.js";

describe("RateLimitedError", () => {
  it("carries whole milliseconds: a fraction rounded up, more than a day shortened to a day", () => {
    expect(new RateLimitedError(30_000).retryAfterMs).toBe(30_000);
    expect(new RateLimitedError(0.2).retryAfterMs).toBe(1);
    expect(new RateLimitedError(1.5).retryAfterMs).toBe(2);
    expect(new RateLimitedError(maxRateLimitedDelayMs + 1).retryAfterMs).toBe(86_400_000);
    expect(new RateLimitedError(Number.MAX_SAFE_INTEGER).retryAfterMs).toBe(86_400_000);
  });

  it("says what it is, keeps a message and a cause", () => {
    const error = new RateLimitedError(300);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("RateLimitedError");
    expect(error.message).toBe("rate limited by the upstream; retry after 300 ms");
    const cause = new Error("HTTP 429");
    expect(new RateLimitedError(300, "the API said 429", { cause })).toMatchObject({ message: "the API said 429", cause });
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, "30000", undefined])("refuses %s with a TypeError naming retryAfterMs", (value) => {
    expect(() => new RateLimitedError(value as number)).toThrow(TypeError);
    expect(() => new RateLimitedError(value as number)).toThrow(/^retryAfterMs must be a positive, finite number of milliseconds/);
  });

  it("is recognised by RateLimitedError.is, also from another copy of the package (by its brand)", () => {
    expect(RateLimitedError.is(new RateLimitedError(5))).toBe(true);
    expect(RateLimitedError.is(new Error("rate limited"))).toBe(false);
    expect(RateLimitedError.is({ name: "RateLimitedError", retryAfterMs: 5 })).toBe(false);
    const foreign = Object.defineProperty({ retryAfterMs: 5, message: "slow down" }, Symbol.for("orchestrator-ts-client.RateLimitedError"), { value: true });
    expect(RateLimitedError.is(foreign)).toBe(true);
  });
});
