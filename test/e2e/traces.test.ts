// OpenTelemetry traces across processes: the test is the client, with an OpenTelemetry SDK of its
// own, and submits inside a span of its own; Scheduler, Gateway and Worker run as separate
// processes that export to an in-test OTLP/HTTP receiver. One trace results, in which the
// worker's `run` span is a child of the client's `submit` span and the handler's own span a child
// of `run`; the Gateway's and the Scheduler's spans hang under `submit` too. On both stores, since
// the context waits in the store between submit and dispatch.
import { join } from "node:path";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GatewayClient, type SubmitTaskResponse } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Cluster, repoRoot } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";
import { OtlpReceiver, type ReceivedSpan } from "../helpers/otlp-receiver.js";

const tracedHandlers = join(repoRoot, "test/fixtures/traced-handlers.mjs");

/** The client's SDK, registered for this test file's process: its spans are read from memory. */
const clientSpans = new InMemorySpanExporter();
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "traces-test-client" }),
  spanProcessors: [new SimpleSpanProcessor(clientSpans)],
});

beforeAll(() => {
  provider.register();
});

afterAll(async () => {
  await provider.shutdown();
  // The API's registrations are process-wide: leave none behind for a test file run after this one.
  trace.disable();
  context.disable();
  propagation.disable();
});

function clientSpan(name: string, traceId: string): ReadableSpan {
  const span = clientSpans.getFinishedSpans().find((s) => s.name === name && s.spanContext().traceId === traceId);
  if (!span) throw new Error(`the client recorded no span "${name}" in trace ${traceId}`);
  return span;
}

function one(spans: readonly ReceivedSpan[], service: string, name: string, traceId: string): ReceivedSpan {
  const found = spans.filter((s) => s.service === service && s.name === name && s.traceId === traceId);
  expect(found.map((s) => `${s.service}/${s.name}`)).toEqual([`${service}/${name}`]);
  return found[0] as ReceivedSpan;
}

/** Environment of every service process: export at once (no 5 s batch delay) to the receiver, as JSON. */
function tracingEnv(receiver: OtlpReceiver): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "20" };
}

describe.each(storeBackends)("OpenTelemetry traces across processes (%s store)", (store) => {
  let cluster: Cluster | undefined;
  let receiver: OtlpReceiver | undefined;

  afterEach(async () => {
    await cluster?.stop();
    await receiver?.close();
    cluster = undefined;
    receiver = undefined;
  });

  it("makes one trace: the handler's span is a child of the submit span, the user's own span a child of it, from three services", async () => {
    receiver = await OtlpReceiver.start();
    cluster = await new Cluster({ store, env: tracingEnv(receiver), workerArgs: ["--handlers", tracedHandlers] }).start();
    const { client } = cluster;
    const tracer = trace.getTracer("traces-test");

    const { taskId, traceId } = await tracer.startActiveSpan("user request", async (span) => {
      try {
        const submitted = await client.submit({ name: "traced", payload: { n: 1 } });
        return { taskId: submitted.taskId, traceId: span.spanContext().traceId };
      } finally {
        span.end();
      }
    });
    const result = await client.waitForResult(taskId);
    expect(result.state).toBe("succeeded");
    // The handler's code saw its span active (context kept across its awaits).
    expect(JSON.parse(Buffer.from(result.result ?? []).toString("utf8"))).toEqual({ traced: "in span" });

    const submit = clientSpan("submit traced", traceId);
    expect(submit.parentSpanContext?.spanId).toBe(clientSpan("user request", traceId).spanContext().spanId);
    expect(submit.kind).toBe(SpanKind.PRODUCER);
    expect(submit.attributes).toMatchObject({ "messaging.system": "orchestrator", "messaging.destination.name": "traced", "orchestrator.task.id": taskId });
    const submitId = submit.spanContext().spanId;

    const names = ["orchestrator-worker/run traced", "orchestrator-worker/user work", "orchestrator-gateway/forward traced",
      "orchestrator-scheduler/enqueue traced", "orchestrator-scheduler/dispatch traced"];
    const spans = await receiver.waitFor((received) => names.every((name) => received.some((s) => s.traceId === traceId && `${s.service}/${s.name}` === name)));

    const run = one(spans, "orchestrator-worker", "run traced", traceId);
    expect(run.parentSpanId).toBe(submitId);
    expect(run.kind).toBe(5);
    expect(run.attributes).toMatchObject({ "orchestrator.task.id": taskId, "orchestrator.task.attempt": 1, "messaging.operation.type": "process", "orchestrator.attempt.outcome": "succeeded" });
    expect(run.statusCode).toBe(0);
    const userWork = one(spans, "orchestrator-worker", "user work", traceId);
    expect(userWork.parentSpanId).toBe(run.spanId);
    expect(userWork.attributes["handler.task_id"]).toBe(taskId);
    for (const [service, name] of [["orchestrator-gateway", "forward traced"], ["orchestrator-scheduler", "enqueue traced"], ["orchestrator-scheduler", "dispatch traced"]] as const) {
      const span = one(spans, service, name, traceId);
      expect(span.parentSpanId, `${service}/${name}`).toBe(submitId);
      expect(span.attributes["orchestrator.task.id"]).toBe(taskId);
    }
    // Every span of the services' processes belongs to the one trace.
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(["orchestrator-gateway", "orchestrator-scheduler", "orchestrator-worker"]));
  });

  it("takes the trace context of a generic client's traceparent header (grpcurl -H traceparent:...) on a unary SubmitTask", async () => {
    receiver = await OtlpReceiver.start();
    cluster = await new Cluster({ store, env: tracingEnv(receiver), workerArgs: ["--handlers", tracedHandlers] }).start();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const gateway = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure());
    try {
      const metadata = new Metadata();
      metadata.set("traceparent", `00-${traceId}-${parentId}-01`);
      const { taskId } = await new Promise<SubmitTaskResponse>((resolve, reject) => {
        gateway.submitTask({ name: "traced", description: "", payload: Buffer.alloc(0), idempotencyKey: "", traceContext: {} }, metadata, (error, response) => (error ? reject(error) : resolve(response)));
      });
      expect((await cluster.client.waitForResult(taskId)).state).toBe("succeeded");
      const spans = await receiver.waitFor((received) => received.some((s) => s.traceId === traceId && s.name === "user work"));
      const run = one(spans, "orchestrator-worker", "run traced", traceId);
      expect(run.parentSpanId).toBe(parentId);
      expect(one(spans, "orchestrator-worker", "user work", traceId).parentSpanId).toBe(run.spanId);
    } finally {
      gateway.close();
    }
  });

  it("marks the run span of a failed attempt as an error, and a submit made outside any span starts a trace of its own", async () => {
    receiver = await OtlpReceiver.start();
    cluster = await new Cluster({ store, env: tracingEnv(receiver), workerArgs: ["--handlers", tracedHandlers] }).start();
    const { client } = cluster;
    const { taskId } = await client.submit({ name: "traced-fail", maxRetries: 0 });
    expect((await client.waitForResult(taskId)).state).toBe("failed");
    const submit = clientSpans.getFinishedSpans().find((s) => s.name === "submit traced-fail" && s.attributes["orchestrator.task.id"] === taskId);
    expect(submit?.parentSpanContext).toBeUndefined();
    const traceId = submit?.spanContext().traceId ?? "";
    const spans = await receiver.waitFor((received) => received.some((s) => s.traceId === traceId && s.name === "user failure"));
    const run = one(spans, "orchestrator-worker", "run traced-fail", traceId);
    expect(run.parentSpanId).toBe(submit?.spanContext().spanId);
    expect(run.statusCode).toBe(2);
    expect(run.attributes["orchestrator.attempt.outcome"]).toBe("failed");
    expect(one(spans, "orchestrator-worker", "user failure", traceId).parentSpanId).toBe(run.spanId);
  });
});

describe("OpenTelemetry export from the services", () => {
  let cluster: Cluster | undefined;
  let receiver: OtlpReceiver | undefined;

  afterEach(async () => {
    await cluster?.stop();
    await receiver?.close();
  });

  it("exports OTLP protobuf by default (no protocol set): the worker's run span of the submit's trace", async () => {
    receiver = await OtlpReceiver.start();
    cluster = await new Cluster({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: "20" }, workerArgs: ["--handlers", tracedHandlers] }).start();
    const { taskId, traceId } = await trace.getTracer("traces-test").startActiveSpan("user request", async (span) => {
      try {
        return { ...(await cluster?.client.submit({ name: "traced" })), traceId: span.spanContext().traceId };
      } finally {
        span.end();
      }
    });
    expect((await cluster.client.waitForResult(taskId ?? "")).state).toBe("succeeded");
    // The span's name, its task id attribute and its trace id (16 raw bytes), as protobuf stores them.
    const body = await receiver.waitForProtobuf((b) => b.includes("run traced") && b.includes(taskId ?? "-"));
    expect(body.includes(Buffer.from(traceId, "hex"))).toBe(true);
    expect(body.includes("orchestrator-worker")).toBe(true);
  });

  it("exports the spans a service still holds when it is stopped, before it exits", async () => {
    receiver = await OtlpReceiver.start();
    // A batch delay far beyond the test: only the flush on stop can export the worker's span.
    const env = { ...tracingEnv(receiver), OTEL_BSP_SCHEDULE_DELAY: "600000" };
    cluster = await new Cluster({ env, workerArgs: ["--handlers", tracedHandlers] }).start();
    const { taskId } = await cluster.client.submit({ name: "traced" });
    expect((await cluster.client.waitForResult(taskId)).state).toBe("succeeded");
    expect(receiver.spans.filter((s) => s.name === "run traced")).toEqual([]);
    const [worker] = cluster.workers;
    expect((await worker?.stop("SIGTERM"))?.code).toBe(0);
    expect(receiver.spans.filter((s) => s.name === "run traced" && s.attributes["orchestrator.task.id"] === taskId)).toHaveLength(1);
  });
});

describe("OpenTelemetry traces switched off", () => {
  let cluster: Cluster | undefined;
  let receiver: OtlpReceiver | undefined;

  afterEach(async () => {
    await cluster?.stop();
    await receiver?.close();
  });

  it("exports nothing when OTEL_SDK_DISABLED=true, even with an endpoint set, and tasks run as before", async () => {
    receiver = await OtlpReceiver.start();
    cluster = await new Cluster({ env: { ...tracingEnv(receiver), OTEL_SDK_DISABLED: "true" }, workerArgs: ["--handlers", tracedHandlers] }).start();
    const { client } = cluster;
    const { taskId } = await trace.getTracer("traces-test").startActiveSpan("user request", async (span) => {
      try {
        return await client.submit({ name: "traced" });
      } finally {
        span.end();
      }
    });
    const result = await client.waitForResult(taskId);
    expect(result.state).toBe("succeeded");
    // Without an SDK in the worker the handler's API calls are no-ops: no active span.
    expect(JSON.parse(Buffer.from(result.result ?? []).toString("utf8"))).toEqual({ traced: "no span" });
    // Stopped gracefully, a service with tracing on would export its last spans before it exits.
    const services = [cluster.gateway, ...cluster.workers, cluster.scheduler];
    for (const service of services) expect((await service.stop("SIGTERM")).code).toBe(0);
    for (const service of services) expect(service.logs.some((record) => String(record.msg).startsWith("OpenTelemetry tracing"))).toBe(false);
    expect(receiver.requests).toBe(0);
  });
});
