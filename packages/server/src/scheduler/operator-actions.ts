import { Code, OrchestratorError } from "orchestrator-ts-client/internal";
import type { Logger, TaskFilter as ProtoTaskFilter } from "orchestrator-ts-client/internal";
import type { ActionBatch, ActionBatchOutcome, TaskRecord, TaskSelection, TaskState, TaskStore } from "../store/store.js";
import { cancellableStates, deletableStates, retryableStates } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import type { ActionCaller } from "../util/auth.js";
import { limits } from "./limits.js";
import { selectsEverything, validatePauseReason, validateReason, validateTaskId, validateTaskSelection } from "./validation.js";

type BulkAction = "RetryTasks" | "CancelTasks" | "DeleteTasks";

/** What each bulk action applies to, in words for its refusals. */
const bulkActions: Record<BulkAction, { states: readonly TaskState[]; which: string; verb: string }> = {
  RetryTasks: { states: retryableStates, which: "failed and cancelled tasks", verb: "retried" },
  CancelTasks: { states: cancellableStates, which: "unfinished tasks (scheduled, queued, running, retrying)", verb: "cancelled" },
  DeleteTasks: { states: deletableStates, which: "finished tasks (succeeded, failed, cancelled)", verb: "deleted" },
};

/**
 * A bulk action's filter as the store's selection, bounded to the tasks created before `startedAt`
 * (a flood of new tasks cannot keep the action going). A filter with no field set is refused, as
 * are states the action cannot apply to: the caller asked for something it will not do.
 */
export function validateBulkSelection(action: BulkAction, filter: ProtoTaskFilter | undefined, startedAt: number): TaskSelection {
  const selection = validateTaskSelection(filter);
  if (selectsEverything(selection)) {
    throw OrchestratorError.invalidArgument(
      `${action} needs a filter: name at least one of names, states, concurrency_key, schedule_id, created_after_ms, created_before_ms (an action on every task is never taken by default)`,
    );
  }
  const { states, which } = bulkActions[action];
  const refused = (selection.states ?? []).filter((state) => !states.includes(state));
  if (refused.length > 0) {
    throw OrchestratorError.invalidArgument(`${action} applies to ${which} only; filter.states also names ${refused.join(", ")}: leave ${refused.length === 1 ? "it" : "them"} out`);
  }
  const createdBefore = Math.min(selection.createdBefore ?? startedAt, startedAt);
  return { ...selection, createdBefore };
}

/** What the operator actions need of their Scheduler. */
export interface ActionHooks {
  /** Throws UNAVAILABLE while the Scheduler is not running. */
  assertRunning(): void;
  /** Starts a dispatch round: tasks were queued again. */
  workAvailable(): void;
  /** A task of this name was cancelled (for the metrics). */
  cancelled(name: string): void;
  /** RESOURCE_EXHAUSTED when `count` more waiting tasks would pass the Scheduler's bound, as for submits. */
  assertRoomFor(count: number): void;
  /** `count` tasks were queued again (they count as waiting). */
  queued(count: number): void;
}

/** The fields every action's log line carries: who asked (a key id, never the key); none in-process, where no call asked. */
export function actionCallerFields(caller: ActionCaller | undefined): Record<string, string> {
  if (caller === undefined) return {};
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
    this.hooks.assertRoomFor(1);
    const outcome = await this.store.retry(id, why, this.clock.now());
    if (!outcome) throw OrchestratorError.notFound(`task ${id} does not exist`);
    if (!outcome.retried) throw new OrchestratorError(Code.FailedPrecondition, notRetryable(id, outcome.previousState));
    this.hooks.queued(1);
    this.hooks.workAvailable();
    this.logger.info({ action: "RetryTask", task_id: id, name: outcome.name, previous_state: outcome.previousState, count: 1, reason: why, ...actionCallerFields(caller) }, "Task retried");
    const task = await this.store.getTask(id);
    if (!task) throw OrchestratorError.notFound(`task ${id} was deleted right after its retry`);
    return task;
  }

  /** RetryTasks: every failed or cancelled task of the filter created before the call; answers how many. */
  retryTasks(filter: ProtoTaskFilter | undefined, reason: string, caller: ActionCaller, signal?: AbortSignal): Promise<number> {
    const why = validatePauseReason(reason);
    return this.bulk("RetryTasks", filter, why, caller, signal, async (batch) => {
      // Checked per batch: a batch may go past the bound by its size at most, as the estimate may.
      this.hooks.assertRoomFor(1);
      const outcome = await this.store.retryBatch(batch, why, this.clock.now());
      if (outcome.changed > 0) {
        this.hooks.queued(outcome.changed);
        this.hooks.workAvailable();
      }
      return outcome;
    });
  }

  /**
   * CancelTasks: every unfinished task of the filter created before the call; answers how many. A
   * running attempt is stopped on its worker through the event feed, as a single cancel's is.
   */
  cancelTasks(filter: ProtoTaskFilter | undefined, reason: string, caller: ActionCaller, signal?: AbortSignal): Promise<number> {
    const why = validateReason(reason);
    return this.bulk("CancelTasks", filter, why, caller, signal, async (batch) => {
      const outcome = await this.store.cancelBatch(batch, why, this.clock.now());
      for (const name of outcome.names) this.hooks.cancelled(name);
      return outcome;
    });
  }

  /** DeleteTasks: every finished task of the filter created before the call, with its events; answers how many. */
  deleteTasks(filter: ProtoTaskFilter | undefined, caller: ActionCaller, signal?: AbortSignal): Promise<number> {
    return this.bulk("DeleteTasks", filter, "", caller, signal, (batch) => this.store.deleteBatch(batch));
  }

  /**
   * Runs a bulk action batch by batch (limits.actionBatchTasks tasks among limits.actionBatchSpan
   * places of the store order, one short transaction each, so other writes go between them) until a
   * batch reaches the end of the store. A caller that
   * goes away stops it between batches; what was done stays done, and the log line says how much.
   */
  private async bulk(
    action: BulkAction, filter: ProtoTaskFilter | undefined, reason: string, caller: ActionCaller, signal: AbortSignal | undefined,
    run: (batch: ActionBatch) => Promise<ActionBatchOutcome>,
  ): Promise<number> {
    this.hooks.assertRunning();
    const startedAt = this.clock.now();
    const selection = validateBulkSelection(action, filter, startedAt);
    const fields = { action, ...filterFields(selection), ...(reason === "" ? {} : { reason }), ...actionCallerFields(caller) };
    let count = 0;
    let batches = 0;
    let after = 0;
    for (;;) {
      if (signal?.aborted) {
        this.logger.warn({ ...fields, count, batches, duration_ms: this.clock.now() - startedAt }, `Bulk action stopped: its caller went away after ${count} tasks were ${bulkActions[action].verb}`);
        throw new OrchestratorError(Code.Cancelled, `${action} stopped after ${count} tasks: the call was cancelled`);
      }
      let outcome: ActionBatchOutcome;
      try {
        this.hooks.assertRunning();
        outcome = await run({ selection, after, limit: limits.actionBatchTasks, span: limits.actionBatchSpan });
      } catch (error) {
        // What the batches before did stays done: the log and the answer say how much.
        const failure = OrchestratorError.from(error);
        this.logger.warn({ ...fields, count, batches, err: error }, `Bulk action stopped after ${count} tasks were ${bulkActions[action].verb}`);
        if (count === 0) throw failure;
        throw new OrchestratorError(failure.code, `${failure.rawMessage} (${action} stopped after ${count} tasks were ${bulkActions[action].verb})`, { cause: failure });
      }
      count += outcome.changed;
      batches++;
      if (outcome.next === null) break;
      after = outcome.next;
    }
    this.logger.info({ ...fields, count, batches, duration_ms: this.clock.now() - startedAt }, `Bulk action: ${count} tasks ${bulkActions[action].verb}`);
    return count;
  }
}

/** The fields of a bulk action's log line that describe its filter. */
function filterFields(selection: TaskSelection): Record<string, unknown> {
  return {
    filter: {
      names: selection.names, states: selection.states, concurrency_key: selection.concurrencyKey, schedule_id: selection.scheduleId,
      created_after_ms: selection.createdAfter, created_before_ms: selection.createdBefore,
    },
  };
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
