import type { Logger } from "orchestrator-ts-client/internal";
import type { Clock } from "../util/clock.js";
import { EarliestTimer } from "../util/earliest-timer.js";
import type { ExpiredAttempt, RetryBackoff, TaskStore } from "../store/store.js";
import type { CompiledSchedulerOptions } from "./options.js";

/** Finished tasks deleted per statement, so retention never holds locks for long. */
const retentionBatch = 500;
/**
 * The longest the due timer waits at once. Node fires a timer of more than 2^31 - 1 ms (24.8 days)
 * after 1 ms, and a delayed task may be a year away: the timer wakes at most daily, finds nothing
 * due, and waits again.
 */
/** Batches one retention pass deletes at most; the rest waits for the next pass. */
const retentionBatchesPerPass = 20;

export type MaintenanceRole = "follower" | "leader";

/**
 * The work one elected Scheduler does for all of them (River's leader): expiring leases and
 * deadlines, promoting due retries, forgetting old idempotency keys, deleting finished tasks past
 * the retention, refreshing planner statistics. Every Scheduler runs this; only the one holding the
 * store's leadership acts. The writes are fenced by attempt numbers, so two leaders for a moment
 * (a renewal racing an expiry) do no harm.
 *
 * One exception: the due timer (retries whose backoff ran out, delayed tasks coming due) promotes
 * on every Scheduler, not only the leader, so a leader killed just before a due time delays nothing
 * by its leadership's TTL. That is safe because promotion is: each due task is moved by one
 * conditional update (SQLite's single writer; PostgreSQL's FOR UPDATE SKIP LOCKED, so Schedulers
 * promoting at once split the due tasks and none is promoted, nor recorded as queued, twice).
 *
 * After a time when no Scheduler swept (all were down, or the store was unreachable) the leader
 * first raises every running attempt's lease to workerTimeoutMs from now: workers that kept running
 * through our outage get that long to reconnect and report their attempts before any is expired.
 */
export class Maintenance {
  role: MaintenanceRole = "follower";
  private term = 0;
  private passes = 0;
  private readonly dueTimer: EarliestTimer;
  private stopped = false;
  /** Whether the due timer has been armed from the store (at the first pass), not only from events. */
  private dueTimesRead = false;

  constructor(
    private readonly store: TaskStore,
    private readonly options: CompiledSchedulerOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly backoff: RetryBackoff,
    /** Run the returned promise in the background (logged, awaited on stop). */
    private readonly track: (work: Promise<unknown>) => void,
    /** Tasks became claimable here (retries or scheduled tasks promoted). */
    private readonly workAvailable: () => void,
    /** An attempt this leader ended (its lease or deadline passed), for the log. */
    private readonly expired: (attempt: ExpiredAttempt) => void,
  ) {
    this.dueTimer = new EarliestTimer(clock, () => this.track(this.promoteDue()));
  }

  /** One maintenance pass; called by the Scheduler's sweep, once per heartbeat interval. */
  async pass(): Promise<void> {
    if (!this.dueTimesRead) {
      // Due times recorded before this Scheduler started reach it through no event: read the earliest.
      const next = await this.store.nextDueAt();
      this.dueTimesRead = true;
      if (next !== null) this.dueAt(next);
    }
    const now = this.clock.now();
    const leadership = await this.store.acquireLeadership(this.options.schedulerId, this.options.leaderTtlMs, now);
    this.becomes(leadership.isLeader ? "leader" : "follower", leadership.term, leadership.holder);
    if (!leadership.isLeader) return;
    const gap = leadership.sinceLastRenewalMs;
    if (gap !== null && gap > this.options.heartbeatIntervalMs * 3) {
      const raised = await this.store.extendAllLeases(now + this.options.workerTimeoutMs);
      this.logger.warn(
        { unswept_ms: gap, attempts_kept: raised, grace_ms: this.options.workerTimeoutMs },
        "No Scheduler swept for a while; running attempts get time for their workers to reconnect before any lease expires",
      );
    }
    // Expired attempts reach their workers' Schedulers through the event feed (retrying or failed).
    for (const attempt of await this.store.expireAttempts(now, this.backoff)) this.expired(attempt);
    await this.promoteDue();
    if (this.passes % 60 === 0) {
      await this.store.forgetIdempotencyKeys(now - this.options.idempotencyRetentionMs);
      await this.deleteExpiredHistory(now);
      await this.store.analyze();
    }
    this.passes++;
  }

  /**
   * A retrying or scheduled task was recorded (by any Scheduler): promote it when due. One timer,
   * for the earliest due time known; each promotion re-arms it for the next one the store holds, so
   * nothing is polled. (The leader's pass promotes too, as a backstop.)
   */
  dueAt(due: number): void {
    if (!this.stopped) this.dueTimer.arm(due);
  }

  /** Gives the leadership up, so another Scheduler takes over without waiting for its expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.dueTimer.clear();
    if (this.role === "leader") await this.store.releaseLeadership(this.options.schedulerId);
    this.role = "follower";
  }

  private becomes(role: MaintenanceRole, term: number, holder: string | null): void {
    if (role === this.role && term === this.term) return;
    if (role === "leader") this.logger.info({ scheduler_id: this.options.schedulerId, term }, "This Scheduler leads maintenance (lease expiry, due retries, retention)");
    else if (this.role === "leader") this.logger.info({ scheduler_id: this.options.schedulerId, leader: holder, term }, "Another Scheduler leads maintenance now");
    this.role = role;
    this.term = term;
  }

  private async promoteDue(): Promise<void> {
    const names = await this.store.promoteDue(this.clock.now());
    if (names.length > 0) this.workAvailable();
    const next = await this.store.nextDueAt();
    if (next !== null) this.dueAt(next);
  }

  private async deleteExpiredHistory(now: number): Promise<void> {
    let deleted = 0;
    for (let batch = 0; batch < retentionBatchesPerPass; batch++) {
      const count = await this.store.deleteFinished(now - this.options.retentionMs, retentionBatch);
      deleted += count;
      if (count < retentionBatch) break;
    }
    if (deleted > 0) this.logger.info({ deleted, retention_ms: this.options.retentionMs }, "Deleted finished tasks past the retention");
  }
}
