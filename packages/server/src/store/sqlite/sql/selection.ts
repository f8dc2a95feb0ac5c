import type { TaskSelection } from "../../store.js";

/** Which parts of a TaskSelection are given: each one adds its condition to the statement. */
export interface SelectionShape {
  names: boolean;
  states: boolean;
  key: boolean;
  schedule: boolean;
  createdAfter: boolean;
  createdBefore: boolean;
}

export function selectionShape(selection: TaskSelection): SelectionShape & { oneNameOneState: boolean } {
  return {
    oneNameOneState: selection.names?.length === 1 && selection.states?.length === 1,
    names: (selection.names?.length ?? 0) > 0,
    states: (selection.states?.length ?? 0) > 0,
    key: selection.concurrencyKey !== undefined,
    schedule: selection.scheduleId !== undefined,
    createdAfter: selection.createdAfter !== undefined,
    createdBefore: selection.createdBefore !== undefined,
  };
}

/**
 * The conditions of a selection on `tasks`, with named parameters. Names and states go in as
 * JSON arrays (json_each), so one statement text serves any number of them and stays cached.
 * `ordered`: the rows are wanted newest first (a listing). The (state, name) index then serves
 * only one state of one name, whose entries are in seq order; for anything else "+state" keeps
 * the planner off it, because sorting what it finds (a million succeeded tasks) takes about half
 * a second where reading back from the newest row until a page is full takes at most a scan.
 */
export function selectionConditions(shape: SelectionShape & { ordered?: boolean; oneNameOneState?: boolean }): string[] {
  const state = shape.ordered === true && shape.oneNameOneState !== true ? "+state" : "state";
  return [
    shape.names ? "name IN (SELECT value FROM json_each(:names))" : null,
    shape.states ? `${state} IN (SELECT value FROM json_each(:states))` : null,
    shape.key ? "concurrency_key = :key" : null,
    shape.schedule ? "schedule_id = :schedule" : null,
    shape.createdAfter ? "created_at >= :createdAfter" : null,
    shape.createdBefore ? "created_at < :createdBefore" : null,
  ].filter((condition) => condition !== null);
}

/** The named parameters of selectionConditions for this selection (only those its shape uses). */
export function selectionParameters(selection: TaskSelection): Record<string, string | number> {
  const parameters: Record<string, string | number> = {};
  if ((selection.names?.length ?? 0) > 0) parameters.names = JSON.stringify(selection.names);
  if ((selection.states?.length ?? 0) > 0) parameters.states = JSON.stringify(selection.states);
  if (selection.concurrencyKey !== undefined) parameters.key = selection.concurrencyKey;
  if (selection.scheduleId !== undefined) parameters.schedule = selection.scheduleId;
  if (selection.createdAfter !== undefined) parameters.createdAfter = selection.createdAfter;
  if (selection.createdBefore !== undefined) parameters.createdBefore = selection.createdBefore;
  return parameters;
}
