import { dirname } from "node:path";
import type {
  ActionBatch, ActionBatchOutcome, CancelBatchOutcome, AttemptFailure, AttemptRef, CancelOutcome, ClaimedAttempt, ClaimRequest, ConcurrencyLimit, EventFilter, EventsPage, RateLimit, ExpiredAttempt, Leadership, LeaseRenewal,
  LeaseTerms, NewTask, PausedName, PauseOutcome, RetryBackoff, RetryOutcome, ScheduleFiring, ScheduleRecord, StoreSignals, TaskEvent, TaskFilter, TaskPage, TaskSelection, TaskStats,
  TaskRecord, TaskStore,
} from "../store.js";
import { decodeTraceContext, encodeTraceContext, firstEvent, promoteBatch, retryDelayMs, sameScheduleSpec, scheduleListLimit, toWaitingCount, type WaitingCount } from "../store.js";
import { scheduleKeyTakenError, scheduleParams, toSchedule } from "../schedule-rows.js";
import { CommitTimes, freedKeySlot, LocalSignals } from "../signals.js";
import { earliest, keyBudget, LaterWork, NameGate } from "../rate-gate.js";
import type { KeyRate } from "../rate-gate.js";
import { keyReusedError, requestFingerprint } from "../idempotency.js";
import { prepareDatabaseFiles } from "./data-files.js";
import { storeErrorFrom } from "./store-errors.js";
import { openSqlite } from "./driver.js";
import type { SqliteDatabase, SqliteDriverName, SqliteStatement } from "./driver.js";
import { GroupCommit } from "./group-commit.js";
import { cancelBatch, cancelRead, deleteBatch, retryBatch, retryTask, type SqliteActionContext } from "./task-actions.js";
import { migrations } from "./migrations/index.js";
import { nullableNumber, nullableString, toConcurrencyLimit, toEvent, toPausedName, toRateGate, toRateLimit, toTask } from "./rows.js";
import type { Row } from "./rows.js";
import { claimSql } from "./sql/claim.js";
import { completeSql } from "./sql/complete.js";
import { claimOfKeySql, clearLimitSql, keyedNamesSql, listLimitsSql, runningOfKeySql, setLimitSql, visitedKeySql, waitingKeysSql } from "./sql/concurrency.js";
import { countWaitingByNameSql, countWaitingSql, enqueueSql, findKeySql, forgetKeysSql, storeKeySql } from "./sql/enqueue.js";
import { insertEventSql, listEventsSql } from "./sql/events.js";
import { eventsHead, readEventsAfter } from "./queue-events.js";
import { currentAttemptSql, failFinallySql, retryLaterSql } from "./sql/fail.js";
import { readLeadershipSql, releaseLeadershipSql, writeLeadershipSql } from "./sql/leadership.js";
import { expiredAttemptsSql, extendAllLeasesSql, extendLeasesSql } from "./sql/leases.js";
import { listPausedNamesSql, pausedNameSql, pauseNameSql, resumeNameSql } from "./sql/paused.js";
import { progressSql } from "./sql/progress.js";
import {
  clearRateLimitSql, countStartsSql, deferAttemptSql, gatedNamesSql, listRateLimitsSql, rateGateSql, rateLimitSql, setRateLimitSql, throttleNameSql,
} from "./sql/rate-limits.js";
import { getTaskSql } from "./sql/read.js";
import { countTasks, listTasks, taskStats } from "./task-reads.js";
import { deleteIdleKeysSql, deleteTaskEventsSql, deleteTaskKeysSql, deleteTaskSql, finishedTasksSql } from "./sql/retention.js";
import { nextDueAtSql, promoteDueRetriesSql, promoteDueScheduledSql } from "./sql/retries.js";
import {
  deleteScheduleSql, dueSchedulesSql, getScheduleSql, insertScheduleSql, listSchedulesSql, moveNextFireSql, nextScheduleFireAtSql, updateScheduleSql,
} from "./sql/schedules.js";

/** Key passes one claim of one name makes at most (see claimKeyed). */
const maxKeyPasses = 4;

export type SqliteSynchronous = "full" | "normal";

export interface SqliteStoreOptions {
  /** Path of the database file, or ":memory:". */
  path: string;
  /**
   * FULL (default) syncs the WAL on every commit, so a power loss keeps every acknowledged write;
   * NORMAL syncs only at checkpoints: a process crash still loses nothing, a power loss may lose
   * the last commits.
   */
  synchronous?: SqliteSynchronous;
  /** Default: node:sqlite where Node has it (22.16+, 24), else better-sqlite3 (see driver.ts). */
  driver?: SqliteDriverName;
  /** Draws the retry backoff's jitter: a number in [0, 1). Default Math.random. */
  random?: () => number;
}


/**
 * The embedded store: one SQLite file in WAL mode, owned by one Scheduler process. Its signals are
 * in process: every write goes through this object, so each commit reports what it recorded.
 */
export class SqliteStore implements TaskStore {
  private readonly db: SqliteDatabase;
  private readonly writes: GroupCommit;
  private readonly statements = new Map<string, SqliteStatement>();
  private readonly localSignals = new LocalSignals();
  private readonly commitTimes = new CommitTimes();
  private readonly laterWork = new LaterWork((name) => this.localSignals.emitWorkAvailable([name]));
  private readonly random: () => number;
  /**
   * The names whose claim needs the keyed pass (they have had keyed tasks) or the rate gate (until
   * when: forever for a rate limit, to its end for a throttle). The file has one owner, this
   * process, so what it wrote is all there is: loaded by migrate(), kept up as keyed tasks, limits
   * and throttles are written (a write that rolls back leaves a name in, which only costs that name
   * the longer claim). Any other name, and one whose limit was cleared or whose throttle passed, is
   * claimed with one statement, as before keys and limits existed.
   */
  private readonly keyedNames = new Set<string>();
  private readonly gatedUntil = new Map<string, number>();

  constructor(options: SqliteStoreOptions) {
    if (options.path !== ":memory:") prepareDatabaseFiles(options.path);
    this.db = openSqlite(options.path, options.driver ? { driver: options.driver } : {});
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("foreign_keys = ON");
    const dataDirectory = options.path === ":memory:" ? "(in memory)" : dirname(options.path);
    this.random = options.random ?? Math.random;
    this.writes = new GroupCommit(this.db, (error) => storeErrorFrom(error, dataDirectory), undefined, ({ events, names }, durationMs) => {
      this.localSignals.emitEvents(events);
      this.localSignals.emitWorkAvailable(names);
      this.commitTimes.emit(durationMs);
    });
  }

  get signals(): StoreSignals {
    return this.localSignals;
  }

  onCommit(listener: (durationMs: number) => void): () => void {
    return this.commitTimes.on(listener);
  }

  /** The SQLite driver this store runs on. */
  get driver(): SqliteDriverName {
    return this.db.driver;
  }

  private sql(text: string): SqliteStatement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  migrate(): Promise<void> {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const applied = new Set(this.db.prepare("SELECT version FROM schema_migrations").pluck().all() as number[]);
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      this.db.transaction(() => {
        this.db.exec(migration.sql);
        this.db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(migration.version, migration.name, Date.now());
      })();
    }
    for (const name of this.db.prepare(keyedNamesSql).pluck().all()) this.keyedNames.add(String(name));
    for (const row of this.db.prepare(gatedNamesSql).all() as Row[]) {
      this.gatedUntil.set(String(row.name), row.max_starts !== null ? Infinity : Number(row.throttled_until ?? -Infinity));
    }
    return Promise.resolve();
  }

  enqueue(tasks: readonly NewTask[], now: number, keyRetentionMs = 24 * 3600 * 1000): Promise<TaskEvent[]> {
    return this.writes.run(() => this.enqueueNow(tasks, now, keyRetentionMs));
  }

  private enqueueNow(tasks: readonly NewTask[], now: number, keyRetentionMs: number): TaskEvent[] {
    return tasks.map((task) => {
      if (task.idempotencyKey) {
        const fingerprint = requestFingerprint(task);
        const existing = this.sql(findKeySql).get({ key: task.idempotencyKey, oldest: now - keyRetentionMs }) as Row | undefined;
        if (existing) {
          // A key stored before fingerprints existed (null) cannot be compared: it answers its task.
          if (existing.fingerprint === null || existing.fingerprint === fingerprint) return toEvent(existing);
          const existingId = String(existing.task_id);
          const row = this.sql(getTaskSql).get(existingId) as Row | undefined;
          throw keyReusedError(task.idempotencyKey, task, row ? toTask(row) : null, existingId);
        }
        this.sql(storeKeySql).run({ key: task.idempotencyKey, taskId: task.id, now, fingerprint });
      }
      const first = firstEvent(task, now);
      this.sql(enqueueSql).run({
        id: task.id, name: task.name, description: task.description, payload: task.payload, timeoutMs: task.timeoutMs,
        maxRetries: task.maxRetries, retryBackoffMs: task.retryBackoffMs, now, priority: task.priority,
        state: first.state, runAt: task.runAt, nextAttemptAt: first.nextAttemptAt,
        scheduleId: task.scheduleId ?? null, scheduleTickMs: task.scheduleTickMs ?? null,
        concurrencyKey: task.concurrencyKey ?? null, concurrencyLimit: task.concurrencyLimit ?? null,
        traceContext: encodeTraceContext(task.traceContext),
      });
      if (task.concurrencyKey) this.keyedNames.add(task.name);
      if (first.state === "queued") this.writes.log.workAvailable(task.name);
      return this.recordEvent(first);
    });
  }

  createSchedule(schedule: ScheduleRecord): Promise<{ schedule: ScheduleRecord; created: boolean }> {
    return this.writes.run(() => {
      if (schedule.key !== null) {
        const row = this.sql(getScheduleSql).get({ idOrKey: schedule.key }) as Row | undefined;
        if (row) {
          const existing = toSchedule(row);
          if (existing.key !== schedule.key) throw scheduleKeyTakenError(existing);
          if (!sameScheduleSpec(existing, schedule)) throw scheduleKeyTakenError(existing);
          return { schedule: existing, created: false };
        }
      }
      this.sql(insertScheduleSql).run(scheduleParams(schedule));
      return { schedule, created: true };
    });
  }

  getSchedule(idOrKey: string): Promise<ScheduleRecord | null> {
    const rows = this.sql(getScheduleSql).all({ idOrKey }) as Row[];
    // An id wins over a key that happens to spell another schedule's id.
    const row = rows.find((candidate) => candidate.id === idOrKey) ?? rows[0];
    return Promise.resolve(row ? toSchedule(row) : null);
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return Promise.resolve((this.sql(listSchedulesSql).all({ limit: scheduleListLimit }) as Row[]).map(toSchedule));
  }

  updateSchedule(schedule: ScheduleRecord): Promise<ScheduleRecord | null> {
    return this.writes.run(() => {
      const row = this.sql(updateScheduleSql).get(scheduleParams(schedule)) as Row | undefined;
      return row ? toSchedule(row) : null;
    });
  }

  deleteSchedule(id: string): Promise<boolean> {
    return this.writes.run(() => Number(this.sql(deleteScheduleSql).run({ id }).changes) > 0);
  }

  dueSchedules(now: number, limit: number): Promise<ScheduleRecord[]> {
    return Promise.resolve((this.sql(dueSchedulesSql).all({ now, limit }) as Row[]).map(toSchedule));
  }

  nextScheduleFireAt(): Promise<number | null> {
    return Promise.resolve(nullableNumber((this.sql(nextScheduleFireAtSql).get() as Row).next));
  }

  fireSchedule(firing: ScheduleFiring, now: number): Promise<TaskEvent[] | null> {
    return this.writes.run(() => {
      const lastTaskId = firing.tasks.at(-1)?.id ?? null;
      const moved = this.sql(moveNextFireSql).run({
        scheduleId: firing.scheduleId, expectedNextFireAt: firing.expectedNextFireAt, nextFireAt: firing.nextFireAt,
        lastTickMs: firing.lastTickMs, lastTaskId, now,
      });
      if (Number(moved.changes) === 0) return null;
      return this.enqueueNow(firing.tasks, now, 24 * 3600 * 1000);
    });
  }

  forgetIdempotencyKeys(before: number): Promise<void> {
    return this.writes.run(() => {
      this.sql(forgetKeysSql).run({ before });
    });
  }

  countWaiting(): Promise<number> {
    return Promise.resolve(Number((this.sql(countWaitingSql).get() as Row).waiting));
  }

  countWaitingByName(): Promise<WaitingCount[]> {
    return Promise.resolve((this.sql(countWaitingByNameSql).all() as Row[]).map(toWaitingCount));
  }

  claim(requests: readonly ClaimRequest[], now: number, terms: LeaseTerms): Promise<ClaimedAttempt[][]> {
    return this.writes.run(() =>
      requests.map((request) => {
        const claimed: ClaimedAttempt[] = [];
        for (const name of request.names) {
          const left = request.limit - claimed.length;
          if (left <= 0) break;
          this.claimName(request.workerId, name, left, now, terms, claimed);
        }
        return claimed;
      }),
    );
  }

  /** Up to `left` tasks of one name, within its rate limit: keyed tasks first, then unkeyed ones (see README "Concurrency keys"). */
  private claimName(workerId: string, name: string, left: number, now: number, terms: LeaseTerms, claimed: ClaimedAttempt[]): void {
    if (!this.keyedNames.has(name) && (this.gatedUntil.get(name) ?? -Infinity) <= now) {
      this.claimUnkeyed(workerId, name, left, now, terms, claimed);
      return;
    }
    const gate = new NameGate(toRateGate(this.sql(rateGateSql).get(name) as Row | undefined), now);
    const before = claimed.length;
    const keyedCap = gate.keyedCap(left);
    const keyHeldUntil = keyedCap > 0 ? this.claimKeyed(workerId, name, keyedCap, now, terms, claimed, gate.keyRate) : null;
    const keyed = claimed.length - before;
    const unkeyedCap = gate.unkeyedCap(left, keyed);
    if (unkeyedCap > 0) this.claimUnkeyed(workerId, name, unkeyedCap, now, terms, claimed);
    const unkeyed = claimed.length - before - keyed;
    const counted = gate.counted(keyed, unkeyed);
    if (gate.budget.counted && counted > 0) this.sql(countStartsSql).run({ name, windowStart: gate.budget.windowStart, used: gate.budget.used + counted });
    // A window, not the queue, ended this claim: look again when it opens.
    const wakeAt = earliest(gate.wakeAt(left, keyed, unkeyed), keyHeldUntil);
    if (wakeAt !== null) this.laterWork.after(name, wakeAt - now);
  }

  private claimUnkeyed(workerId: string, name: string, limit: number, now: number, terms: LeaseTerms, claimed: ClaimedAttempt[]): void {
    const rows = this.sql(claimSql).all({
      workerId, name, limit, now, leaseExpiresAt: now + terms.leaseMs, deadlineGraceMs: terms.deadlineGraceMs,
    }) as Row[];
    this.recordClaimed(workerId, rows, now, claimed);
  }

  /**
   * Passes over the name's waiting keys, least recently visited first: each key gets its share of
   * the slots left, within its room (bound minus running attempts) and, with a per-key rate limit,
   * its window's starts left, and goes to the back. Another pass runs while slots are left and the
   * last pass found as many keys as it asked for. Returns when the earliest key window that held
   * tasks back opens, or null.
   */
  private claimKeyed(
    workerId: string, name: string, limit: number, now: number, terms: LeaseTerms, claimed: ClaimedAttempt[], rate: KeyRate | null,
  ): number | null {
    let left = limit;
    let heldUntil: number | null = null;
    for (let pass = 0; pass < maxKeyPasses && left > 0; pass++) {
      const asked = left;
      const keys = this.sql(waitingKeysSql).all({ name, limit: asked }) as Row[];
      keys.forEach((row, index) => {
        const key = String(row.key);
        const share = Math.ceil(left / (keys.length - index));
        const bound = nullableNumber(row.max_running);
        const running = bound === null ? 0 : Number((this.sql(runningOfKeySql).get({ name, key }) as Row).running);
        const room = bound === null ? share : Math.min(share, bound - running);
        const window = rate ? keyBudget(rate, Number(row.rate_window_start), Number(row.rate_used), now) : null;
        const take = Math.min(room, window?.allowed ?? Infinity);
        if (window && window.allowed < room) heldUntil = earliest(heldUntil, window.opensAt);
        let took = 0;
        if (take > 0) {
          const rows = this.sql(claimOfKeySql).all({
            workerId, name, key, limit: take, now, leaseExpiresAt: now + terms.leaseMs, deadlineGraceMs: terms.deadlineGraceMs,
          }) as Row[];
          took = rows.length;
          left -= took;
          this.recordClaimed(workerId, rows, now, claimed);
        }
        this.sql(visitedKeySql).run({
          name, key, now, rateWindowStart: window ? window.windowStart : Number(row.rate_window_start),
          rateUsed: window ? window.used + took : Number(row.rate_used),
        });
      });
      if (keys.length < asked) break;
    }
    return heldUntil;
  }

  private recordClaimed(workerId: string, rows: Row[], now: number, claimed: ClaimedAttempt[]): void {
    // RETURNING promises no order; hand tasks out in claim order.
    rows.sort((a, b) => Number(b.priority) - Number(a.priority) || Number(a.seq) - Number(b.seq));
    for (const row of rows) {
      const attempt = Number(row.attempt);
      const event = this.recordEvent({
        taskId: String(row.id), sequence: Number(row.last_sequence), state: "running", attempt,
        percent: 0, message: `attempt ${attempt} started`, timestamp: now, workerId,
      });
      claimed.push({
        taskId: String(row.id), attempt, workerId, name: String(row.name),
        payload: row.payload as Uint8Array, timeoutMs: Number(row.timeout_ms), maxRetries: Number(row.max_retries), event,
        traceContext: decodeTraceContext(row.trace_context),
        runnableSince: Math.max(Number(row.created_at), Number(row.run_at ?? 0)),
      });
    }
  }

  complete(ref: AttemptRef, result: Uint8Array, now: number): Promise<TaskEvent | null> {
    return this.writes.run(() => {
      const row = this.sql(completeSql).get({ ...ref, result, now }) as Row | undefined;
      if (!row) return null;
      freedKeySlot(this.writes.log, row);
      return this.recordEvent({
        taskId: ref.taskId, sequence: Number(row.last_sequence), state: "succeeded", attempt: ref.attempt,
        percent: 100, message: "succeeded", timestamp: now, workerId: nullableString(row.worker_id), result,
      });
    });
  }

  fail(ref: AttemptRef, failure: AttemptFailure, now: number, backoff: RetryBackoff): Promise<TaskEvent | null> {
    return this.writes.run(() => this.failNow(ref, failure, now, backoff));
  }

  private failNow(ref: AttemptRef, failure: AttemptFailure, now: number, backoff: RetryBackoff): TaskEvent | null {
    const current = this.sql(currentAttemptSql).get(ref) as Row | undefined;
    if (!current) return null;
    freedKeySlot(this.writes.log, current);
    const attempt = Number(current.attempt);
    // Attempts its upstream deferred (deferRateLimited), and those before a retry (task-actions.ts), do not use up retries.
    const retriesLeft = attempt - Number(current.deferred_attempts ?? 0) <= Number(current.max_retries);
    const base = { taskId: ref.taskId, attempt, percent: Number(current.percent), timestamp: now, workerId: nullableString(current.worker_id), error: failure.error };
    if (failure.retryable && retriesLeft) {
      const nextAttemptAt = now + retryDelayMs(backoff, attempt, Number(current.retry_backoff_ms), this.random());
      const row = this.sql(retryLaterSql).get({ ...ref, error: failure.error, nextAttemptAt }) as Row;
      const delay = ((nextAttemptAt - now) / 1000).toFixed(1);
      return this.recordEvent({ ...base, sequence: Number(row.last_sequence), state: "retrying", message: `attempt ${attempt} failed; retrying in ${delay}s`, nextAttemptAt });
    }
    const row = this.sql(failFinallySql).get({ ...ref, error: failure.error, now }) as Row;
    const why = failure.retryable ? `no retries left after ${attempt} attempt${attempt === 1 ? "" : "s"}` : "the failure is not retryable";
    return this.recordEvent({ ...base, sequence: Number(row.last_sequence), state: "failed", message: `failed: ${why}` });
  }

  progress(ref: AttemptRef, percent: number, message: string, now: number): Promise<TaskEvent | null> {
    return this.writes.run(() => {
      const row = this.sql(progressSql).get({ ...ref, percent, message }) as Row | undefined;
      if (!row) return null;
      return this.recordEvent({
        taskId: ref.taskId, sequence: Number(row.last_sequence), state: "running", attempt: ref.attempt,
        percent, message, timestamp: now, workerId: nullableString(row.worker_id),
      });
    });
  }

  extendLeases(renewals: readonly LeaseRenewal[]): Promise<void> {
    return this.writes.run(() => {
      const statement = this.sql(extendLeasesSql);
      for (const { taskId, attempt, until } of renewals) statement.run({ taskId, attempt, until });
    });
  }

  expireAttempts(now: number, backoff: RetryBackoff): Promise<ExpiredAttempt[]> {
    return this.writes.run(() => {
      const rows = this.sql(expiredAttemptsSql).all({ now }) as Row[];
      const expired: ExpiredAttempt[] = [];
      for (const row of rows) {
        const reason = Number(row.lease_expired) === 1 ? "lease expired" : "deadline passed";
        const ref = { taskId: String(row.id), attempt: Number(row.attempt) };
        const error = reason === "lease expired" ? "the worker stopped renewing its lease" : "the attempt outlived its timeout";
        const event = this.failNow(ref, { error, retryable: true }, now, backoff);
        if (event) expired.push({ ...ref, name: String(row.name), workerId: nullableString(row.worker_id), reason, event });
      }
      return expired;
    });
  }

  promoteDue(now: number): Promise<string[]> {
    return this.writes.run(() => {
      const names = (this.sql(promoteDueRetriesSql).all({ now }) as Row[]).map((row) => String(row.name));
      const due = (this.sql(promoteDueScheduledSql).all({ now, limit: promoteBatch }) as Row[]).sort((a, b) => Number(a.seq) - Number(b.seq));
      for (const row of due) {
        this.recordEvent({ taskId: String(row.id), sequence: Number(row.last_sequence), state: "queued", attempt: 0, percent: 0, message: "due", timestamp: now });
        names.push(String(row.name));
      }
      for (const name of names) this.writes.log.workAvailable(name);
      return names;
    });
  }

  nextDueAt(): Promise<number | null> {
    const row = this.sql(nextDueAtSql).get() as Row;
    const times = [nullableNumber(row.retry), nullableNumber(row.scheduled)].filter((time) => time !== null);
    return Promise.resolve(times.length > 0 ? Math.min(...times) : null);
  }

  cancel(taskId: string, reason: string, now: number): Promise<CancelOutcome | null> {
    return this.writes.run(() => {
      const before = this.sql(getTaskSql).get(taskId) as Row | undefined;
      return before ? cancelRead(this.actionContext, taskId, before, reason, now) : null;
    });
  }

  retry(taskId: string, reason: string, now: number): Promise<RetryOutcome | null> {
    return this.writes.run(() => retryTask(this.actionContext, taskId, reason, now));
  }

  retryBatch(batch: ActionBatch, reason: string, now: number): Promise<ActionBatchOutcome> {
    return this.writes.run(() => retryBatch(this.actionContext, batch, reason, now));
  }

  cancelBatch(batch: ActionBatch, reason: string, now: number): Promise<CancelBatchOutcome> {
    return this.writes.run(() => cancelBatch(this.actionContext, batch, reason, now));
  }

  deleteBatch(batch: ActionBatch): Promise<ActionBatchOutcome> {
    return this.writes.run(() => deleteBatch(this.actionContext, batch));
  }

  private get actionContext(): SqliteActionContext {
    return { sql: (text) => this.sql(text), log: this.writes.log, recordEvent: (event) => this.recordEvent(event) };
  }

  pauseName(name: string, reason: string, now: number): Promise<PauseOutcome> {
    return this.writes.run(() => {
      const existing = this.sql(pausedNameSql).get(name) as Row | undefined;
      if (existing) return { paused: toPausedName(existing), wasPaused: true };
      this.sql(pauseNameSql).run({ name, reason, now });
      return { paused: { name, reason, pausedAt: now }, wasPaused: false };
    });
  }

  resumeName(name: string): Promise<PausedName | null> {
    return this.writes.run(() => {
      const row = this.sql(resumeNameSql).get(name) as Row | undefined;
      if (!row) return null;
      // Its queued tasks are claimable again: the same signal an enqueue gives.
      this.writes.log.workAvailable(name);
      return toPausedName(row);
    });
  }

  listPausedNames(): Promise<PausedName[]> {
    return Promise.resolve((this.sql(listPausedNamesSql).all() as Row[]).map(toPausedName));
  }

  setConcurrencyLimit(name: string, maxRunning: number, now: number): Promise<ConcurrencyLimit> {
    return this.writes.run(() => {
      this.sql(setLimitSql).run({ name, maxRunning, now });
      // A raised bound may let waiting tasks start: the same signal an enqueue gives.
      this.writes.log.workAvailable(name);
      return { name, maxRunning, updatedAt: now };
    });
  }

  clearConcurrencyLimit(name: string): Promise<ConcurrencyLimit | null> {
    return this.writes.run(() => {
      const row = this.sql(clearLimitSql).get(name) as Row | undefined;
      if (!row) return null;
      this.writes.log.workAvailable(name);
      return toConcurrencyLimit(row);
    });
  }

  listConcurrencyLimits(): Promise<ConcurrencyLimit[]> {
    return Promise.resolve((this.sql(listLimitsSql).all() as Row[]).map(toConcurrencyLimit));
  }

  setRateLimit(name: string, maxStarts: number, perMs: number, now: number, perKey = false): Promise<RateLimit> {
    return this.writes.run(() => {
      this.sql(setRateLimitSql).run({ name, maxStarts, perMs, now, perKey: perKey ? 1 : 0 });
      this.gatedUntil.set(name, Infinity);
      // A raised limit may let waiting tasks start: the same signal an enqueue gives.
      this.writes.log.workAvailable(name);
      return { name, maxStarts, perMs, perKey, updatedAt: now };
    });
  }

  clearRateLimit(name: string): Promise<RateLimit | null> {
    return this.writes.run(() => {
      const row = this.sql(rateLimitSql).get(name) as Row | undefined;
      if (!row) return null;
      this.sql(clearRateLimitSql).run(name);
      // A throttle still running gates the name until it passes.
      const gate = this.sql(rateGateSql).get(name) as Row | undefined;
      this.gatedUntil.set(name, Number(gate?.throttled_until ?? -Infinity));
      this.writes.log.workAvailable(name);
      return toRateLimit(row);
    });
  }

  listRateLimits(): Promise<RateLimit[]> {
    return Promise.resolve((this.sql(listRateLimitsSql).all() as Row[]).map(toRateLimit));
  }

  handBack(ref: AttemptRef, message: string, now: number): Promise<TaskEvent | null> {
    return this.writes.run(() => this.deferNow(ref, now, message, now, false));
  }

  deferRateLimited(ref: AttemptRef, delayMs: number, message: string, now: number): Promise<TaskEvent | null> {
    return this.writes.run(() => this.deferNow(ref, now + delayMs, message, now, true));
  }

  /**
   * Ends the attempt without using a retry; the task is due at `nextAttemptAt`. With `holdName` no
   * attempt of its name starts before then (a rate-limited upstream), else only this task waits.
   */
  private deferNow(ref: AttemptRef, nextAttemptAt: number, message: string, now: number, holdName: boolean): TaskEvent | null {
    const row = this.sql(deferAttemptSql).get({ ...ref, nextAttemptAt }) as Row | undefined;
    if (!row) return null;
    if (holdName) {
      const name = String(row.name);
      this.sql(throttleNameSql).run({ name, until: nextAttemptAt, now });
      this.gatedUntil.set(name, Math.max(this.gatedUntil.get(name) ?? -Infinity, nextAttemptAt));
    }
    freedKeySlot(this.writes.log, row);
    return this.recordEvent({
      taskId: ref.taskId, sequence: Number(row.last_sequence), state: "retrying", attempt: ref.attempt, percent: Number(row.percent),
      message, timestamp: now, workerId: nullableString(row.worker_id), nextAttemptAt,
    });
  }

  getTask(taskId: string): Promise<TaskRecord | null> {
    const row = this.sql(getTaskSql).get(taskId) as Row | undefined;
    return Promise.resolve(row ? toTask(row) : null);
  }

  /** Async so that a bad cursor rejects the returned promise instead of throwing at the call. */
  async listTasks(filter: TaskFilter): Promise<TaskPage> {
    return listTasks((text) => this.sql(text), filter);
  }

  async countTasks(selection: TaskSelection): Promise<number> {
    return countTasks((text) => this.sql(text), selection);
  }

  async taskStats(now: number, minutes: number): Promise<TaskStats> {
    return taskStats((text) => this.sql(text), now, minutes);
  }

  listEvents(taskId: string, afterSequence: number): Promise<TaskEvent[]> {
    return Promise.resolve((this.sql(listEventsSql).all(taskId, afterSequence) as Row[]).map(toEvent));
  }

  /** Async so that a bad cursor rejects the returned promise instead of throwing at the call. */
  async readEventsAfter(cursor: string | null, filter: EventFilter, limit: number): Promise<EventsPage> {
    return readEventsAfter((text) => this.sql(text), cursor, filter, limit);
  }

  eventsHead(): Promise<string> {
    return Promise.resolve(eventsHead((text) => this.sql(text)));
  }

  acquireLeadership(holder: string, ttlMs: number, now: number): Promise<Leadership> {
    return this.writes.run(() => {
      const row = this.sql(readLeadershipSql).get() as Row | undefined;
      const sinceLastRenewalMs = row ? now - Number(row.renewed_at) : null;
      const current = row && row.holder !== null && Number(row.expires_at) > now ? String(row.holder) : null;
      if (current !== null && current !== holder) {
        return { isLeader: false, term: Number(row?.term), holder: current, sinceLastRenewalMs };
      }
      // Kept by its holder, or taken over (first ever, released or expired) with the next term.
      const term = current === holder ? Number(row?.term) : Number(row?.term ?? 0) + 1;
      this.sql(writeLeadershipSql).run({ holder, term, now, expiresAt: now + ttlMs });
      return { isLeader: true, term, holder, sinceLastRenewalMs };
    });
  }

  releaseLeadership(holder: string): Promise<void> {
    return this.writes.run(() => {
      this.sql(releaseLeadershipSql).run({ holder });
    });
  }

  extendAllLeases(until: number): Promise<number> {
    return this.writes.run(() => Number(this.sql(extendAllLeasesSql).run({ until }).changes));
  }

  deleteFinished(before: number, limit: number): Promise<number> {
    return this.writes.run(() => {
      const ids = this.sql(finishedTasksSql).pluck().all({ before, limit }) as string[];
      for (const id of ids) {
        this.sql(deleteTaskEventsSql).run(id);
        this.sql(deleteTaskKeysSql).run(id);
        this.sql(deleteTaskSql).run(id);
      }
      this.sql(deleteIdleKeysSql).run({ before, limit });
      return ids.length;
    });
  }

  analyze(): Promise<void> {
    return this.writes.run(() => {
      this.db.exec("PRAGMA optimize");
    });
  }

  close(): Promise<void> {
    this.laterWork.close();
    this.writes.flush();
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }

  private recordEvent(event: Omit<TaskEvent, "workerId" | "result" | "error" | "nextAttemptAt"> & Partial<TaskEvent>): TaskEvent {
    const full: TaskEvent = { workerId: null, result: null, error: null, nextAttemptAt: null, ...event };
    this.sql(insertEventSql).run(full);
    this.writes.log.record(full);
    return full;
  }
}
