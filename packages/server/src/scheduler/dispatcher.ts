import type { Logger } from "orchestrator-ts-client/internal";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { ClaimedAttempt, LeaseTerms, TaskStore } from "../store/store.js";
import type { WorkerRegistry, WorkerSession } from "./worker-registry.js";
import { attemptKey } from "./worker-registry.js";
import { toBuffer, traceContextToProto } from "../protocol/convert.js";
import { FailureLog } from "./failure-log.js";
import { traceDispatch } from "../tracing/spans.js";
import { spanTime } from "orchestrator-ts-client/internal";

/** Wait before the first retry of a failed round; doubled per failure in a row, up to maxRetryDelayMs. */
const firstRetryDelayMs = 10;
const maxRetryDelayMs = 1000;

export interface DispatcherHooks {
  /** A claimed attempt whose worker left while the claim was in flight. */
  orphaned(attempt: ClaimedAttempt): void;
  /** `now`: when it was handed to its worker (the clock's ms). */
  assigned(attempt: ClaimedAttempt, now: number): void;
}

/**
 * Push dispatch. Anything that may make work runnable (a submit, a freed slot, a new worker, a due
 * retry) calls kick(). A round claims, in one store commit, as many tasks as each connected worker
 * has free slots, and pushes them down the workers' streams. Nothing polls.
 *
 * While work is waiting (the last round filled a request), as many rounds run at once as the store
 * commits batches at once (one on SQLite, three on PostgreSQL): a kick while fewer run starts one
 * more, which claims only the slots no running round is claiming for (WorkerSession.claiming), so a
 * slot freed while a claim is in flight is not left waiting for that claim's commit. Otherwise, and
 * while all of them run, kicks coalesce into one more round after the running one.
 *
 * A round that fails (the store refuses writes: a full disk) is retried after a backoff that grows
 * to a second, whether or not anything kicks, and kicks meanwhile wait for that retry; the failure
 * is logged once per 10 s. So a full disk neither spins the dispatcher nor floods the log, and
 * dispatch resumes by itself once the store accepts writes again.
 */
export class Dispatcher {
  private roundsRunning = 0;
  /** Rounds that may run at once: as many as the store commits at once (see TaskStore.commitsAtOnce). */
  private readonly roundsAtOnce: number;
  private scheduled = false;
  private lastRoundEnd = -Infinity;
  private again = false;
  /** The last round that asked for slots got every task it asked for some worker: work is waiting. */
  private workWaiting = false;
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
    this.roundsAtOnce = Math.max(1, store.commitsAtOnce ?? 1);
  }

  kick(): void {
    if (this.stopped) return;
    // Backing off after a failed round: the retry runs a round anyway.
    if (this.retryTimer) return;
    // Without work waiting, a round beside the running ones would most likely claim nothing.
    if (this.roundsRunning >= this.roundsAtOnce || (this.roundsRunning > 0 && !this.workWaiting)) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    if (this.roundsRunning > 0) {
      // One more round beside those running starts once the code that kicked is done (its kicks
      // coalesce), not at the end of the turn: its claim then joins the batch of the writes asked for
      // meanwhile (the submit that kicked, the results that freed the slots). A claim in a batch of its
      // own would commit beside theirs, and could not see the tasks they submit.
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        if (this.roundsRunning < this.roundsAtOnce) void this.runRounds();
        else this.again = true;
      });
      return;
    }
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
      if (this.roundsRunning < this.roundsAtOnce) void this.runRounds();
      else this.again = true;
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async runRounds(): Promise<void> {
    this.roundsRunning++;
    try {
      do {
        this.again = false;
        const claimed = await this.round();
        this.failuresInARow = 0;
        this.failures.succeeded("Dispatch rounds succeed again");
        if (claimed !== "none") this.workWaiting = claimed === "all";
        if (claimed === "all") this.again = true;
        if (claimed === "none" && this.roundsRunning > 1) {
          // Every free slot is being claimed for by another round, whose claim may have missed what
          // this one was kicked for (a task submitted beside it): that round looks again once it ends.
          this.again = true;
          break;
        }
      } while (this.again && !this.stopped);
    } catch (error) {
      this.failuresInARow++;
      const delay = Math.min(maxRetryDelayMs, firstRetryDelayMs * 2 ** (this.failuresInARow - 1));
      this.failures.failed(error, { retry_in_ms: delay });
      // Rounds that ran at once and failed together retry once.
      if (!this.stopped && this.retryTimer === null) {
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = null;
          this.kick();
        }, delay);
      }
    } finally {
      this.roundsRunning--;
      this.lastRoundEnd = performance.now();
    }
  }

  /**
   * "all" when some worker got every task it asked for (so more may be waiting), "some" when none
   * did, "none" when no worker had a slot to ask for.
   */
  private async round(): Promise<"all" | "some" | "none"> {
    const now = this.clock.now();
    // Wall time, not the clock's (a test's may be fake): where a traced attempt's dispatch span starts.
    const startedAt = spanTime();
    const wanted = this.registry.claimRequests(this.maxClaimPerRound, now - this.terms.leaseMs);
    if (wanted.length === 0) return "none";
    for (const { session, request } of wanted) session.claiming += request.limit;
    let claimed: ClaimedAttempt[][];
    try {
      claimed = await this.store.claim(wanted.map((entry) => entry.request), now, this.terms);
    } finally {
      for (const { session, request } of wanted) session.claiming -= request.limit;
    }
    let more = false;
    wanted.forEach(({ session, request }, index) => {
      const attempts = claimed[index] ?? [];
      if (attempts.length > 0 && attempts.length === request.limit) more = true;
      this.deliver(session, attempts, startedAt);
    });
    return more ? "all" : "some";
  }

  private deliver(session: WorkerSession, attempts: ClaimedAttempt[], claimStartedAt: number): void {
    if (attempts.length === 0) return;
    if (!this.registry.isCurrent(session)) {
      for (const attempt of attempts) this.hooks.orphaned(attempt);
      return;
    }
    const now = this.clock.now();
    for (const attempt of attempts) {
      session.inFlight.set(attemptKey(attempt), { taskId: attempt.taskId, attempt: attempt.attempt, name: attempt.name, assignedAt: now });
      this.hooks.assigned(attempt, now);
      traceDispatch(attempt, claimStartedAt);
    }
    session.channel.sendAssignments({
      tasks: attempts.map((attempt) => ({
        taskId: attempt.taskId, attempt: attempt.attempt, name: attempt.name, payload: toBuffer(attempt.payload),
        timeoutMs: attempt.timeoutMs, maxRetries: attempt.maxRetries, traceContext: traceContextToProto(attempt.traceContext),
      })),
    });
  }
}
