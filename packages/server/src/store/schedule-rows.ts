import { OrchestratorError } from "orchestrator-ts-client/internal";
import { Code } from "orchestrator-ts-client/internal";
import { catchUpPolicies, overlapPolicies } from "./store.js";
import type { CatchUpPolicy, OverlapPolicy, ScheduleRecord } from "./store.js";

/** The schedules table's columns, the same in both stores. */
type Row = Record<string, unknown>;

/** A schedule's named parameters, for both stores' statements. */
export function scheduleParams(schedule: ScheduleRecord): Record<string, unknown> {
  return {
    id: schedule.id, key: schedule.key, cron: schedule.cron, timeZone: schedule.timeZone, taskName: schedule.task.name,
    description: schedule.task.description, payload: Buffer.from(schedule.task.payload), timeoutMs: schedule.task.timeoutMs,
    maxRetries: schedule.task.maxRetries, retryBackoffMs: schedule.task.retryBackoffMs, priority: schedule.task.priority,
    overlap: schedule.overlap, catchUp: schedule.catchUp, paused: schedule.paused ? 1 : 0, nextFireAt: schedule.nextFireAt,
    lastTickMs: schedule.lastTickMs, lastTaskId: schedule.lastTaskId, createdAt: schedule.createdAt, updatedAt: schedule.updatedAt,
  };
}

export function toSchedule(row: Row): ScheduleRecord {
  const overlap = String(row.overlap) as OverlapPolicy;
  const catchUp = String(row.catch_up) as CatchUpPolicy;
  if (!overlapPolicies.includes(overlap) || !catchUpPolicies.includes(catchUp)) throw new Error(`unknown schedule policy in store: ${overlap}/${catchUp}`);
  return {
    id: String(row.id), key: row.key === null || row.key === undefined ? null : String(row.key), cron: String(row.cron),
    timeZone: String(row.time_zone), overlap, catchUp, paused: row.paused === true || Number(row.paused) === 1,
    task: {
      name: String(row.task_name), description: String(row.description), payload: row.payload as Uint8Array,
      timeoutMs: Number(row.timeout_ms), maxRetries: Number(row.max_retries), retryBackoffMs: Number(row.retry_backoff_ms),
      priority: Number(row.priority),
    },
    nextFireAt: nullableNumber(row.next_fire_at), lastTickMs: nullableNumber(row.last_tick_ms),
    lastTaskId: row.last_task_id === null || row.last_task_id === undefined ? null : String(row.last_task_id),
    createdAt: Number(row.created_at), updatedAt: Number(row.updated_at),
  };
}

/** The refusal of a key taken by a schedule with a different spec. */
export function scheduleKeyTakenError(existing: ScheduleRecord): OrchestratorError {
  return new OrchestratorError(
    Code.AlreadyExists,
    `schedule key "${existing.key ?? ""}" already belongs to schedule ${existing.id}, which has different fields; `
      + "repeat the same request to get it, update it with UpdateSchedule, or use a new key",
  );
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
