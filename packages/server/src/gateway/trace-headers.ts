import type { Metadata } from "@grpc/grpc-js";
import type { SubmitTaskRequest } from "orchestrator-ts-client/internal";
import { limits } from "../scheduler/limits.js";
import { isTraceparent } from "../tracing/traceparent.js";

/**
 * The W3C Trace Context request headers of a generic client (grpcurl, a gRPC library instrumented
 * by OpenTelemetry) as a trace_context map, or null. A malformed traceparent is ignored, as W3C
 * asks of a receiver: a header the caller may not have set itself must not fail its submit.
 */
export function traceHeaders(metadata: Metadata): Record<string, string> | null {
  const [traceparent] = metadata.get("traceparent");
  if (typeof traceparent !== "string" || !isTraceparent(traceparent.trim())) return null;
  // Several tracestate headers are one list, joined with commas (W3C); one too long is dropped, as a vendor may.
  const tracestate = metadata.get("tracestate").filter((value): value is string => typeof value === "string").join(",").trim();
  return tracestate !== "" && tracestate.length <= limits.tracestateMaxLength ? { traceparent: traceparent.trim(), tracestate } : { traceparent: traceparent.trim() };
}

/** The task with the headers' trace context, unless it carries its own (the field wins over the headers). */
export function withTraceHeaders(task: SubmitTaskRequest, headers: Record<string, string> | null): SubmitTaskRequest {
  return headers && Object.keys(task.traceContext).length === 0 ? { ...task, traceContext: headers } : task;
}
