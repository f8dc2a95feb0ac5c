import { decodeListCursor, encodeListCursor } from "../list-cursor.js";
import type { TaskFilter, TaskPage, TaskSelection, TaskStats } from "../store.js";
import { assembleTaskStats, firstMinute } from "../task-stats.js";
import type { SqliteStatement } from "./driver.js";
import { toTask, type Row } from "./rows.js";
import { countTasksSql, listTasksSql } from "./sql/read.js";
import { selectionParameters, selectionShape } from "./sql/selection.js";
import { countByNameAndStateSql, finishedPerMinuteSql, pausedNamesSql } from "./sql/stats.js";

type Statement = (text: string) => SqliteStatement;

/** TaskStore.listTasks on SQLite. */
export function listTasks(statement: Statement, filter: TaskFilter): TaskPage {
  const cursor = filter.cursor ? decodeListCursor(filter.cursor) : undefined;
  const text = listTasksSql({ ...selectionShape(filter), cursor: cursor !== undefined });
  const rows = statement(text).all({
    ...selectionParameters(filter),
    ...(cursor !== undefined ? { cursor } : {}),
    limit: filter.limit + 1,
  }) as Row[];
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return { tasks: page.map(toTask), nextCursor: rows.length > filter.limit && last ? encodeListCursor(last.seq) : null };
}

/** TaskStore.countTasks on SQLite. */
export function countTasks(statement: Statement, selection: TaskSelection): number {
  const row = statement(countTasksSql(selectionShape(selection))).get(selectionParameters(selection)) as Row | undefined;
  return Number(row?.tasks ?? 0);
}

/** TaskStore.taskStats on SQLite. */
export function taskStats(statement: Statement, now: number, minutes: number): TaskStats {
  const first = firstMinute(now, minutes);
  const counts = statement(countByNameAndStateSql).all() as Row[];
  const perMinute = statement(finishedPerMinuteSql).all({ first }) as Row[];
  const paused = (statement(pausedNamesSql).all() as Row[]).map((row) => String(row.name));
  return assembleTaskStats(first, minutes, counts, perMinute, paused);
}
