/**
 * Cron schedules on the Scheduler: the requests (create, get, list, update, delete) and the firing.
 *
 * Every Scheduler fires (like the due timer), woken by one timer armed for the earliest
 * next_fire_at; the store's conditional firing makes each tick fire once however many Schedulers
 * race for it, and a firing retried after a crash finds the tick's task by its (schedule, tick)
 * key. Changes made through this Scheduler re-arm its timer at once; changes made through another
 * reach it at its next sweep (every heartbeat interval), which re-reads the earliest time.
 */
import { v7 as uuidv7 } from "uuid";
import type { Logger } from "orchestrator-ts-client/internal";
import { CatchUpPolicy as ProtoCatchUp, OrchestratorError, OverlapPolicy as ProtoOverlap } from "orchestrator-ts-client/internal";
import type { CreateScheduleRequest, ScheduleTask, UpdateScheduleRequest } from "orchestrator-ts-client/internal";
import type { Clock } from "../util/clock.js";
import { EarliestTimer } from "../util/earliest-timer.js";
import type { CatchUpPolicy, NewTask, OverlapPolicy, ScheduleRecord, ScheduleTaskTemplate, TaskStore } from "../store/store.js";
import { isTerminal, scheduleTickKey } from "../store/store.js";
import { CronTicks, validateCron, validateTimeZone } from "./cron.js";
import { limits } from "./limits.js";
import type { ActionCaller } from "../util/auth.js";
import { actionCallerFields } from "./operator-actions.js";
import { validateSubmit } from "./validation.js";

/** How the firing treats time; README "Schedules" documents both numbers. */
export const scheduleTiming = {
  /** A tick more than this before the moment it is fired is "missed" (its catch-up policy applies). */
  missedGraceMs: 60_000,
  /** catch_up all fires at most this many missed ticks (the latest ones), oldest first. */
  catchUpMax: 100,
  /** Due schedules one store read returns. */
  dueBatch: 100,
  /** After a failed firing, the timer waits this long before trying again. */
  retryAfterFailureMs: 1_000,
};

export interface ScheduleHooks {
  /** Run the returned promise in the background (logged, awaited on stop). */
  track(work: Promise<unknown>): void;
  /** Tasks became claimable (a tick fired). */
  workAvailable(): void;
}

export class Schedules {
  private readonly timer: EarliestTimer;
  private firing: Promise<void> | null = null;
  private fireAgain = false;
  private stopped = false;

  constructor(
    private readonly store: TaskStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly defaultRetryBackoffMs: number,
    private readonly hooks: ScheduleHooks,
  ) {
    this.timer = new EarliestTimer(clock, () => this.hooks.track(this.fireDue()));
  }

  // ---- requests ----------------------------------------------------------------------------

  /** `caller` (and update's, delete's): who asked, for the log line; absent in-process. */
  async create(request: CreateScheduleRequest, caller?: ActionCaller): Promise<{ schedule: ScheduleRecord; created: boolean }> {
    const key = request.key === "" ? null : validateScheduleKey(request.key, "key");
    const timeZone = validateTimeZone(request.timeZone || "UTC");
    const ticks = validateCron(request.cron, timeZone);
    const task = validateTemplate(request.task, this.defaultRetryBackoffMs);
    const now = this.clock.now();
    const schedule: ScheduleRecord = {
      id: uuidv7(), key, cron: ticks.expression, timeZone, task, overlap: overlapFrom(request.overlap), catchUp: catchUpFrom(request.catchUp),
      paused: request.paused, nextFireAt: request.paused ? null : ticks.next(now), lastTickMs: null, lastTaskId: null, createdAt: now, updatedAt: now,
    };
    const answer = await this.store.createSchedule(schedule);
    if (answer.created) {
      this.logger.info({ action: "CreateSchedule", schedule_id: schedule.id, key, cron: schedule.cron, time_zone: timeZone, ...actionCallerFields(caller) }, "Schedule created");
      this.changed(answer.schedule.nextFireAt);
    }
    return answer;
  }

  async get(idOrKey: string): Promise<ScheduleRecord> {
    const schedule = await this.store.getSchedule(validateScheduleKey(idOrKey, "schedule"));
    if (!schedule) throw OrchestratorError.notFound(`schedule ${idOrKey} does not exist`);
    return schedule;
  }

  list(): Promise<ScheduleRecord[]> {
    return this.store.listSchedules();
  }

  /**
   * Applies the fields set. A change of cron, zone or paused computes the next tick again from now
   * (a resumed schedule fires at its next tick, none of those it slept through).
   */
  async update(request: UpdateScheduleRequest, caller?: ActionCaller): Promise<ScheduleRecord> {
    const current = await this.get(request.schedule);
    const timeZone = request.timeZone !== undefined ? validateTimeZone(request.timeZone || "UTC") : current.timeZone;
    const cron = request.cron !== undefined ? request.cron : current.cron;
    const ticks = validateCron(cron, timeZone);
    const paused = request.paused ?? current.paused;
    const retimed = ticks.expression !== current.cron || timeZone !== current.timeZone || paused !== current.paused;
    const now = this.clock.now();
    const next: ScheduleRecord = {
      ...current, cron: ticks.expression, timeZone, paused,
      task: request.task ? validateTemplate(request.task, this.defaultRetryBackoffMs) : current.task,
      overlap: request.overlap === ProtoOverlap.OVERLAP_POLICY_UNSPECIFIED ? current.overlap : overlapFrom(request.overlap),
      catchUp: request.catchUp === ProtoCatchUp.CATCH_UP_POLICY_UNSPECIFIED ? current.catchUp : catchUpFrom(request.catchUp),
      // Unchanged timing keeps the stored next tick; should a firing move it meanwhile, writing the
      // old one back fires that tick again, which finds its task by the tick's key: no second task.
      nextFireAt: retimed ? (paused ? null : ticks.next(now)) : current.nextFireAt,
      updatedAt: now,
    };
    const updated = await this.store.updateSchedule(next);
    if (!updated) throw OrchestratorError.notFound(`schedule ${request.schedule} does not exist`);
    this.logger.info({ action: "UpdateSchedule", schedule_id: updated.id, paused: updated.paused, next_fire_at: updated.nextFireAt, ...actionCallerFields(caller) }, "Schedule updated");
    this.changed(updated.nextFireAt);
    return updated;
  }

  async delete(idOrKey: string, caller?: ActionCaller): Promise<void> {
    const schedule = await this.get(idOrKey);
    if (!(await this.store.deleteSchedule(schedule.id))) throw OrchestratorError.notFound(`schedule ${idOrKey} does not exist`);
    this.logger.info({ action: "DeleteSchedule", schedule_id: schedule.id, ...actionCallerFields(caller) }, "Schedule deleted");
  }

  // ---- firing ------------------------------------------------------------------------------

  /** Re-reads the earliest next tick (at start, and at each sweep: changes made through other Schedulers). */
  async refresh(): Promise<void> {
    const next = await this.store.nextScheduleFireAt();
    if (next !== null) this.arm(next);
  }

  stop(): void {
    this.stopped = true;
    this.timer.clear();
  }

  private changed(nextFireAt: number | null): void {
    if (nextFireAt !== null) this.arm(nextFireAt);
  }

  /** One timer, for the earliest tick known; a later one leaves it alone. */
  private arm(due: number): void {
    if (this.stopped) return;
    if (this.firing && due <= this.clock.now()) {
      // Due already, while a pass runs (a sweep read the tick that pass is firing): one more pass, no timer.
      this.fireAgain = true;
      return;
    }
    this.timer.arm(due);
  }

  /** Fires every due schedule, one pass at a time (a timer during a pass asks for another). */
  private fireDue(): Promise<void> {
    if (this.firing) {
      this.fireAgain = true;
      return this.firing;
    }
    this.firing = (async () => {
      do {
        this.fireAgain = false;
        await this.fireDueOnce();
      } while (this.fireAgain && !this.stopped);
    })().finally(() => {
      this.firing = null;
    });
    return this.firing;
  }

  private async fireDueOnce(): Promise<void> {
    let failed = false;
    try {
      for (;;) {
        const now = this.clock.now();
        const due = await this.store.dueSchedules(now, scheduleTiming.dueBatch);
        for (const schedule of due) {
          try {
            await this.fire(schedule, now);
          } catch (error) {
            failed = true;
            this.logger.warn({ err: error, schedule_id: schedule.id }, "Could not fire a schedule; trying again shortly");
          }
        }
        if (failed || due.length < scheduleTiming.dueBatch || this.stopped) break;
      }
    } finally {
      if (failed) this.arm(this.clock.now() + scheduleTiming.retryAfterFailureMs);
      await this.refresh();
    }
  }

  /** Fires the due ticks of one schedule as its policies say (see ticksToFire), or finds another Scheduler did. */
  private async fire(schedule: ScheduleRecord, now: number): Promise<void> {
    const expected = schedule.nextFireAt;
    if (expected === null) return;
    const plan = dueTicks(new CronTicks(schedule.cron, schedule.timeZone), expected, now, schedule.catchUp);
    let ticks = plan.fire;
    if (schedule.overlap === "skip" && ticks.length > 0) {
      // Ticks fired together would overlap each other: only the latest; none while the last runs.
      const last = schedule.lastTaskId === null ? null : await this.store.getTask(schedule.lastTaskId);
      ticks = last !== null && !isTerminal(last.state) ? [] : ticks.slice(-1);
    }
    const tasks = ticks.map((tick) => tickTask(schedule, tick));
    const events = await this.store.fireSchedule({ scheduleId: schedule.id, expectedNextFireAt: expected, nextFireAt: plan.next, tasks, lastTickMs: plan.last }, now);
    if (events === null) return; // another Scheduler fired these ticks
    if (plan.dropped || ticks.length < plan.fire.length) {
      this.logger.info({ schedule_id: schedule.id, missed_dropped: plan.dropped, overlap_skipped: plan.fire.length - ticks.length }, "Schedule ticks skipped");
    }
    for (const [index, event] of events.entries()) {
      this.logger.info({ schedule_id: schedule.id, tick: new Date(ticks[index] ?? 0).toISOString(), task_id: event.taskId }, "Schedule fired");
    }
    if (events.length > 0) this.hooks.workAvailable();
  }
}

export interface TickPlan {
  /** Ticks to fire, oldest first. */
  fire: number[];
  /** Whether missed ticks were dropped by the catch-up policy (for the log). */
  dropped: boolean;
  /** The latest tick handled (fired or dropped). */
  last: number;
  /** The first tick after now, or null when the cron has no more. */
  next: number | null;
}

/** The first window the latest missed ticks are looked for in; it grows 4x until it holds enough. */
const firstMissedWindowMs = 60_000;

/**
 * The ticks from `first` up to `now`: those within missedGraceMs of now fire; older ones were
 * missed and follow the catch-up policy (skip: none, one: the latest, all: the latest catchUpMax).
 * Missed ticks are not walked from `first` (croner takes ~0.4 ms a tick in a zone with DST: a day
 * of an every-second schedule would be half a minute of blocked event loop): the latest ones are
 * looked for in a window before the cutoff that grows until it holds as many as the policy keeps.
 */
export function dueTicks(ticks: CronTicks, first: number, now: number, catchUp: CatchUpPolicy): TickPlan {
  const cutoff = now - scheduleTiming.missedGraceMs;
  const keep = catchUp === "all" ? scheduleTiming.catchUpMax : catchUp === "one" ? 1 : 0;
  let missed: number[] = [];
  let dropped = false;
  if (first < cutoff) {
    for (let window = firstMissedWindowMs; ; window *= 4) {
      const from = Math.max(first, cutoff - window);
      const found = keep > 0 ? ticksBetween(ticks, from === first ? first : ticks.next(from - 1), cutoff) : [];
      if (found.length >= keep || from === first) {
        missed = found.slice(found.length - keep);
        dropped = from !== first || found.length > keep;
        break;
      }
    }
  }
  const onTime = ticksBetween(ticks, first >= cutoff ? first : ticks.next(cutoff - 1), now + 1);
  const fire = [...missed, ...onTime];
  // The latest tick at or before now; when none fired, the latest missed one.
  const last = onTime.at(-1) ?? missed.at(-1) ?? latestBefore(ticks, first, cutoff);
  const next = ticks.next(Math.max(now, last));
  return { fire, dropped, last, next };
}

/** The ticks t with start <= t < end, oldest first (start is a tick, or null for none). */
function ticksBetween(ticks: CronTicks, start: number | null, end: number): number[] {
  const found: number[] = [];
  for (let tick = start; tick !== null && tick < end; tick = ticks.next(tick)) found.push(tick);
  return found;
}

/** The latest tick before `end`, at least `first` (a tick itself): for skip, whose missed ticks are not listed. */
function latestBefore(ticks: CronTicks, first: number, end: number): number {
  let latest = first;
  for (let window = firstMissedWindowMs; ; window *= 4) {
    const from = Math.max(first, end - window);
    const found = ticksBetween(ticks, from === first ? first : ticks.next(from - 1), end);
    latest = found.at(-1) ?? latest;
    if (found.length > 0 || from === first) return latest;
  }
}

function tickTask(schedule: ScheduleRecord, tick: number): NewTask {
  return {
    id: uuidv7(), ...schedule.task, runAt: null, scheduleId: schedule.id, scheduleTickMs: tick, idempotencyKey: scheduleTickKey(schedule.id, tick),
  };
}

export function validateScheduleKey(key: string, field: string): string {
  if (key.length === 0) throw OrchestratorError.invalidArgument(`${field} is required: a schedule's id or key`);
  if (key.length > limits.idempotencyKeyMaxLength) throw OrchestratorError.invalidArgument(`${field} is ${key.length} characters long; the limit is ${limits.idempotencyKeyMaxLength}`);
  if (!limits.namePattern.test(key)) throw OrchestratorError.invalidArgument(`${field} "${key.slice(0, 64)}" may only contain letters, digits and . _ : / -`);
  return key;
}

/** The task template, held to a submit's limits (fields named task.x). */
function validateTemplate(task: ScheduleTask | undefined, defaultRetryBackoffMs: number): ScheduleTaskTemplate {
  if (!task) throw OrchestratorError.invalidArgument("task is required: the task each tick submits (at least task.name)");
  const valid = validateSubmit({ ...task, idempotencyKey: "", traceContext: {} }, defaultRetryBackoffMs, 0, "task.");
  return {
    name: valid.name, description: valid.description, payload: valid.payload, timeoutMs: valid.timeoutMs,
    maxRetries: valid.maxRetries, retryBackoffMs: valid.retryBackoffMs, priority: valid.priority,
  };
}

export function overlapFrom(value: ProtoOverlap): OverlapPolicy {
  switch (value) {
    case ProtoOverlap.OVERLAP_POLICY_UNSPECIFIED:
    case ProtoOverlap.OVERLAP_POLICY_ALLOW:
      return "allow";
    case ProtoOverlap.OVERLAP_POLICY_SKIP:
      return "skip";
    default:
      throw OrchestratorError.invalidArgument(`overlap ${String(value)} is not an OverlapPolicy (use ALLOW or SKIP)`);
  }
}

export function catchUpFrom(value: ProtoCatchUp): CatchUpPolicy {
  switch (value) {
    case ProtoCatchUp.CATCH_UP_POLICY_SKIP:
      return "skip";
    case ProtoCatchUp.CATCH_UP_POLICY_UNSPECIFIED:
    case ProtoCatchUp.CATCH_UP_POLICY_ONE:
      return "one";
    case ProtoCatchUp.CATCH_UP_POLICY_ALL:
      return "all";
    default:
      throw OrchestratorError.invalidArgument(`catch_up ${String(value)} is not a CatchUpPolicy (use SKIP, ONE or ALL)`);
  }
}
