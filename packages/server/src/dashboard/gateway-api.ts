// The dashboard's calls to the Gateway, and the JSON shapes the browser reads. This is the
// transport edge: protobuf messages come in from the Gateway's forwarding and leave as plain JSON
// (string states, Unix milliseconds, null for unset); nothing past this file sees a wire type.
import {
  CatchUpPolicy, Code, OrchestratorError, OverlapPolicy, stateFromProto, stateToProto, TaskState as ProtoTaskState,
  type ProgressUpdate, type Schedule, type Task, type TaskEventUpdate, type TaskFilter as WireTaskFilter, type TaskStateName,
  type WatchTasksRequest,
} from "orchestrator-ts-client/internal";
import type { Gateway } from "../gateway/gateway.js";

/** Which tasks a listing, count, bulk action or event stream covers; every field set narrows it. */
export interface TaskFilter {
  names: string[];
  states: TaskStateName[];
  concurrencyKey?: string;
  scheduleId?: string;
  createdAfterMs?: number;
  createdBeforeMs?: number;
}

/** Bytes as the page shows them: the first `previewBytes` as text (UTF-8) or base64, and the full size. */
export interface BytesPreview {
  size: number;
  /** The preview as text, when it is valid UTF-8; else null and `base64` holds it. */
  text: string | null;
  base64: string | null;
  /** True when the preview is shorter than the bytes (the download has them all). */
  truncated: boolean;
}

export interface TaskJson {
  taskId: string;
  name: string;
  description: string;
  state: TaskStateName;
  attempt: number;
  maxRetries: number;
  timeoutSecs: number;
  retryBackoffMs: number;
  error: string | null;
  percent: number;
  message: string;
  workerId: string | null;
  createdAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  nextAttemptAtMs: number | null;
  lastSequence: number;
  priority: number;
  runAtMs: number | null;
  scheduleId: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  /** Only on a single task (GetTask); listings leave them out. */
  payload?: BytesPreview;
  result?: BytesPreview | null;
}

/** One event of any task (WatchTasks). `cursor` resumes right after it. */
export interface TaskEventJson {
  taskId: string;
  name: string;
  state: TaskStateName;
  attempt: number;
  sequence: number;
  percent: number;
  message: string;
  timestampMs: number;
  workerId: string | null;
  error: string | null;
  nextAttemptAtMs: number | null;
  cursor: string;
}

/** One recorded update of one task (SubscribeProgress): its timeline entry. */
export interface ProgressJson {
  sequence: number;
  state: TaskStateName;
  attempt: number;
  percent: number;
  message: string;
  timestampMs: number;
  workerId: string | null;
  error: string | null;
  nextAttemptAtMs: number | null;
  /** Size of the result, on the terminal succeeded update (the bytes are fetched with the task). */
  resultSize: number;
}

export interface NameStatsJson {
  name: string;
  counts: Record<TaskStateName, number>;
  /** Oldest minute first; the last entry is the current minute. */
  succeededPerMinute: number[];
  failedPerMinute: number[];
  paused: boolean;
}

export interface StatsJson {
  firstMinuteMs: number;
  names: NameStatsJson[];
}

export interface WorkerJson {
  workerId: string;
  taskNames: string[];
  slots: number;
  /** Held ones included (claim-ahead). */
  running: number;
  held: number;
  draining: boolean;
  connectedAtMs: number;
  lastSeenMs: number;
}

export interface ScheduleJson {
  scheduleId: string;
  key: string;
  cron: string;
  timeZone: string;
  taskName: string;
  paused: boolean;
  nextFireAtMs: number | null;
  lastTickMs: number | null;
  lastTaskId: string | null;
}

export interface PausedNameJson {
  name: string;
  reason: string;
  pausedAtMs: number;
}

/** What the page shows of a payload or result before offering the download. */
export const previewBytes = 64 * 1024;

const nullIfZero = (ms: number): number | null => (ms > 0 ? ms : null);

function stateName(wire: ProtoTaskState): TaskStateName {
  const state = stateFromProto(wire);
  if (!state) throw new OrchestratorError(Code.Internal, `the scheduler answered an unknown task state ${wire}`);
  return state;
}

export function previewOf(bytes: Uint8Array): BytesPreview {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, previewBytes));
  const truncated = head.byteLength < bytes.byteLength;
  let text: string | null = null;
  try {
    // A cut may split a character at the end; fatal decoding of the rest still tells text from binary.
    text = new TextDecoder("utf-8", { fatal: true }).decode(truncated ? trimPartialCharacter(head) : head);
  } catch {
    text = null;
  }
  return { size: bytes.byteLength, text, base64: text === null ? head.toString("base64") : null, truncated };
}

/** Drops the bytes of a UTF-8 character cut off at the end (at most 3). */
function trimPartialCharacter(bytes: Buffer): Buffer {
  for (let back = 1; back <= Math.min(3, bytes.byteLength); back++) {
    const byte = bytes[bytes.byteLength - back] as number;
    if ((byte & 0xc0) === 0x80) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? bytes.subarray(0, bytes.byteLength - back) : bytes;
  }
  return bytes;
}

export function toTaskJson(task: Task, withBytes: boolean): TaskJson {
  return {
    taskId: task.taskId, name: task.name, description: task.description, state: stateName(task.state), attempt: task.attempt,
    maxRetries: task.maxRetries, timeoutSecs: task.timeoutSecs, retryBackoffMs: task.retryBackoffMs, error: task.error || null,
    percent: task.percent, message: task.message, workerId: task.workerId || null, createdAtMs: task.createdAtMs,
    startedAtMs: nullIfZero(task.startedAtMs), finishedAtMs: nullIfZero(task.finishedAtMs), nextAttemptAtMs: nullIfZero(task.nextAttemptAtMs),
    lastSequence: task.lastSequence, priority: task.priority, runAtMs: nullIfZero(task.runAtMs), scheduleId: task.scheduleId || null,
    concurrencyKey: task.concurrencyKey ?? null, concurrencyLimit: task.concurrencyLimit ?? null,
    ...(withBytes ? { payload: previewOf(task.payload), result: task.result.byteLength > 0 ? previewOf(task.result) : null } : {}),
  };
}

export function toTaskEventJson(event: TaskEventUpdate): TaskEventJson {
  return {
    taskId: event.taskId, name: event.name, state: stateName(event.state), attempt: event.attempt, sequence: event.sequence,
    percent: event.percent, message: event.message, timestampMs: event.timestampMs, workerId: event.workerId || null,
    error: event.error || null, nextAttemptAtMs: nullIfZero(event.nextAttemptAtMs), cursor: event.cursor,
  };
}

export function toProgressJson(update: ProgressUpdate): ProgressJson {
  return {
    sequence: update.sequence, state: stateName(update.state), attempt: update.attempt, percent: update.percent, message: update.message,
    timestampMs: update.timestampMs, workerId: update.workerId || null, error: update.error || null,
    nextAttemptAtMs: nullIfZero(update.nextAttemptAtMs), resultSize: update.result.byteLength,
  };
}

function toScheduleJson(schedule: Schedule): ScheduleJson {
  return {
    scheduleId: schedule.scheduleId, key: schedule.key, cron: schedule.cron, timeZone: schedule.timeZone, taskName: schedule.task?.name ?? "",
    paused: schedule.paused, nextFireAtMs: nullIfZero(schedule.nextFireAtMs), lastTickMs: nullIfZero(schedule.lastTickMs),
    lastTaskId: schedule.lastTaskId || null,
  };
}

function toWireFilter(filter: TaskFilter): WireTaskFilter {
  return {
    names: filter.names, states: filter.states.map(stateToProto), concurrencyKey: filter.concurrencyKey, scheduleId: filter.scheduleId,
    createdAfterMs: filter.createdAfterMs, createdBeforeMs: filter.createdBeforeMs,
  };
}

export function watchRequest(filter: TaskFilter, after: string | undefined): WatchTasksRequest {
  return {
    names: filter.names, states: filter.states.map(stateToProto), concurrencyKey: filter.concurrencyKey, scheduleId: filter.scheduleId,
    after: after ?? "", fromStart: false,
  };
}

/** Whether any field of the filter is set: a bulk action needs one (the Scheduler refuses an empty filter too). */
export function filterIsEmpty(filter: TaskFilter): boolean {
  return filter.names.length === 0 && filter.states.length === 0 && filter.concurrencyKey === undefined && filter.scheduleId === undefined
    && filter.createdAfterMs === undefined && filter.createdBeforeMs === undefined;
}

/** The dashboard's unary calls, each through the Gateway's forwarding (same Schedulers, same errors, same retries). */
export class DashboardCalls {
  constructor(private readonly gateway: Gateway) {}

  async stats(minutes: number): Promise<StatsJson> {
    const answer = await this.gateway.call((s) => s.getTaskStats, { minutes }, true);
    return {
      firstMinuteMs: answer.firstMinuteMs,
      names: answer.names.map((entry) => ({
        name: entry.name,
        counts: {
          scheduled: entry.scheduled, queued: entry.queued, running: entry.running, retrying: entry.retrying, succeeded: entry.succeeded,
          failed: entry.failed, cancelled: entry.cancelled,
        },
        succeededPerMinute: entry.succeededPerMinute, failedPerMinute: entry.failedPerMinute, paused: entry.paused,
      })),
    };
  }

  async listTasks(filter: TaskFilter, pageSize: number, pageToken: string): Promise<{ tasks: TaskJson[]; nextPageToken: string | null }> {
    const answer = await this.gateway.call((s) => s.listTasks, {
      state: ProtoTaskState.TASK_STATE_UNSPECIFIED, name: "", pageSize, pageToken, filter: toWireFilter(filter),
    }, true);
    return { tasks: answer.tasks.map((task) => toTaskJson(task, false)), nextPageToken: answer.nextPageToken || null };
  }

  async countTasks(filter: TaskFilter): Promise<number> {
    return (await this.gateway.call((s) => s.countTasks, { filter: toWireFilter(filter) }, true)).count;
  }

  /** The task as the Gateway has it, with payload and result as bytes (for the preview and the downloads). */
  async getTask(taskId: string): Promise<Task> {
    const { task } = await this.gateway.call((s) => s.getTask, { taskId }, true);
    if (!task) throw new OrchestratorError(Code.Internal, "the scheduler answered GetTask without a task");
    return task;
  }

  /** `clientKey`: the key the browser signed in with; the Scheduler logs its id with the cancel. */
  async cancelTask(taskId: string, clientKey: string | undefined): Promise<{ state: TaskStateName; cancelled: boolean }> {
    const answer = await this.gateway.callAction((s) => s.cancelTask, { taskId, reason: "cancelled from the dashboard" }, clientKey, false, true);
    return { state: stateName(answer.state), cancelled: answer.cancelled };
  }

  /** `clientKey`: the key the browser signed in with; the Scheduler logs its id with the action. */
  async retryTask(taskId: string, clientKey: string | undefined): Promise<TaskJson> {
    const { task } = await this.gateway.callAction((s) => s.retryTask, { taskId, reason: "retried from the dashboard" }, clientKey, false);
    if (!task) throw new OrchestratorError(Code.Internal, "the scheduler answered RetryTask without the task");
    return toTaskJson(task, false);
  }

  async retryTasks(filter: TaskFilter, clientKey: string | undefined): Promise<number> {
    return (await this.gateway.callAction((s) => s.retryTasks, { filter: toWireFilter(filter), reason: "retried from the dashboard (bulk)" }, clientKey, true)).count;
  }

  async cancelTasks(filter: TaskFilter, clientKey: string | undefined): Promise<number> {
    return (await this.gateway.callAction((s) => s.cancelTasks, { filter: toWireFilter(filter), reason: "cancelled from the dashboard (bulk)" }, clientKey, true)).count;
  }

  async workers(): Promise<WorkerJson[]> {
    return (await this.gateway.call((s) => s.listWorkers, {}, true)).workers.map((worker) => ({
      workerId: worker.workerId, taskNames: worker.taskNames, slots: worker.slots, running: worker.running, held: worker.held, draining: worker.draining,
      connectedAtMs: worker.connectedAtMs, lastSeenMs: worker.lastSeenMs,
    }));
  }

  async schedules(): Promise<ScheduleJson[]> {
    return (await this.gateway.call((s) => s.listSchedules, {}, true)).schedules.map(toScheduleJson);
  }

  /** `clientKey` (and pauseName's, resumeName's): the key the browser signed in with; the Scheduler logs its id with the change. */
  async setSchedulePaused(schedule: string, paused: boolean, clientKey: string | undefined): Promise<ScheduleJson> {
    const answer = await this.gateway.callAction((s) => s.updateSchedule, {
      schedule, task: undefined, overlap: OverlapPolicy.OVERLAP_POLICY_UNSPECIFIED, catchUp: CatchUpPolicy.CATCH_UP_POLICY_UNSPECIFIED, paused,
    }, clientKey, false, true);
    if (!answer.schedule) throw new OrchestratorError(Code.Internal, "the scheduler answered UpdateSchedule without the schedule");
    return toScheduleJson(answer.schedule);
  }

  async pausedNames(): Promise<PausedNameJson[]> {
    return (await this.gateway.call((s) => s.listPausedQueues, {}, true)).queues.map((queue) => ({ name: queue.name, reason: queue.reason, pausedAtMs: queue.pausedAtMs }));
  }

  async pauseName(name: string, clientKey: string | undefined): Promise<{ wasPaused: boolean }> {
    return { wasPaused: (await this.gateway.callAction((s) => s.pauseQueue, { name, reason: "paused from the dashboard" }, clientKey, false, true)).wasPaused };
  }

  async resumeName(name: string, clientKey: string | undefined): Promise<{ wasPaused: boolean }> {
    return { wasPaused: (await this.gateway.callAction((s) => s.resumeQueue, { name }, clientKey, false, true)).wasPaused };
  }
}
