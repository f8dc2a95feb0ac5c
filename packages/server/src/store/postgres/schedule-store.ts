import { sameScheduleSpec, scheduleListLimit, type ScheduleRecord } from "../store.js";
import { scheduleKeyTakenError, scheduleParams, toSchedule } from "../schedule-rows.js";
import type { Write } from "./group-commit.js";
import type { Row } from "./rows.js";
import {
  deleteScheduleSql, dueSchedulesSql, getScheduleSql, insertScheduleSql, listSchedulesSql, nextScheduleFireAtSql,
  scheduleByKeySql, scheduleParamOrder, updateParamOrder, updateScheduleSql,
} from "./sql/schedules.js";

type Run = <T>(write: Write<T>) => Promise<T>;
type Read = (text: string, values?: unknown[]) => Promise<Row[]>;

// The schedules' rows on PostgreSQL (TaskStore's ScheduleStore part, but for fireSchedule, which
// enqueues and so stays with the store). `run` is a write in a commit batch, `read` a read on the pool.

export function createSchedule(run: Run, schedule: ScheduleRecord): Promise<{ schedule: ScheduleRecord; created: boolean }> {
  return run(async (tx) => {
    const params = scheduleParams(schedule);
    const inserted = await tx.query(insertScheduleSql, scheduleParamOrder.map((name) => params[name]));
    if (inserted.rows.length > 0 || schedule.key === null) return { schedule, created: true };
    const { rows } = await tx.query(scheduleByKeySql, [schedule.key]);
    const row = rows[0];
    if (!row) throw new Error(`schedule key "${schedule.key}" conflicted but has no holder`);
    const existing = toSchedule(row);
    if (!sameScheduleSpec(existing, schedule)) throw scheduleKeyTakenError(existing);
    return { schedule: existing, created: false };
  });
}

export async function getSchedule(read: Read, idOrKey: string): Promise<ScheduleRecord | null> {
  const row = (await read(getScheduleSql, [idOrKey]))[0];
  return row ? toSchedule(row) : null;
}

export async function listSchedules(read: Read): Promise<ScheduleRecord[]> {
  return (await read(listSchedulesSql, [scheduleListLimit])).map(toSchedule);
}

export function updateSchedule(run: Run, schedule: ScheduleRecord): Promise<ScheduleRecord | null> {
  return run(async (tx) => {
    const params = scheduleParams(schedule);
    const { rows } = await tx.query(updateScheduleSql, updateParamOrder.map((name) => params[name]));
    return rows[0] ? toSchedule(rows[0]) : null;
  });
}

export function deleteSchedule(run: Run, id: string): Promise<boolean> {
  return run(async (tx) => ((await tx.query(deleteScheduleSql, [id])).rowCount ?? 0) > 0);
}

export async function dueSchedules(read: Read, now: number, limit: number): Promise<ScheduleRecord[]> {
  return (await read(dueSchedulesSql, [now, limit])).map(toSchedule);
}

export async function nextScheduleFireAt(read: Read): Promise<number | null> {
  const next = (await read(nextScheduleFireAtSql))[0]?.next;
  return next === null || next === undefined ? null : Number(next);
}
