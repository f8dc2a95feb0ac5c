import type { Logger } from "orchestrator-ts-client/internal";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { ClaimedAttempt, LeaseTerms, TaskStore } from "../store/store.js";
import type { WorkerRegistry, WorkerSession } from "./worker-registry.js";
import { attemptKey } from "./worker-registry.js";
import { toBuffer } from "../protocol/convert.js";
import { FailureLog } from "./failure-log.js";

/** Wait before the first retry of a failed round; doubled per failure in a row, up to maxRetryDelayMs. */
const firstRetryDelayMs = 10;
const maxRetryDelayMs = 1000;

export interface DispatcherHooks {
  /** A claimed attempt whose worker left while the claim was in flight. */
  orphaned(attempt: ClaimedAttempt): void;
  assigned(attempt: ClaimedAttempt): void;
}

/**
 * Push dispatch. Anything that may make work runnable (a submit, a freed slot, a new worker, a due
 * retry) calls kick(); kicks while a round runs coalesce into one more round, and rounds never
 * overlap. A round claims, in one store commit, as many tasks as each connected worker has free
 * slots, and pushes them down the workers' streams. Nothing polls.
 *
 * A round that fails (the store refuses writes: a full disk) is retried after a backoff that grows
 * to a second, whether or not anything kicks, and kicks meanwhile wait for that retry; the failure
 * is logged once per 10 s. So a full disk neither spins the dispatcher nor floods the log, and
 * dispatch resumes by itself once the store accepts writes again.
 */
export class Dispatcher {
  private running = false;
  private scheduled = false;
  private lastRoundEnd = -Infinity;
  private again = false;
  private stopped = false;
  private failuresInARow = 0;
  private retryTimer: TimerHandle | null = null;
  private readonly failures: FailureLog;

  constructor(
    private readonly store: TaskStore,
    private readonly registry: WorkerRegistry,
    private readonly clock: Clock,
    private readonly terms: LeaseTerms,
    private readonly hooks: DispatcherHooks,
    private readonly logger: Logger,
    /** A kick this long (ms) after the last round runs at once; sooner ones wait for the turn's end. */
    private readonly idleMs = 1,
    /** Tasks one round claims at most. */
    private readonly maxClaimPerRound = Infinity,
  ) {
    this.failures = new FailureLog(logger, "Dispatch round failed", () => clock.now());
  }

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // Backing off after a failed round: the retry runs a round anyway.
    if (this.scheduled || this.retryTimer) return;
    if (performance.now() - this.lastRoundEnd >= this.idleMs) {
      // Idle: the round starts now, so its claim joins the writes already asked for in this turn
      // (the enqueue that caused the kick) in the same group commit: one fsync from submit to push.
      void this.runRounds();
      return;
    }
    // Busy: kicks until the end of this turn coalesce into one round, which claims more per commit.
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.runRounds();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async runRounds(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        const filledAll = await this.round();
        if (filledAll) this.again = true;
        this.failuresInARow = 0;
        this.failures.succeeded("Dispatch rounds succeed again");
      } while (this.again && !this.stopped);
    } catch (error) {
      this.failuresInARow++;
      const delay = Math.min(maxRetryDelayMs, firstRetryDelayMs * 2 ** (this.failuresInARow - 1));
      this.failures.failed(error, { retry_in_ms: delay });
      if (!this.stopped) {
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = null;
          this.kick();
        }, delay);
      }
    } finally {
      this.running = false;
      this.lastRoundEnd = performance.now();
    }
  }

  /** Returns true when some worker got every task it asked for, so more may be waiting. */
  private async round(): Promise<boolean> {
    const now = this.clock.now();
    const wanted = this.registry.claimRequests(this.maxClaimPerRound, now - this.terms.leaseMs);
    if (wanted.length === 0) return false;
    const claimed = await this.store.claim(wanted.map((entry) => entry.request), now, this.terms);
    let more = false;
    wanted.forEach(({ session, request }, index) => {
      const attempts = claimed[index] ?? [];
      if (attempts.length > 0 && attempts.length === request.limit) more = true;
      this.deliver(session, attempts);
    });
    return more;
  }

  private deliver(session: WorkerSession, attempts: ClaimedAttempt[]): void {
    if (attempts.length === 0) return;
    if (!this.registry.isCurrent(session)) {
      for (const attempt of attempts) this.hooks.orphaned(attempt);
      return;
    }
    for (const attempt of attempts) {
      session.inFlight.set(attemptKey(attempt), { taskId: attempt.taskId, attempt: attempt.attempt });
      this.hooks.assigned(attempt);
    }
    session.channel.sendAssignments({
      tasks: attempts.map((attempt) => ({
        taskId: attempt.taskId, attempt: attempt.attempt, name: attempt.name, payload: toBuffer(attempt.payload),
        timeoutMs: attempt.timeoutMs, maxRetries: attempt.maxRetries,
      })),
    });
  }
}
