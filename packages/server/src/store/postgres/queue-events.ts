import type { EventFilter, EventsPage, QueueEvent } from "../store.js";
import { maxEventsPage } from "../store.js";
import { decodeEventCursor, encodeEventCursor } from "../event-cursor.js";
import { toEvent, type Row } from "./rows.js";
import { eventsHeadSql, readEventsAfterSql } from "./sql/watch.js";

type Read = (text: string, values?: unknown[]) => Promise<Row[]>;

/** TaskStore.readEventsAfter on PostgreSQL; see sql/watch.ts for the order and the settled horizon. */
export async function readEventsAfter(read: Read, skewMs: number, cursor: string | null, filter: EventFilter, limit: number): Promise<EventsPage> {
  const after = cursor === null ? { tx: 0n, id: 0n } : decodeEventCursor(cursor, "postgres");
  const pageSize = Math.min(Math.max(1, limit), maxEventsPage);
  const rows = await read(readEventsAfterSql, [
    after.tx.toString(), after.id.toString(), pageSize,
    filter.names.length > 0 ? filter.names : null, filter.states.length > 0 ? filter.states : null,
    filter.concurrencyKey, filter.scheduleId,
  ]);
  // In (tx, id) order, compared as numbers; the statement leaves its answer unordered (ordering there would sort).
  const places = rows.map((row) => ({ row, tx: BigInt(String(row.place_tx)), id: BigInt(String(row.place_id)) }))
    .sort((a, b) => (a.tx !== b.tx ? (a.tx < b.tx ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const events: QueueEvent[] = [];
  for (const { row, tx, id } of places) {
    if (row.name === null || row.name === undefined) continue;
    events.push({ ...toEvent(row, skewMs), name: String(row.name), cursor: encodeEventCursor({ store: "postgres", tx, id }) });
  }
  const last = places.at(-1) ?? after;
  return { events, cursor: encodeEventCursor({ store: "postgres", tx: last.tx, id: last.id }), caughtUp: rows.length < pageSize };
}

/** TaskStore.eventsHead on PostgreSQL: before every transaction still running; (tx, 0) precedes all of tx's rows. */
export async function eventsHead(read: Read): Promise<string> {
  const [row] = await read(eventsHeadSql);
  return encodeEventCursor({ store: "postgres", tx: BigInt(String(row?.tx)), id: 0n });
}
