import { OrchestratorError } from "orchestrator-ts-client/internal";

/**
 * The cursors of readEventsAfter, opaque to clients: "s:<id>" on SQLite (the task_events row id),
 * "p:<tx>:<id>" on PostgreSQL (the writing transaction's id and the row id). The prefix keeps a
 * cursor of one kind of store from being read as a position in the other.
 */
export type EventPosition = { store: "sqlite"; id: bigint } | { store: "postgres"; tx: bigint; id: bigint };

const digits = /^(0|[1-9][0-9]{0,19})$/;

export function encodeEventCursor(position: EventPosition): string {
  return position.store === "sqlite" ? `s:${position.id}` : `p:${position.tx}:${position.id}`;
}

/** Reads a cursor issued by a store of kind `store`; anything else is INVALID_ARGUMENT naming `after`. */
export function decodeEventCursor<K extends EventPosition["store"]>(cursor: string, store: K): Extract<EventPosition, { store: K }> {
  const parts = cursor.split(":");
  const numbers = parts.slice(1);
  const wellFormed = numbers.length > 0 && numbers.every((part) => digits.test(part));
  const kind = parts[0] === "s" && numbers.length === 1 ? "sqlite" : parts[0] === "p" && numbers.length === 2 ? "postgres" : null;
  if (!wellFormed || kind === null) {
    throw OrchestratorError.invalidArgument(`after "${cursor.slice(0, 64)}" is not a cursor this service issued; pass the cursor of an event WatchTasks sent, or leave after empty to start from now`);
  }
  if (kind !== store) {
    throw OrchestratorError.invalidArgument(`after is a cursor of a ${kind === "sqlite" ? "SQLite" : "PostgreSQL"} store, but this service runs on ${store === "sqlite" ? "SQLite" : "PostgreSQL"}: a cursor resumes only on the store that issued it`);
  }
  const position = kind === "sqlite"
    ? { store: kind, id: BigInt(numbers[0] as string) }
    : { store: kind, tx: BigInt(numbers[0] as string), id: BigInt(numbers[1] as string) };
  return position as Extract<EventPosition, { store: K }>;
}
