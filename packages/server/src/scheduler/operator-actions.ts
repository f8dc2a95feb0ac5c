import { Code, OrchestratorError } from "orchestrator-ts-client/internal";
import type { Logger } from "orchestrator-ts-client/internal";
import type { TaskRecord, TaskStore } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import type { ActionCaller } from "../util/auth.js";
import { validatePauseReason, validateTaskId } from "./validation.js";

/** What the operator actions need of their Scheduler. */
export interface ActionHooks {
  /** Throws UNAVAILABLE while the Scheduler is not running. */
  assertRunning(): void;
  /** Starts a dispatch round: tasks were queued again. */
  workAvailable(): void;
}

/** The fields every action's log line carries: who asked (a key id, never the key). */
function callerFields(caller: ActionCaller): Record<string, string> {
  return caller.claimedKeyId === undefined ? { key_id: caller.keyId } : { key_id: caller.keyId, claimed_key_id: caller.claimedKeyId };
}

/**
 * The operator actions (RetryTask; RetryTasks, CancelTasks and DeleteTasks by filter). Each action
 * that is carried out writes one log line naming what it did and the id of the key that asked.
 */
export class OperatorActions {
  constructor(
    private readonly store: TaskStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly hooks: ActionHooks,
  ) {}

  /**
   * Starts a new attempt series of a failed or cancelled task (see TaskStore.retry) and answers the
   * task as it is then. Any other state is refused with FAILED_PRECONDITION saying what to do.
   */
  async retry(taskId: string, reason: string, caller: ActionCaller): Promise<TaskRecord> {
    this.hooks.assertRunning();
    const id = validateTaskId(taskId);
    const why = validatePauseReason(reason);
    const outcome = await this.store.retry(id, why, this.clock.now());
    if (!outcome) throw OrchestratorError.notFound(`task ${id} does not exist`);
    if (!outcome.retried) throw new OrchestratorError(Code.FailedPrecondition, notRetryable(id, outcome.previousState));
    this.hooks.workAvailable();
    this.logger.info({ action: "retry", task_id: id, name: outcome.name, previous_state: outcome.previousState, count: 1, reason: why, ...callerFields(caller) }, "Task retried");
    const task = await this.store.getTask(id);
    if (!task) throw OrchestratorError.notFound(`task ${id} was deleted right after its retry`);
    return task;
  }
}

function notRetryable(id: string, state: string): string {
  switch (state) {
    case "succeeded":
      return `task ${id} succeeded; only a failed or cancelled task can be retried: submit a new task to run it again`;
    case "running":
      return `task ${id} is running; only a failed or cancelled task can be retried: wait for it to end, or cancel it first`;
    default:
      return `task ${id} is ${state} and will run (or runs again) by itself; only a failed or cancelled task can be retried`;
  }
}
