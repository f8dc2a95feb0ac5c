import type { ClaimedAttempt, TaskState } from "../store/store.js";

/**
 * What the Scheduler tells its metrics, in domain terms (metrics/scheduler-metrics.ts turns it into
 * Prometheus series). Each call is one increment or observation: the hot path stays cheap, and no
 * call reads the store. Counted per process: each Scheduler counts what it recorded itself.
 */
export interface SchedulerMetrics {
  /** A task was stored by a submit through this Scheduler (not a repeated idempotent one). */
  taskSubmitted(name: string): void;
  /** This Scheduler handed an attempt to one of its workers. */
  attemptStarted(attempt: ClaimedAttempt, now: number): void;
  /**
   * This Scheduler recorded how an attempt ended (a worker's result, or a lease or deadline that ran
   * out): `state` is the task's state after it (succeeded, retrying or failed). `durationMs` is
   * from the assignment to the result when this Scheduler assigned it, else null.
   */
  attemptEnded(name: string, state: TaskState, durationMs: number | null): void;
  /** This Scheduler cancelled a task that had not finished. */
  taskCancelled(name: string): void;
}

/** Metrics off (no --http-port): nothing is counted. */
export const noSchedulerMetrics: SchedulerMetrics = {
  taskSubmitted: () => undefined,
  attemptStarted: () => undefined,
  attemptEnded: () => undefined,
  taskCancelled: () => undefined,
};
