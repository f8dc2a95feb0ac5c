import type { TaskSelection } from "../../store.js";

/**
 * The conditions of a selection on `tasks`, from $first to $first+5: a parameter that is null
 * drops its condition, so one statement text serves every selection. Times are on the database's
 * clock (selectionValues shifts them).
 */
export function selectionConditions(first: number): string {
  const p = (offset: number): string => `$${first + offset}`;
  return `(${p(0)}::text[] IS NULL OR name = ANY(${p(0)}::text[]))
  AND (${p(1)}::text[] IS NULL OR state = ANY(${p(1)}::text[]))
  AND (${p(2)}::text IS NULL OR concurrency_key = ${p(2)}::text)
  AND (${p(3)}::text IS NULL OR schedule_id = ${p(3)}::text)
  AND (${p(4)}::bigint IS NULL OR created_at >= ${p(4)}::bigint)
  AND (${p(5)}::bigint IS NULL OR created_at < ${p(5)}::bigint)`;
}

/** The six values of selectionConditions, in order; skewMs turns the caller's times into the database's. */
export function selectionValues(selection: TaskSelection, skewMs: number): unknown[] {
  return [
    (selection.names?.length ?? 0) > 0 ? selection.names : null,
    (selection.states?.length ?? 0) > 0 ? selection.states : null,
    selection.concurrencyKey ?? null,
    selection.scheduleId ?? null,
    selection.createdAfter === undefined ? null : selection.createdAfter + skewMs,
    selection.createdBefore === undefined ? null : selection.createdBefore + skewMs,
  ];
}
