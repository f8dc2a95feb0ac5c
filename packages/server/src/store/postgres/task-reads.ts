import type { TaskFilter, TaskPage, TaskSelection, TaskStats } from "../store.js";
import { decodeListCursor, encodeListCursor } from "../list-cursor.js";
import { assembleTaskStats, firstMinute } from "../task-stats.js";
import { toTask, type Row } from "./rows.js";
import { countTasksSql, listTasksSql } from "./sql/read.js";
import { selectionValues } from "./sql/selection.js";
import { countByNameAndStateSql, finishedPerMinuteSql, pausedNamesSql } from "./sql/stats.js";

type Read = (text: string, values?: unknown[]) => Promise<Row[]>;

/** TaskStore.listTasks on PostgreSQL. */
export async function listTasks(read: Read, skewMs: number, filter: TaskFilter): Promise<TaskPage> {
  const cursor = filter.cursor ? decodeListCursor(filter.cursor) : null;
  const rows = await read(listTasksSql, [...selectionValues(filter, skewMs), cursor, filter.limit + 1]);
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return { tasks: page.map((row) => toTask(row, skewMs)), nextCursor: rows.length > filter.limit && last ? encodeListCursor(last.seq) : null };
}

/** TaskStore.countTasks on PostgreSQL; `scan` may read the whole table (readScanning). */
export async function countTasks(scan: Read, skewMs: number, selection: TaskSelection): Promise<number> {
  const [row] = await scan(countTasksSql, selectionValues(selection, skewMs));
  return Number(row?.tasks ?? 0);
}

/** TaskStore.taskStats on PostgreSQL; the three reads run at once on the pool, the count with `scan` (readScanning). */
export async function taskStats(read: Read, scan: Read, skewMs: number, now: number, minutes: number): Promise<TaskStats> {
  const first = firstMinute(now, minutes);
  const [counts, perMinute, paused] = await Promise.all([
    scan(countByNameAndStateSql), read(finishedPerMinuteSql, [first + skewMs]), read(pausedNamesSql),
  ]);
  return assembleTaskStats(first, minutes, counts, perMinute, paused.map((row) => String(row.name)));
}
