import type { EventFilter, EventsPage, QueueEvent } from "../store.js";
import { maxEventsPage } from "../store.js";
import { decodeEventCursor, encodeEventCursor } from "../event-cursor.js";
import type { SqliteStatement } from "./driver.js";
import { toEvent, type Row } from "./rows.js";
import { eventsHeadSql, readEventsAfterSql } from "./sql/watch.js";

type Statement = (text: string) => SqliteStatement;

const position = (id: number): string => encodeEventCursor({ store: "sqlite", id: BigInt(id) });

/** TaskStore.readEventsAfter on SQLite: task_events ids, which one writer assigns in commit order. */
export function readEventsAfter(statement: Statement, cursor: string | null, filter: EventFilter, limit: number): EventsPage {
  const after = cursor === null ? 0 : Number(decodeEventCursor(cursor, "sqlite").id);
  const pageSize = Math.min(Math.max(1, limit), maxEventsPage);
  const text = readEventsAfterSql({
    names: filter.names.length > 0, states: filter.states.length > 0, key: filter.concurrencyKey !== null, schedule: filter.scheduleId !== null,
  });
  const rows = statement(text).all({
    after, limit: pageSize,
    ...(filter.names.length > 0 ? { names: JSON.stringify(filter.names) } : {}),
    ...(filter.states.length > 0 ? { states: JSON.stringify(filter.states) } : {}),
    ...(filter.concurrencyKey !== null ? { key: filter.concurrencyKey } : {}),
    ...(filter.scheduleId !== null ? { schedule: filter.scheduleId } : {}),
  }) as Row[];
  const events: QueueEvent[] = [];
  // The filter keeps a place when its task's row joined (name is NOT NULL in tasks).
  for (const row of rows) {
    if (row.name !== null && row.name !== undefined) events.push({ ...toEvent(row), name: String(row.name), cursor: position(Number(row.place)) });
  }
  const last = rows.at(-1);
  return { events, cursor: position(last ? Number(last.place) : after), caughtUp: rows.length < pageSize };
}

export function eventsHead(statement: Statement): string {
  const row = statement(eventsHeadSql).get() as Row;
  return position(Number(row.id));
}
