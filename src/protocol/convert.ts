import { TaskState as ProtoTaskState } from "./generated/orchestrator/v1/orchestrator.js";
import type { ProgressUpdate, Task } from "./generated/orchestrator/v1/orchestrator.js";
import type { TaskEvent, TaskRecord, TaskState } from "../store/store.js";

const toProto: Record<TaskState, ProtoTaskState> = {
  queued: ProtoTaskState.TASK_STATE_QUEUED,
  running: ProtoTaskState.TASK_STATE_RUNNING,
  retrying: ProtoTaskState.TASK_STATE_RETRYING,
  succeeded: ProtoTaskState.TASK_STATE_SUCCEEDED,
  failed: ProtoTaskState.TASK_STATE_FAILED,
  cancelled: ProtoTaskState.TASK_STATE_CANCELLED,
};

const fromProto = new Map<ProtoTaskState, TaskState>(Object.entries(toProto).map(([state, proto]) => [proto, state as TaskState]));

export function stateToProto(state: TaskState): ProtoTaskState {
  return toProto[state];
}

/** undefined for TASK_STATE_UNSPECIFIED or a number outside the enum. */
export function stateFromProto(state: ProtoTaskState): TaskState | undefined {
  return fromProto.get(state);
}

export function stateLabel(state: ProtoTaskState): string {
  return stateFromProto(state) ?? "unspecified";
}

export function isTerminalProtoState(state: ProtoTaskState): boolean {
  return state === ProtoTaskState.TASK_STATE_SUCCEEDED || state === ProtoTaskState.TASK_STATE_FAILED || state === ProtoTaskState.TASK_STATE_CANCELLED;
}

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
    nextAttemptAtMs: task.nextAttemptAt ?? 0, lastSequence: task.lastSequence,
  };
}

export function eventToProto(event: TaskEvent): ProgressUpdate {
  return {
    taskId: event.taskId, sequence: event.sequence, state: stateToProto(event.state), attempt: event.attempt,
    percent: event.percent, message: event.message, timestampMs: event.timestamp, workerId: event.workerId ?? "",
    result: bytes(event.result), error: event.error ?? "", nextAttemptAtMs: event.nextAttemptAt ?? 0,
  };
}

export function toBuffer(value: Uint8Array): Buffer {
  return bytes(value);
}
