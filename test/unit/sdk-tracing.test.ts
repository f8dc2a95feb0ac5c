// The SDK's tracing without an OpenTelemetry SDK registered (the API alone is a no-op): a submit
// sends no trace context and records nothing, and a run span is a no-op too. With one registered,
// the submit's headers are its span's.
import { context, propagation, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { afterEach, describe, expect, it } from "vitest";
import { endRunSpan, endSubmitSpan, startRunSpan, startSubmitSpan } from "../../packages/client/src/tracing.js";
import { AttemptOutcome } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";

const assignment = { taskId: "t1", attempt: 1, name: "job", payload: Buffer.alloc(0), timeoutMs: 1000, maxRetries: 0 };

describe("the SDK's spans", () => {
  afterEach(() => {
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it("send no trace context and record nothing without an OpenTelemetry SDK", async () => {
    const { span, traceContext } = startSubmitSpan("job");
    expect(traceContext).toEqual({});
    expect(span.isRecording()).toBe(false);
    await endSubmitSpan(span, Promise.resolve({ taskId: "t1" }));
    const run = startRunSpan({ ...assignment, traceContext: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } }, "w1");
    expect(run.span.isRecording()).toBe(false);
  });

  it("send the submit span's own traceparent with one, and start the run span under it", async () => {
    const spans = new InMemorySpanExporter();
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).register();
    const { span, traceContext } = startSubmitSpan("job");
    const { traceId, spanId } = span.spanContext();
    expect(traceContext).toEqual({ traceparent: `00-${traceId}-${spanId}-01` });
    await endSubmitSpan(span, Promise.resolve({ taskId: "t1" }));
    const run = startRunSpan({ ...assignment, traceContext }, "w1");
    run.span.end();
    const [submitted, ran] = spans.getFinishedSpans();
    expect(submitted?.attributes["orchestrator.task.id"]).toBe("t1");
    expect(ran?.parentSpanContext?.spanId).toBe(spanId);
    expect(ran?.spanContext().traceId).toBe(traceId);
  });

  it("start and end on a sub-millisecond clock, so spans of different processes line up below a millisecond", async () => {
    const spans = new InMemorySpanExporter();
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).register();
    const preciseNow = (): number => performance.timeOrigin + performance.now();
    const unixMs = ([seconds, nanos]: [number, number]): number => seconds * 1000 + nanos / 1e6;
    // OpenTelemetry's own start is Date.now(), up to a millisecond before `before`: ten spans in a
    // row would all have to start in a millisecond's first microseconds to pass by chance.
    for (let index = 0; index < 10; index++) {
      const before = preciseNow();
      const { span } = startSubmitSpan("job");
      const run = startRunSpan({ ...assignment, traceContext: {} }, "w1");
      const started = preciseNow();
      await endSubmitSpan(span, Promise.resolve({ taskId: "t1" }));
      endRunSpan(run.span, AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, undefined);
      const after = preciseNow();
      for (const finished of spans.getFinishedSpans()) {
        expect(unixMs(finished.startTime)).toBeGreaterThanOrEqual(before - 0.001);
        expect(unixMs(finished.startTime)).toBeLessThanOrEqual(started + 0.001);
        expect(unixMs(finished.endTime)).toBeGreaterThanOrEqual(started - 0.001);
        expect(unixMs(finished.endTime)).toBeLessThanOrEqual(after + 0.001);
      }
      spans.reset();
    }
  });
});
