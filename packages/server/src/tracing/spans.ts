// The Gateway's and the Scheduler's own spans. Each is a child of the submit's span, as the task's
// trace context names it, and none replaces that context: the task carries the submit's context
// to the worker untouched, so the handler's span is the submit span's child however many services
// it passed. Only traced tasks, and only once startTracing has registered an SDK in this process,
// cost anything: otherwise every function here returns at its first test.
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import { messagingSystem, spanAttributes, spanTime, version } from "orchestrator-ts-client/internal";
import type { TraceContext } from "../store/store.js";

const tracer = trace.getTracer("orchestrator-ts", version);

let started = false;

/** Called by startTracing once a tracer provider is registered: from then on services record spans. */
export function markTracingStarted(): void {
  started = true;
}

/** A W3C carrier: the wire's trace_context map, or the store's TraceContext. */
type Carrier = Readonly<Record<string, string>> | TraceContext;

function hasContext(carrier: Carrier | null | undefined): carrier is Carrier {
  return carrier !== null && carrier !== undefined && typeof carrier.traceparent === "string";
}

function taskSpan(name: string, kind: SpanKind, carrier: Carrier, taskName: string, attributes: Attributes, startTime?: number): Span {
  const parent = propagation.extract(ROOT_CONTEXT, carrier);
  return tracer.startSpan(name, {
    kind, startTime: startTime ?? spanTime(),
    attributes: { [spanAttributes.system]: messagingSystem, [spanAttributes.destination]: taskName, [spanAttributes.taskName]: taskName, ...attributes },
  }, parent);
}

function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end(spanTime());
}

/** The Gateway's `forward <name>` SERVER span around one submit it passes to a Scheduler. */
export function traceForward<T extends { taskId: string }>(task: { name: string; traceContext: Readonly<Record<string, string>> }, forward: () => Promise<T>): Promise<T> {
  if (!started || !hasContext(task.traceContext)) return forward();
  const span = taskSpan(`forward ${task.name}`, SpanKind.SERVER, task.traceContext, task.name, {});
  return forward().then(
    (answer) => {
      span.setAttributes({ [spanAttributes.messageId]: answer.taskId, [spanAttributes.taskId]: answer.taskId });
      endSpan(span);
      return answer;
    },
    (error: unknown) => {
      endSpan(span, error);
      throw error;
    },
  );
}

/**
 * The Scheduler's `enqueue <name>` SERVER spans, one per traced task of one store call, ended when
 * it commits (with the task id it answered: a repeated idempotent submit's is the first task's) or
 * fails. Answers `enqueued` itself when no task is traced.
 */
export function traceEnqueue<T extends { taskId: string }>(
  tasks: ReadonlyArray<{ name: string; traceContext?: TraceContext | null | undefined }>, enqueued: Promise<T[]>,
): Promise<T[]> {
  if (!started || !tasks.some((task) => hasContext(task.traceContext))) return enqueued;
  const spans = tasks.map((task) => (hasContext(task.traceContext) ? taskSpan(`enqueue ${task.name}`, SpanKind.SERVER, task.traceContext, task.name, {}) : null));
  return enqueued.then(
    (events) => {
      spans.forEach((span, index) => {
        if (!span) return;
        const taskId = events[index]?.taskId ?? "";
        span.setAttributes({ [spanAttributes.messageId]: taskId, [spanAttributes.taskId]: taskId });
        endSpan(span);
      });
      return events;
    },
    (error: unknown) => {
      for (const span of spans) if (span) endSpan(span, error);
      throw error;
    },
  );
}

/**
 * The Scheduler's `dispatch <name>` span of one attempt: from the start of the dispatch round that
 * claimed it (`claimStartedAt`, Unix ms from spanTime()) to its assignment to the worker.
 */
export function traceDispatch(attempt: { taskId: string; attempt: number; name: string; workerId: string; traceContext: TraceContext | null }, claimStartedAt: number): void {
  if (!started || !hasContext(attempt.traceContext)) return;
  endSpan(taskSpan(`dispatch ${attempt.name}`, SpanKind.INTERNAL, attempt.traceContext, attempt.name, {
    [spanAttributes.messageId]: attempt.taskId, [spanAttributes.taskId]: attempt.taskId, [spanAttributes.attempt]: attempt.attempt,
    [spanAttributes.workerId]: attempt.workerId,
  }, claimStartedAt));
}
