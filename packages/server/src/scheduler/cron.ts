/**
 * Cron arithmetic, by croner (time zones and DST as croner handles them: a wall time skipped by a
 * spring-forward does not fire that day; a wall time repeated by a fall-back fires once).
 */
import { Cron } from "croner";
import { OrchestratorError } from "orchestrator-ts-client/internal";

/** A cron expression read in one zone: the ticks it gives, in Unix ms. */
export class CronTicks {
  private readonly cron: Cron;

  /** Throws INVALID_ARGUMENT naming `cron` or `time_zone` (validate first with validateCron for field names of your choice). */
  constructor(readonly expression: string, readonly timeZone: string) {
    this.cron = new Cron(expression, { timezone: timeZone, paused: true });
  }

  /** The first tick strictly after `afterMs`, or null when the expression has no more. */
  next(afterMs: number): number | null {
    return this.cron.nextRun(new Date(afterMs))?.getTime() ?? null;
  }
}

/** An IANA time zone this runtime knows, else INVALID_ARGUMENT naming `field`. */
export function validateTimeZone(timeZone: string, field = "time_zone"): string {
  if (timeZone.length === 0 || timeZone.length > 64) throw OrchestratorError.invalidArgument(`${field} must be an IANA time zone such as "Europe/Berlin" or "UTC"`);
  try {
    // Throws a RangeError for a zone the runtime's ICU does not know.
    new Intl.DateTimeFormat("en-US", { timeZone }).format(0);
  } catch {
    throw OrchestratorError.invalidArgument(`${field} "${timeZone.slice(0, 64)}" is not a known IANA time zone (e.g. "Europe/Berlin", "UTC")`);
  }
  return timeZone;
}

/**
 * 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), as croner reads
 * them; anything else is INVALID_ARGUMENT naming `field`. Returns the ticks in `timeZone`.
 */
export function validateCron(expression: string, timeZone: string, field = "cron"): CronTicks {
  const fields = expression.trim().split(/\s+/).filter((part) => part.length > 0);
  if (expression.length > 256 || (fields.length !== 5 && fields.length !== 6)) {
    throw OrchestratorError.invalidArgument(
      `${field} "${expression.slice(0, 64)}" has ${fields.length} fields; use 5 (minute hour day-of-month month day-of-week) or 6 (seconds first), e.g. "*/5 * * * *"`,
    );
  }
  let ticks: CronTicks;
  try {
    ticks = new CronTicks(fields.join(" "), timeZone);
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/^CronPattern: /, "") : String(error);
    throw OrchestratorError.invalidArgument(`${field} "${expression.slice(0, 64)}" is not a valid cron expression: ${why}`);
  }
  return ticks;
}
