import type { Logger } from "orchestrator-ts-client/internal";

/**
 * Logs a failure that repeats (a store write refused while the disk is full) at most once per
 * interval, with how many failures the lines in between would have said, so a failing store costs
 * one log line per interval instead of one per attempt.
 */
export class FailureLog {
  private lastLoggedAt = -Infinity;
  private unlogged = 0;
  /** Failures since the last success. */
  private streak = 0;
  private streakLogged = false;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly now: () => number,
    private readonly intervalMs = 10_000,
  ) {}

  failed(error: unknown, fields: Record<string, unknown> = {}): void {
    this.streak++;
    if (this.now() - this.lastLoggedAt < this.intervalMs) {
      this.unlogged++;
      return;
    }
    this.logger.error({ ...fields, err: error, failures_since_last_log: this.unlogged + 1, failures_in_a_row: this.streak }, this.message);
    this.lastLoggedAt = this.now();
    this.unlogged = 0;
    this.streakLogged = true;
  }

  /** Ends a streak of failures, saying so when the streak was logged (so a flapping store stays quiet too). */
  succeeded(recoveredMessage: string): void {
    if (this.streak === 0) return;
    if (this.streakLogged) this.logger.info({ failures_in_a_row: this.streak }, recoveredMessage);
    this.streak = 0;
    this.streakLogged = false;
  }
}
