// OpenTelemetry spans of the SDK, through @opentelemetry/api only: without an OpenTelemetry SDK
// registered in the process the API is a no-op, so no span is recorded and no trace context is
// sent. With one, a submit is a PRODUCER span whose W3C Trace Context travels with the task to the
// worker, where the handler runs inside a CONSUMER span that is its child.
import {
  context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer,
} from "@opentelemetry/api";
import { version } from "./protocol/index.js";
import { AttemptOutcome, type TaskAssignment } from "./protocol/generated/orchestrator/v1/orchestrator.js";

/**
 * Looked up at each use rather than once: a tracer kept from before the application registered
 * its SDK (or re-registered one, as tests do) would stay a no-op. The provider caches tracers, and
 * without an SDK the lookup is a small object.
 */
function tracer(): Tracer {
  return trace.getTracer("orchestrator-ts-client", version);
}

/**
 * Unix ms with sub-ms digits, from the monotonic clock. OpenTelemetry's SDK starts a span at
 * Date.now() (whole ms) and offsets its end from there, so a task's spans in different processes
 * would line up only to within a millisecond; every span here starts and ends on this clock instead.
 */
export function spanTime(): number {
  return performance.timeOrigin + performance.now();
}

/** Attribute names: OpenTelemetry's messaging conventions where one fits, orchestrator.* for the rest. */
export const spanAttributes = {
  system: "messaging.system",
  operationType: "messaging.operation.type",
  operationName: "messaging.operation.name",
  destination: "messaging.destination.name",
  messageId: "messaging.message.id",
  taskId: "orchestrator.task.id",
  taskName: "orchestrator.task.name",
  attempt: "orchestrator.task.attempt",
  outcome: "orchestrator.attempt.outcome",
  workerId: "orchestrator.worker.id",
} as const;

/** messaging.system of every span: this system is not one the conventions name. */
export const messagingSystem = "orchestrator";

function taskAttributes(name: string, operationType: string, operationName: string): Attributes {
  return {
    [spanAttributes.system]: messagingSystem, [spanAttributes.operationType]: operationType, [spanAttributes.operationName]: operationName,
    [spanAttributes.destination]: name, [spanAttributes.taskName]: name,
  };
}

export interface SubmitSpan {
  span: Span;
  /** The W3C headers (traceparent, tracestate) of the span, for the request's trace_context; empty when not traced. */
  traceContext: Record<string, string>;
}

/** Starts `submit <name>` under the active context (the caller's span, if any). */
export function startSubmitSpan(name: string): SubmitSpan {
  const span = tracer().startSpan(`submit ${name}`, { kind: SpanKind.PRODUCER, startTime: spanTime() });
  const traceContext: Record<string, string> = {};
  // Untraced (no SDK, or not sampled and no parent to pass on): nothing to inject, nothing to label.
  if (!isSpanContextValid(span.spanContext())) return { span, traceContext };
  if (span.isRecording()) span.setAttributes(taskAttributes(name, "send", "submit"));
  propagation.inject(trace.setSpan(context.active(), span), traceContext);
  return { span, traceContext };
}

/** Ends a submit span with the task the Gateway answered, or the error that refused it. */
export function endSubmitSpan<T extends { taskId: string }>(span: Span, answer: Promise<T>): Promise<T> {
  return answer.then(
    (submitted) => {
      span.setAttributes({ [spanAttributes.messageId]: submitted.taskId, [spanAttributes.taskId]: submitted.taskId });
      span.end(spanTime());
      return submitted;
    },
    (error: unknown) => {
      failSpan(span, error);
      span.end(spanTime());
      throw error;
    },
  );
}

function failSpan(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

export interface RunSpan {
  span: Span;
  /** The context the handler runs in: the run span active, under the submit's context. */
  context: Context;
}

/**
 * Starts `run <name>` for one attempt: a CONSUMER span whose parent is the submit's context as the
 * assignment carries it (a root span when it carries none, not a child of whatever is active here).
 */
export function startRunSpan(assignment: TaskAssignment, workerId: string): RunSpan {
  const parent = Object.keys(assignment.traceContext).length > 0 ? propagation.extract(ROOT_CONTEXT, assignment.traceContext) : ROOT_CONTEXT;
  const span = tracer().startSpan(`run ${assignment.name}`, { kind: SpanKind.CONSUMER, startTime: spanTime() }, parent);
  if (span.isRecording()) {
    span.setAttributes({
      ...taskAttributes(assignment.name, "process", "run"), [spanAttributes.messageId]: assignment.taskId, [spanAttributes.taskId]: assignment.taskId,
      [spanAttributes.attempt]: assignment.attempt, [spanAttributes.workerId]: workerId,
    });
  }
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a run span with the attempt's outcome: ERROR when the attempt failed or timed out. */
export function endRunSpan(span: Span, outcome: AttemptOutcome, error: string | undefined): void {
  if (span.isRecording()) {
    span.setAttribute(spanAttributes.outcome, (AttemptOutcome[outcome] ?? String(outcome)).replace("ATTEMPT_OUTCOME_", "").toLowerCase());
    if (outcome === AttemptOutcome.ATTEMPT_OUTCOME_FAILED || outcome === AttemptOutcome.ATTEMPT_OUTCOME_TIMED_OUT) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error ?? "" });
    }
  }
  span.end(spanTime());
}

/** Runs `fn` with `ctx` active, so the spans a handler starts nest under its run span. */
export function runInContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}
