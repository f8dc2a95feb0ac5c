// A real store of any backend behind a Proxy that lets a test hold some of its answers back or
// make some of its writes fail, so it can see what the Scheduler does in between.
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import type { AttemptFailure, AttemptRef, ClaimedAttempt, ClaimRequest, ExpiredAttempt, LeaseTerms, NewTask, RetryBackoff, TaskEvent, TaskStore } from "../../packages/server/src/store/store.js";

export interface Gate {
  /** While set, reads of event history wait for it, so a test can commit events in the middle of a subscriber's catch-up read. */
  historyGate: Promise<void> | null;
  /**
   * While set, an enqueue's promise (the store's word that the tasks are durable) resolves only once
   * this does, after the commit itself: to the Scheduler the commit is still open.
   */
  commitGate: Promise<void> | null;
  /** Each enqueue call: its tasks' names, and whether the store itself has committed them. */
  readonly enqueues: Array<{ names: string[]; committed: boolean }>;
  /** Each complete and fail call, once the store answered: did it record an event, or refuse? */
  readonly outcomes: Array<{ call: "complete" | "fail"; taskId: string; attempt: number; recorded: boolean }>;
  /** Each claim call's requests: which workers, how many slots. */
  readonly claimCalls: Array<Array<{ workerId: string; limit: number }>>;
  /** While set, the sweep's writes fail as they do on a full disk. */
  refuseWrites: boolean;
}
export type GatedStore = TaskStore & Gate;

export function gated(inner: TaskStore): GatedStore {
  const gate: Gate = { historyGate: null, commitGate: null, enqueues: [], outcomes: [], claimCalls: [], refuseWrites: false };
  const noted = (call: "complete" | "fail", ref: AttemptRef) => (event: TaskEvent | null): TaskEvent | null => {
    gate.outcomes.push({ call, ...ref, recorded: event !== null });
    return event;
  };
  const overrides: Partial<TaskStore> = {
    complete: (ref: AttemptRef, result: Uint8Array, now: number) => inner.complete(ref, result, now).then(noted("complete", ref)),
    fail: (ref: AttemptRef, failure: AttemptFailure, now: number, backoff: RetryBackoff) => inner.fail(ref, failure, now, backoff).then(noted("fail", ref)),
    enqueue: (tasks: readonly NewTask[], now: number, keyRetentionMs?: number): Promise<TaskEvent[]> => {
      const call = { names: tasks.map((task) => task.name), committed: false };
      gate.enqueues.push(call);
      const held = gate.commitGate;
      const committed = inner.enqueue(tasks, now, keyRetentionMs).then((events) => {
        call.committed = true;
        return events;
      });
      return held ? committed.then(async (events) => {
        await held;
        return events;
      }) : committed;
    },
    claim: (requests: readonly ClaimRequest[], now: number, terms: LeaseTerms): Promise<ClaimedAttempt[][]> => {
      gate.claimCalls.push(requests.map((request) => ({ workerId: request.workerId, limit: request.limit })));
      return inner.claim(requests, now, terms);
    },
    expireAttempts: (now: number, backoff: RetryBackoff): Promise<ExpiredAttempt[]> => {
      if (gate.refuseWrites) return Promise.reject(new OrchestratorError(Code.ResourceExhausted, "the scheduler's disk is full"));
      return inner.expireAttempts(now, backoff);
    },
    listEvents: async (taskId: string, afterSequence: number): Promise<TaskEvent[]> => {
      if (gate.historyGate) await gate.historyGate;
      return inner.listEvents(taskId, afterSequence);
    },
  };
  return new Proxy(inner, {
    get(target, property) {
      if (property in gate) return gate[property as keyof Gate];
      if (property in overrides) return overrides[property as keyof TaskStore];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set(target, property, value) {
      if (property in gate) {
        (gate as unknown as Record<string | symbol, unknown>)[property] = value;
        return true;
      }
      return Reflect.set(target, property, value, target);
    },
  }) as GatedStore;
}

/** A gate and the function that opens it. */
export function heldOpen(): { gate: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return { gate, release };
}
