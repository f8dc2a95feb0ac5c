import { TaskState as ProtoTaskState } from "./generated/orchestrator/v1/orchestrator.js";

/** A task's lifecycle, as the SDK, the CLI and the Scheduler's domain name it. */
export const taskStates = ["scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled"] as const;
export type TaskState = (typeof taskStates)[number];

export const terminalStates: ReadonlySet<TaskState> = new Set(["succeeded", "failed", "cancelled"]);

export function isTerminal(state: TaskState): boolean {
  return terminalStates.has(state);
}

const toProto: Record<TaskState, ProtoTaskState> = {
  scheduled: ProtoTaskState.TASK_STATE_SCHEDULED,
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
