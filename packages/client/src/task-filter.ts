import type { TaskFilter as WireTaskFilter } from "./protocol/generated/orchestrator/v1/orchestrator.js";
import { stateToProto, taskStates, type TaskState } from "./protocol/states.js";
import { OrchestratorError } from "./errors/orchestrator-error.js";

/**
 * Which tasks a listing, a count or an operator action covers: every field given narrows it. The
 * bulk actions (retryTasks, cancelTasks, deleteTasks) refuse a filter with no field set.
 */
export interface TaskFilter {
  /** One of these task names. */
  names?: readonly string[];
  /** In one of these states. */
  states?: readonly TaskState[];
  /** With exactly this concurrency key. */
  concurrencyKey?: string;
  /** Fired by this schedule (its id). */
  scheduleId?: string;
  /** Created at or after this time (a Date or Unix milliseconds). */
  createdAfter?: Date | number;
  /** Created before this time (a Date or Unix milliseconds). */
  createdBefore?: Date | number;
}

const millis = (time: Date | number | undefined): number | undefined => (time instanceof Date ? time.getTime() : time);

/** The filter as the wire carries it; an unknown state is refused here, before any call. */
export function toWireFilter(filter: TaskFilter): WireTaskFilter {
  const states = (filter.states ?? []).map((state) => {
    if (!(taskStates as readonly string[]).includes(state)) {
      throw OrchestratorError.invalidArgument(`"${state}" is not a task state; the states are ${taskStates.join(", ")}`);
    }
    return stateToProto(state);
  });
  return {
    names: [...(filter.names ?? [])], states, concurrencyKey: filter.concurrencyKey, scheduleId: filter.scheduleId,
    createdAfterMs: millis(filter.createdAfter), createdBeforeMs: millis(filter.createdBefore),
  };
}
