import {
  CatchUpPolicy, OverlapPolicy, stateToProto, type ConcurrencyLimit as ConcurrencyLimitProto, type PausedQueue, type ProgressUpdate,
  type GetTaskStatsResponse, type RateLimit as RateLimitMessage, type Schedule, type Task, type TaskEventUpdate,
} from "orchestrator-ts-client/internal";
import type { ConcurrencyLimit, PausedName, QueueEvent, RateLimit, ScheduleRecord, TaskEvent, TaskRecord, TaskStats, TraceContext } from "../store/store.js";

function bytes(value: Uint8Array | null): Buffer {
  if (!value) return Buffer.alloc(0);
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

export function taskToProto(task: TaskRecord): Task {
  return {
    taskId: task.id, name: task.name, description: task.description, payload: bytes(task.payload),
    state: stateToProto(task.state), attempt: task.attempt, maxRetries: task.maxRetries,
    timeoutSecs: Math.round(task.timeoutMs / 1000), retryBackoffMs: task.retryBackoffMs, result: bytes(task.result),
    error: task.error ?? "", percent: task.percent, message: task.message, workerId: task.workerId ?? "",
    createdAtMs: task.createdAt, startedAtMs: task.startedAt ?? 0, finishedAtMs: task.finishedAt ?? 0,
    nextAttemptAtMs: task.nextAttemptAt ?? 0, lastSequence: task.lastSequence, priority: task.priority, runAtMs: task.runAt ?? 0,
    scheduleId: task.scheduleId ?? "", scheduleTickMs: task.scheduleTickMs ?? 0,
    concurrencyKey: task.concurrencyKey ?? undefined, concurrencyLimit: task.concurrencyLimit ?? undefined,
  };
}

const overlapToProto = { allow: OverlapPolicy.OVERLAP_POLICY_ALLOW, skip: OverlapPolicy.OVERLAP_POLICY_SKIP } as const;
const catchUpToProto = { skip: CatchUpPolicy.CATCH_UP_POLICY_SKIP, one: CatchUpPolicy.CATCH_UP_POLICY_ONE, all: CatchUpPolicy.CATCH_UP_POLICY_ALL } as const;

export function scheduleToProto(schedule: ScheduleRecord): Schedule {
  const { task } = schedule;
  return {
    scheduleId: schedule.id, key: schedule.key ?? "", cron: schedule.cron, timeZone: schedule.timeZone,
    task: {
      name: task.name, description: task.description, payload: bytes(task.payload), timeoutSecs: Math.round(task.timeoutMs / 1000),
      maxRetries: task.maxRetries, retryBackoffMs: task.retryBackoffMs, priority: task.priority,
    },
    overlap: overlapToProto[schedule.overlap], catchUp: catchUpToProto[schedule.catchUp], paused: schedule.paused,
    nextFireAtMs: schedule.nextFireAt ?? 0, lastTickMs: schedule.lastTickMs ?? 0, lastTaskId: schedule.lastTaskId ?? "",
    createdAtMs: schedule.createdAt, updatedAtMs: schedule.updatedAt,
  };
}

export function eventToProto(event: TaskEvent): ProgressUpdate {
  return {
    taskId: event.taskId, sequence: event.sequence, state: stateToProto(event.state), attempt: event.attempt,
    percent: event.percent, message: event.message, timestampMs: event.timestamp, workerId: event.workerId ?? "",
    result: bytes(event.result), error: event.error ?? "", nextAttemptAtMs: event.nextAttemptAt ?? 0,
  };
}

export function queueEventToProto(event: QueueEvent): TaskEventUpdate {
  return {
    taskId: event.taskId, name: event.name, state: stateToProto(event.state), attempt: event.attempt, sequence: event.sequence,
    percent: event.percent, message: event.message, timestampMs: event.timestamp, workerId: event.workerId ?? "", error: event.error ?? "",
    nextAttemptAtMs: event.nextAttemptAt ?? 0, cursor: event.cursor,
  };
}

export function pausedToProto(paused: PausedName): PausedQueue {
  return { name: paused.name, reason: paused.reason, pausedAtMs: paused.pausedAt };
}

export function concurrencyLimitToProto(limit: ConcurrencyLimit): ConcurrencyLimitProto {
  return { name: limit.name, maxRunning: limit.maxRunning, updatedAtMs: limit.updatedAt };
}

export function rateLimitToProto(limit: RateLimit): RateLimitMessage {
  return { name: limit.name, maxStarts: limit.maxStarts, perMs: limit.perMs, perKey: limit.perKey, updatedAtMs: limit.updatedAt };
}

/** A trace context as the trace_context map of the wire carries it (W3C header names); empty for none. */
export function traceContextToProto(context: TraceContext | null): Record<string, string> {
  if (!context) return {};
  return context.tracestate ? { traceparent: context.traceparent, tracestate: context.tracestate } : { traceparent: context.traceparent };
}

export function toBuffer(value: Uint8Array): Buffer {
  return bytes(value);
}

export function taskStatsToProto(stats: TaskStats): GetTaskStatsResponse {
  return {
    names: stats.names.map(({ name, counts, succeededPerMinute, failedPerMinute, paused }) => ({
      name, ...counts, succeededPerMinute, failedPerMinute, paused,
    })),
    firstMinuteMs: stats.firstMinute,
  };
}
