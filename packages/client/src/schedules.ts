// client.schedules: cron schedules through the Gateway, with the SDK's own types (Dates, string
// policies, null for what is unset); each value keeps its wire message as `raw`.
import type { TaskSpec } from "./client.js";
import type { GatewayClient } from "./protocol/generated/orchestrator/v1/orchestrator.js";
import {
  CatchUpPolicy as ProtoCatchUp, OverlapPolicy as ProtoOverlap, type Schedule as ProtoSchedule, type ScheduleTask,
} from "./protocol/generated/orchestrator/v1/orchestrator.js";
import { Code } from "./errors/code.js";
import { OrchestratorError } from "./errors/orchestrator-error.js";
import { encodeResult } from "./worker/handler.js";
import type { UnaryMethod } from "./transport/grpc-call.js";

/** allow: fire every tick; skip: no task for a tick while the previous tick's task is unfinished. */
export type OverlapPolicy = "allow" | "skip";
/** For ticks missed while no Scheduler ran: skip fires none; one: the latest; all: each (at most the latest 100), oldest first. */
export type CatchUpPolicy = "skip" | "one" | "all";

/** The task each tick submits: a submit's fields, less those a tick sets itself (its start, its key). */
export type ScheduleTaskSpec = Pick<TaskSpec, "name" | "payload" | "description" | "timeoutSecs" | "maxRetries" | "retryBackoffMs" | "priority">;

export interface ScheduleSpec {
  /** A name you choose (unique): creating it again with the same fields answers the existing schedule. */
  key?: string;
  /** 5 fields, or 6 with seconds first, e.g. "*\/5 * * * *". */
  cron: string;
  /** IANA zone the cron is read in; default "UTC". */
  timeZone?: string;
  task: ScheduleTaskSpec;
  /** Default "allow". */
  overlap?: OverlapPolicy;
  /** Default "one". */
  catchUp?: CatchUpPolicy;
  /** Create it paused. */
  paused?: boolean;
}

/** The fields update() changes; those left out stay. */
export interface ScheduleChanges {
  cron?: string;
  timeZone?: string;
  task?: ScheduleTaskSpec;
  overlap?: OverlapPolicy;
  catchUp?: CatchUpPolicy;
  paused?: boolean;
}

export interface ScheduleInfo {
  scheduleId: string;
  key: string | null;
  cron: string;
  timeZone: string;
  task: { name: string; description: string; payload: Buffer; timeoutSecs: number; maxRetries: number; retryBackoffMs: number; priority: number };
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  paused: boolean;
  /** null while paused. */
  nextFireAt: Date | null;
  lastTickAt: Date | null;
  lastTaskId: string | null;
  createdAt: Date;
  updatedAt: Date;
  raw: ProtoSchedule;
}

const overlapToWire: Record<OverlapPolicy, ProtoOverlap> = { allow: ProtoOverlap.OVERLAP_POLICY_ALLOW, skip: ProtoOverlap.OVERLAP_POLICY_SKIP };
const catchUpToWire: Record<CatchUpPolicy, ProtoCatchUp> = {
  skip: ProtoCatchUp.CATCH_UP_POLICY_SKIP, one: ProtoCatchUp.CATCH_UP_POLICY_ONE, all: ProtoCatchUp.CATCH_UP_POLICY_ALL,
};

function toTaskWire(task: ScheduleTaskSpec): ScheduleTask {
  return {
    name: task.name, description: task.description ?? "", payload: encodeResult(task.payload), timeoutSecs: task.timeoutSecs,
    maxRetries: task.maxRetries, retryBackoffMs: task.retryBackoffMs, priority: task.priority,
  };
}

function overlapWire(policy: OverlapPolicy | undefined): ProtoOverlap {
  if (policy === undefined) return ProtoOverlap.OVERLAP_POLICY_UNSPECIFIED;
  const wire = overlapToWire[policy] as ProtoOverlap | undefined;
  if (wire === undefined) throw OrchestratorError.invalidArgument(`overlap "${String(policy)}" is not an overlap policy (use "allow" or "skip")`);
  return wire;
}

function catchUpWire(policy: CatchUpPolicy | undefined): ProtoCatchUp {
  if (policy === undefined) return ProtoCatchUp.CATCH_UP_POLICY_UNSPECIFIED;
  const wire = catchUpToWire[policy] as ProtoCatchUp | undefined;
  if (wire === undefined) throw OrchestratorError.invalidArgument(`catchUp "${String(policy)}" is not a catch-up policy (use "skip", "one" or "all")`);
  return wire;
}

const dateOrNull = (ms: number): Date | null => (ms > 0 ? new Date(ms) : null);

export function toScheduleInfo(raw: ProtoSchedule | undefined): ScheduleInfo {
  if (!raw) throw new OrchestratorError(Code.Internal, "the gateway answered without a schedule");
  const overlap = (Object.keys(overlapToWire) as OverlapPolicy[]).find((name) => overlapToWire[name] === raw.overlap) ?? "allow";
  const catchUp = (Object.keys(catchUpToWire) as CatchUpPolicy[]).find((name) => catchUpToWire[name] === raw.catchUp) ?? "one";
  const task = raw.task;
  return {
    scheduleId: raw.scheduleId, key: raw.key || null, cron: raw.cron, timeZone: raw.timeZone,
    task: {
      name: task?.name ?? "", description: task?.description ?? "", payload: Buffer.from(task?.payload ?? []), timeoutSecs: task?.timeoutSecs ?? 0,
      maxRetries: task?.maxRetries ?? 0, retryBackoffMs: task?.retryBackoffMs ?? 0, priority: task?.priority ?? 0,
    },
    overlap, catchUp, paused: raw.paused, nextFireAt: dateOrNull(raw.nextFireAtMs), lastTickAt: dateOrNull(raw.lastTickMs),
    lastTaskId: raw.lastTaskId || null, createdAt: new Date(raw.createdAtMs), updatedAt: new Date(raw.updatedAtMs), raw,
  };
}

type Call = <Req, Res>(method: UnaryMethod<Req, Res>, request: Req) => Promise<Res>;

/** `client.schedules`. A schedule is named by its id or its key. */
export class ScheduleClient {
  constructor(private readonly gateway: GatewayClient, private readonly call: Call) {}

  /** `created` is false when the key already named this same schedule (an idempotent repeat). */
  async create(spec: ScheduleSpec): Promise<ScheduleInfo & { created: boolean }> {
    const answer = await this.call(this.gateway.createSchedule, {
      key: spec.key ?? "", cron: spec.cron, timeZone: spec.timeZone ?? "", task: toTaskWire(spec.task),
      overlap: overlapWire(spec.overlap), catchUp: catchUpWire(spec.catchUp), paused: spec.paused ?? false,
    });
    return { ...toScheduleInfo(answer.schedule), created: answer.created };
  }

  async get(schedule: string): Promise<ScheduleInfo> {
    return toScheduleInfo((await this.call(this.gateway.getSchedule, { schedule })).schedule);
  }

  /** Oldest first, at most 1,000. */
  async list(): Promise<ScheduleInfo[]> {
    return (await this.call(this.gateway.listSchedules, {})).schedules.map(toScheduleInfo);
  }

  async update(schedule: string, changes: ScheduleChanges): Promise<ScheduleInfo> {
    const answer = await this.call(this.gateway.updateSchedule, {
      schedule, cron: changes.cron, timeZone: changes.timeZone, task: changes.task ? toTaskWire(changes.task) : undefined,
      overlap: overlapWire(changes.overlap), catchUp: catchUpWire(changes.catchUp), paused: changes.paused,
    });
    return toScheduleInfo(answer.schedule);
  }

  /** Nothing fires until resume(). */
  pause(schedule: string): Promise<ScheduleInfo> {
    return this.update(schedule, { paused: true });
  }

  /** Fires again from the next tick on (none of the ticks it slept through). */
  resume(schedule: string): Promise<ScheduleInfo> {
    return this.update(schedule, { paused: false });
  }

  async delete(schedule: string): Promise<void> {
    await this.call(this.gateway.deleteSchedule, { schedule });
  }
}
