import { randomUUID } from "node:crypto";
import type pg from "pg";
import type {
  ActionBatch, ActionBatchOutcome, CancelBatchOutcome, AttemptFailure, AttemptRef, CancelOutcome, ClaimedAttempt, ClaimRequest, ConcurrencyLimit, EventFilter, EventsPage, RateLimit, ExpiredAttempt, Leadership,
  LeaseRenewal, LeaseTerms, NewTask, PausedName, PauseOutcome, RetryBackoff, RetryOutcome, ScheduleFiring, ScheduleRecord, StoreSignals, TaskEvent, TaskFilter, TaskSelection, TaskStats,
  TaskPage, TaskRecord, TaskStore,
} from "../store.js";
import { firstEvent, isTerminal, promoteBatch, retryDelayMs, toWaitingCount, type WaitingCount } from "../store.js";
import { keyReusedError, requestFingerprint } from "../idempotency.js";
import { CommitTimes, freedKeySlot, LocalSignals } from "../signals.js";
import { earliest, LaterWork, NameGate } from "../rate-gate.js";
import { systemClock } from "../../util/clock.js";
import type { Clock } from "../../util/clock.js";
import { createPool, measureClockSkew, parsePostgresUrl, prepared, readScanning } from "./driver.js";
import type { PostgresTarget } from "./driver.js";
import { GroupCommit } from "./group-commit.js";
import type { MergeableWrite, Transaction, Write } from "./group-commit.js";
import { EventFeed, PostgresNotifier } from "./listener.js";
import type { Notifier } from "./listener.js";
import { runMigrations } from "./migrations/index.js";
import { byClaimOrder, claimKeyed, recordClaimed, sendAhead } from "./claims.js";
import { ClaimCursors } from "./claim-cursors.js";
import { finishBatch } from "./batch-end.js";
import { cancelBatch, deleteBatch, recordCancelled, retryBatch, retryTask, type PostgresActionContext } from "./task-actions.js";
import { completions, insertTasks, recordEnqueued } from "./hot-writes.js";
import type { Completion, HintTarget } from "./hot-writes.js";
import { asRecord, nullableString, record, storedFirstEvent, toEvent, toPausedName, toRateGate, toState, toTask } from "./rows.js";
import type { Row } from "./rows.js";
import { storeErrorFrom } from "./store-errors.js";
import { clearConcurrencyLimit, clearRateLimit, listConcurrencyLimits, listRateLimits, setConcurrencyLimit, setRateLimit } from "./limit-store.js";
import { createSchedule, deleteSchedule, dueSchedules, getSchedule, listSchedules, nextScheduleFireAt, updateSchedule } from "./schedule-store.js";
import { cancelSql, lockTaskSql } from "./sql/cancel.js";
import { claimSql, plainClaimInOneTripSql, plainClaimSql } from "./sql/claim.js";
import { lockWaitingKeysSql } from "./sql/concurrency.js";
import { claimKeysSql, countWaitingByNameSql, countWaitingSql, forgetKeysSql, keyHoldersSql, takeOverKeySql } from "./sql/enqueue.js";
import { listEventsSql } from "./sql/events.js";
import { eventsHead, readEventsAfter } from "./queue-events.js";
import { currentAttemptSql, failFinallySql, retryLaterSql } from "./sql/fail.js";
import { acquireLeadershipSql, readLeadershipSql, releaseLeadershipSql } from "./sql/leadership.js";
import { expiredAttemptsSql, extendAllLeasesSql, extendLeasesSql } from "./sql/leases.js";
import { listPausedNamesSql, pauseNameSql, resumeNameSql } from "./sql/paused.js";
import { progressSql } from "./sql/progress.js";
import { countStartsSql, deferAttemptSql, nameGateSql, throttleNameSql } from "./sql/rate-limits.js";
import { getTaskSql } from "./sql/read.js";
import { countTasks, listTasks, taskStats } from "./task-reads.js";
import { analyzeSql, deleteFinishedSql, deleteIdleKeysSql } from "./sql/retention.js";
import { nextDueAtSql, promoteDueSql } from "./sql/retries.js";
import { moveNextFireSql } from "./sql/schedules.js";

export interface PostgresStoreOptions {
  /** `postgres://user[:password]@host[:port]/database[?schema=name]`; the schema (default public) is created if missing. */
  url: string;
  /**
   * Pooled connections for writes and reads; the listener has its own. Default 4: up to 3 commit
   * batches at once (see commitsAtOnce), one connection left for reads.
   */
  poolSize?: number;
  /** How often other writers' events and work are looked for without a hint. Default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * The clock the caller's `now` arguments come from (default the system clock). The store
   * measures its skew against the database's clock and compares leases, deadlines and retry due
   * times on the database's clock, so Schedulers whose clocks disagree agree on expiry.
   */
  clock?: Clock;
  /** Draws the retry backoff's jitter: a number in [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * False: no LISTEN connection; other writers' events and work are found by the poll alone (behind
   * a pooler that cannot LISTEN, as PgBouncer in transaction mode). Default true.
   */
  listen?: boolean;
  /** How this store's connections show in pg_stat_activity: "<name>" (pool) and "<name> listener". Default "orchestrator scheduler". */
  applicationName?: string;
  /** Background failures (the listener's connection, a feed read); the store retries them by itself. */
  onBackgroundError?: (error: unknown) => void;
  /** How commit hints travel between the stores on the database. Default LISTEN/NOTIFY on its own connection. */
  notifier?: Notifier;
}


interface EnqueueCall {
  tasks: readonly NewTask[];
  now: number;
  keyRetentionMs: number;
}

/**
 * The shared store: several Schedulers on one PostgreSQL database (or one schema of it). Claims
 * lock with SKIP LOCKED, every write is fenced by the attempt number, idempotency keys are taken
 * with ON CONFLICT, and each commit batch sends one hint so the other Schedulers re-read the
 * events and look for work (see listener.ts).
 */
export class PostgresStore implements TaskStore {
  /** The database as messages name it (no password). */
  readonly database: string;
  readonly commitsAtOnce: number;
  private readonly target: PostgresTarget;
  private readonly pool: pg.Pool;
  private readonly writes: GroupCommit;
  private readonly localSignals = new LocalSignals();
  private readonly commitTimes = new CommitTimes();
  private readonly laterWork = new LaterWork((name) => this.localSignals.emitWorkAvailable([name]));
  private readonly notifier: Notifier;
  private readonly feed: EventFeed;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly instanceId = randomUUID();
  private readonly claimCursors = new ClaimCursors();
  /** Where one-trip writes send their hints; null (no one-trip batches) when hints do not travel by LISTEN/NOTIFY. */
  private readonly oneTripHint: HintTarget | null;
  private readonly completions: MergeableWrite<Completion, TaskEvent | null>;
  /**
   * Names a claim found gated (a rate limit, waiting keys): claims of them take the full way, more
   * than one statement, so they do not go out in one trip. A full claim that finds one no longer
   * gated forgets it.
   */
  private readonly gatedNames = new Set<string>();
  /**
   * The last claim filled a request: work is waiting, so the next claim may commit beside the
   * batches in flight (WriteOptions.beside) rather than after them.
   */
  private workWaiting = false;
  private skew: { skewMs: number; uncertaintyMs: number } | null = null;
  private measuring: Promise<number> | null = null;
  private closed = false;
  private feedStarted = false;

  constructor(options: PostgresStoreOptions) {
    this.target = parsePostgresUrl(options.url);
    this.database = this.target.label;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    const onError = options.onBackgroundError ?? (() => undefined);
    const applicationName = options.applicationName ?? "orchestrator scheduler";
    const poolSize = options.poolSize ?? 4;
    this.pool = createPool(this.target, poolSize, onError, applicationName);
    this.notifier = options.notifier ?? new PostgresNotifier(this.target, `${applicationName} listener`);
    this.oneTripHint = this.notifier instanceof PostgresNotifier
      ? { channel: this.notifier.channel, from: this.instanceId, maxPayloadBytes: this.notifier.maxPayloadBytes }
      : null;
    // Only one-trip batches commit at once (see GroupCommit); more than 3 drained W1 no faster, and
    // one connection stays free for reads (the feed).
    this.commitsAtOnce = this.oneTripHint === null ? 1 : Math.max(1, Math.min(3, poolSize - 1));
    this.completions = completions(this.oneTripHint);
    this.writes = new GroupCommit(this.pool, {
      skew: () => this.skewMs(),
      finish: (tx) => finishBatch(tx, { notifier: this.notifier, oneTripHint: this.oneTripHint, feed: this.feed, instanceId: this.instanceId }),
      committed: ({ events, names }, durationMs) => {
        this.localSignals.emitEvents(events);
        this.localSignals.emitWorkAvailable(names);
        this.commitTimes.emit(durationMs);
      },
      errorFrom: (error) => storeErrorFrom(error, this.database),
    }, { oneTrip: this.oneTripHint !== null, batchesAtOnce: this.commitsAtOnce });
    this.feed = new EventFeed({
      pool: this.pool, notifier: this.notifier, signals: this.localSignals, instanceId: this.instanceId,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      listen: options.listen ?? true,
      toEvent: (row) => toEvent(row, this.skew?.skewMs ?? 0),
      workFromOthers: (names) => {
        this.claimCursors.forget(names);
        this.localSignals.emitWorkAvailable(names);
      },
      reconnected: () => this.measureSkew().then(() => undefined),
      onError,
    });
  }

  /**
   * This process's commits are reported right after they commit; other writers' from the end of
   * migrate() on (after a hint, a poll tick or a reconnect of the listener).
   */
  get signals(): StoreSignals {
    return this.localSignals;
  }

  onCommit(listener: (durationMs: number) => void): () => void {
    return this.commitTimes.on(listener);
  }

  /** Transactions this store committed and the writes they carried (commits per write is the group commit's gain). */
  get commitStats(): { commits: number; writes: number } {
    return { ...this.writes.stats };
  }

  /** Rows the event feed has read since the start (each row of another writer should be read once). */
  get feedStats(): { rowsRead: number } {
    return { ...this.feed.stats };
  }

  /** The listener's server process id, or null while it reconnects (tests cut it with pg_terminate_backend). */
  get listenerProcessId(): number | null {
    return this.notifier instanceof PostgresNotifier ? this.notifier.processId : null;
  }

  /** Database time minus the caller's clock, measured once and again on each listener reconnect. */
  private skewMs(): Promise<number> {
    if (this.skew) return Promise.resolve(this.skew.skewMs);
    return this.measureSkew();
  }

  private measureSkew(): Promise<number> {
    this.measuring ??= measureClockSkew(this.pool, this.clock)
      .then((measured) => {
        // A new measurement within the old one's error bars is not news: keeping the old value keeps
        // the times this store hands back steady.
        const current = this.skew;
        if (!current || Math.abs(measured.skewMs - current.skewMs) > current.uncertaintyMs + measured.uncertaintyMs + 1) this.skew = measured;
        return this.skew?.skewMs ?? measured.skewMs;
      })
      .catch((error: unknown) => {
        throw storeErrorFrom(error, this.database);
      })
      .finally(() => {
        this.measuring = null;
      });
    return this.measuring;
  }

  /** read() and a write in a commit batch as plain functions, for the modules that work for this store. */
  private readonly reader = (text: string, values?: unknown[]): Promise<Row[]> => this.read(text, values);
  private readonly run = <T>(write: Write<T>): Promise<T> => this.writes.run(write);

  /** A read on the pool, with the errors mapped as for writes. */
  private async read<R extends pg.QueryResultRow = Row>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(prepared(text, values))).rows;
    } catch (error) {
      throw storeErrorFrom(error, this.database);
    }
  }

  /** A read allowed to scan the whole table (driver.ts readScanning), with the errors mapped as for writes. */
  private async scan(text: string, values: unknown[] = []): Promise<Row[]> {
    try {
      return await readScanning<Row>(this.pool, text, values);
    } catch (error) {
      throw storeErrorFrom(error, this.database);
    }
  }

  async migrate(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw storeErrorFrom(error, this.database);
    }
    try {
      await runMigrations(client, this.target.schema, this.clock.now());
      client.release();
    } catch (error) {
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw storeErrorFrom(error, this.database);
    }
    await this.skewMs();
    // Other writers' events and hints are followed from here on (the tables exist now).
    if (!this.feedStarted && !this.closed) {
      try {
        await this.feed.start();
      } catch (error) {
        throw storeErrorFrom(error, this.database);
      }
      this.feedStarted = true;
    }
  }

  enqueue(tasks: readonly NewTask[], now: number, keyRetentionMs = 24 * 3600 * 1000): Promise<TaskEvent[]> {
    // Before any claim of this batch reads the cursors (a claim may share the enqueue's commit).
    this.claimCursors.enqueued(tasks);
    return this.writes.runMerged(this.enqueues, { tasks, now, keyRetentionMs });
  }

  /** Enqueue calls of one batch: those without keys (the common case) share one INSERT. */
  private readonly enqueues: MergeableWrite<EnqueueCall, TaskEvent[]> = {
    oneTrip: (call) => !call.tasks.some((task) => task.idempotencyKey),
    runMany: async (tx, calls) => {
      const answers: TaskEvent[][] = [];
      let plain: EnqueueCall[] = [];
      const flush = async (): Promise<void> => {
        if (plain.length === 0) return;
        const tasks = plain.flatMap((call) => call.tasks);
        const inserted = insertTasks(tx, tasks, plain.flatMap((call) => call.tasks.map(() => call.now)));
        // Recorded before the answer (see MergeableWrite.oneTrip): the events do not depend on it, and
        // an insert that fails fails the batch, whose log starts again empty.
        for (const call of plain) answers.push(call.tasks.map((task) => recordEnqueued(tx, task, call.now)));
        plain = [];
        await inserted;
      };
      for (const call of calls) {
        if (call.tasks.some((task) => task.idempotencyKey)) {
          await flush();
          answers.push(await this.enqueueIn(tx, call.tasks, call.now, call.keyRetentionMs));
        } else {
          plain.push(call);
        }
      }
      await flush();
      return answers;
    },
  };

  private async enqueueIn(tx: Transaction, tasks: readonly NewTask[], now: number, keyRetentionMs: number): Promise<TaskEvent[]> {
    const at = now + tx.skewMs;
    // Within the call, a repeated key answers (or refuses) against its first task.
    const firstWithKey = new Map<string, { task: NewTask; fingerprint: string }>();
    for (const task of tasks) {
      if (!task.idempotencyKey) continue;
      const fingerprint = requestFingerprint(task);
      const first = firstWithKey.get(task.idempotencyKey);
      if (!first) firstWithKey.set(task.idempotencyKey, { task, fingerprint });
      else if (first.fingerprint !== fingerprint) throw keyReusedError(task.idempotencyKey, task, asRecord(first.task, now), first.task.id);
    }
    // Keys held by an earlier task answer with that task's first event.
    const answers = new Map<string, TaskEvent>();
    if (firstWithKey.size > 0) {
      const entries = [...firstWithKey.entries()];
      const taken = await tx.query<{ key: string }>(claimKeysSql, [
        entries.map(([key]) => key), entries.map(([, first]) => first.task.id), entries.map(([, first]) => first.fingerprint), at, at - keyRetentionMs,
      ]);
      const takenKeys = new Set(taken.rows.map((row) => row.key));
      const held = entries.filter(([key]) => !takenKeys.has(key));
      if (held.length > 0) {
        const holders = await tx.query(keyHoldersSql, [held.map(([key]) => key)]);
        for (const row of holders.rows) {
          const key = String(row.key);
          const first = firstWithKey.get(key);
          if (!first) continue;
          if (row.id === null) {
            await tx.query(takeOverKeySql, [key, first.task.id, at, first.fingerprint]);
            continue;
          }
          // A key stored without a fingerprint cannot be compared: it answers its task.
          if (row.fingerprint !== null && row.fingerprint !== first.fingerprint) {
            throw keyReusedError(key, first.task, toTask(row, tx.skewMs), String(row.holder_id));
          }
          answers.set(key, storedFirstEvent(toTask(row, tx.skewMs)));
        }
      }
    }
    const fresh = tasks.filter((task) => !task.idempotencyKey || (firstWithKey.get(task.idempotencyKey)?.task === task && !answers.has(task.idempotencyKey)));
    await insertTasks(tx, fresh, fresh.map(() => now));
    for (const task of fresh) {
      const event = recordEnqueued(tx, task, now);
      if (task.idempotencyKey) answers.set(task.idempotencyKey, event);
    }
    return tasks.map((task) => (task.idempotencyKey ? answers.get(task.idempotencyKey) : undefined) ?? firstEvent(task, now));
  }

  createSchedule(schedule: ScheduleRecord): Promise<{ schedule: ScheduleRecord; created: boolean }> {
    return createSchedule(this.run, schedule);
  }

  getSchedule(idOrKey: string): Promise<ScheduleRecord | null> {
    return getSchedule(this.reader, idOrKey);
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return listSchedules(this.reader);
  }

  updateSchedule(schedule: ScheduleRecord): Promise<ScheduleRecord | null> {
    return updateSchedule(this.run, schedule);
  }

  deleteSchedule(id: string): Promise<boolean> {
    return deleteSchedule(this.run, id);
  }

  dueSchedules(now: number, limit: number): Promise<ScheduleRecord[]> {
    return dueSchedules(this.reader, now, limit);
  }

  nextScheduleFireAt(): Promise<number | null> {
    return nextScheduleFireAt(this.reader);
  }

  fireSchedule(firing: ScheduleFiring, now: number): Promise<TaskEvent[] | null> {
    this.claimCursors.enqueued(firing.tasks);
    return this.writes.run(async (tx) => {
      const lastTaskId = firing.tasks.at(-1)?.id ?? null;
      const moved = await tx.query(moveNextFireSql, [firing.scheduleId, firing.expectedNextFireAt, firing.nextFireAt, firing.lastTickMs, lastTaskId, now]);
      if ((moved.rowCount ?? 0) === 0) return null;
      return this.enqueueIn(tx, firing.tasks, now, 24 * 3600 * 1000);
    });
  }

  forgetIdempotencyKeys(before: number): Promise<void> {
    return this.writes.run(async (tx) => {
      await tx.query(forgetKeysSql, [before + tx.skewMs]);
    });
  }

  async countWaiting(): Promise<number> {
    const [row] = await this.read(countWaitingSql);
    return Number(row?.waiting ?? 0);
  }

  async countWaitingByName(): Promise<WaitingCount[]> {
    return (await this.read(countWaitingByNameSql)).map(toWaitingCount);
  }

  claim(requests: readonly ClaimRequest[], now: number, terms: LeaseTerms): Promise<ClaimedAttempt[][]> {
    // The cursors move once the claim has committed: a batch run again (a conflict, a failed write
    // beside it) claims again from where the cursors were.
    let started: Row[] = [];
    let unserved: Array<ClaimRequest | null> = [];
    const oneTrip = requests.every((request) => request.names.every((name) => !this.gatedNames.has(name)));
    return this.writes.run(async (tx) => {
      started = [];
      unserved = [];
      if (tx.oneTrip) return this.claimInOneTrip(tx, requests, now, terms, started, unserved);
      const answers: ClaimedAttempt[][] = [];
      for (const request of requests) {
        const claimed: ClaimedAttempt[] = [];
        await this.claimNames(tx, request.workerId, request.names, request.limit, now, terms, claimed, started);
        answers.push(claimed);
      }
      return answers;
    }, { oneTrip, beside: this.workWaiting }).then(async (answers) => {
      this.workWaiting = requests.some((request, index) => request.limit > 0 && (answers[index]?.length ?? 0) >= request.limit);
      this.claimCursors.claimed(started);
      if (unserved.every((rest) => rest === null)) return answers;
      // The names from a gated one on, now known as gated: the full way, in a commit of its own.
      const asked = unserved.filter((rest): rest is ClaimRequest => rest !== null);
      const more = await this.claim(asked, now, terms);
      let next = 0;
      return answers.map((claimed, index) => (unserved[index] ? [...claimed, ...(more[next++] ?? [])] : claimed));
    });
  }

  /**
   * Each request's plain names in one statement, all sent before the first answer. A request that
   * meets a gated name stops there: the name is remembered as gated, and what the request still
   * asks of it and the names after it is left in `unserved` (null for a request served).
   */
  private async claimInOneTrip(
    tx: Transaction, requests: readonly ClaimRequest[], now: number, terms: LeaseTerms, startedInOrder: Row[], unserved: Array<ClaimRequest | null>,
  ): Promise<ClaimedAttempt[][]> {
    const at = now + tx.skewMs;
    const sent = requests.map((request) => {
      const cursors = this.claimCursors.of(request.names);
      return tx.query(plainClaimInOneTripSql, [
        request.workerId, request.names, request.limit, at, at + terms.leaseMs, terms.deadlineGraceMs, cursors.priorities, cursors.seqs,
      ]);
    });
    const answers: ClaimedAttempt[][] = [];
    for (const [index, request] of requests.entries()) {
      const { rows: answer } = await (sent[index] as (typeof sent)[number]);
      const claimed: ClaimedAttempt[] = [];
      const stoppedAt = this.takePlainClaim(tx, request.workerId, request.names, answer, now, claimed, startedInOrder);
      const left = request.limit - claimed.length;
      if (stoppedAt !== null) this.gatedNames.add(request.names[stoppedAt - 1] ?? "");
      unserved.push(stoppedAt !== null && left > 0 ? { ...request, names: request.names.slice(stoppedAt - 1), limit: left } : null);
      answers.push(claimed);
    }
    return answers;
  }

  /**
   * A plain claim's answer: its started tasks recorded in the names' order, the names before the
   * first gated one known as not gated. Returns that name's 1-based position, null when none is.
   */
  private takePlainClaim(tx: Transaction, workerId: string, names: readonly string[], answer: Row[], now: number, claimed: ClaimedAttempt[], startedInOrder: Row[]): number | null {
    const position = new Map(names.map((name, index) => [name, index]));
    const started = answer.filter((row) => row.id !== null);
    started.sort((a, b) => (position.get(String(a.name)) ?? 0) - (position.get(String(b.name)) ?? 0) || byClaimOrder(a, b));
    recordClaimed(tx, workerId, started, now, claimed);
    startedInOrder.push(...started);
    const stoppedAt = answer[0]?.stopped_at;
    const stop = stoppedAt === null || stoppedAt === undefined ? null : Number(stoppedAt);
    if (this.gatedNames.size > 0) for (const name of names.slice(0, stop === null ? names.length : stop - 1)) this.gatedNames.delete(name);
    return stop;
  }

  /**
   * Up to `limit` tasks of the names, in their order: the plain names up to the first gated one in
   * one statement (plainClaimSql), then the gated name the full way (claimName), then the names
   * after it the same way.
   */
  private async claimNames(
    tx: Transaction, workerId: string, names: readonly string[], limit: number, now: number, terms: LeaseTerms, claimed: ClaimedAttempt[], startedInOrder: Row[],
  ): Promise<void> {
    const at = now + tx.skewMs;
    let rest = names;
    while (rest.length > 0 && claimed.length < limit) {
      const first = rest[0] as string;
      if (this.gatedNames.has(first)) {
        // Known as gated: the plain statement would stop at it and claim nothing.
        await this.claimName(tx, workerId, first, limit - claimed.length, now, terms, claimed);
        rest = rest.slice(1);
        continue;
      }
      const cursors = this.claimCursors.of(rest);
      const { rows: answer } = await tx.query(plainClaimSql, [
        workerId, rest, limit - claimed.length, at, at + terms.leaseMs, terms.deadlineGraceMs, cursors.priorities, cursors.seqs,
      ]);
      const stoppedAt = this.takePlainClaim(tx, workerId, rest, answer, now, claimed, startedInOrder);
      if (stoppedAt === null) return;
      const gated = rest[stoppedAt - 1];
      if (gated !== undefined && claimed.length < limit) await this.claimName(tx, workerId, gated, limit - claimed.length, now, terms, claimed);
      rest = rest.slice(stoppedAt);
    }
  }

  /**
   * Up to `left` tasks of one gated name, within its rate limit: keyed tasks first, then unkeyed
   * ones (see README "Concurrency keys").
   */
  private async claimName(tx: Transaction, workerId: string, name: string, left: number, now: number, terms: LeaseTerms, claimed: ClaimedAttempt[]): Promise<void> {
    // Reads the windows' counts and writes them back: alone among the batch's claims. Its last
    // writes are sent, not awaited, inside the section: the next section's statements run after
    // them on the same connection, a round trip sooner.
    const sent: Array<Promise<unknown>> = [];
    await tx.serially(() => this.claimNameAlone(tx, workerId, name, left, now, terms, claimed, sent));
    await Promise.all(sent);
  }

  private async claimNameAlone(
    tx: Transaction, workerId: string, name: string, left: number, now: number, terms: LeaseTerms, claimed: ClaimedAttempt[], sent: Array<Promise<unknown>>,
  ): Promise<void> {
    const at = now + tx.skewMs;
    const gateAnswer = tx.query(nameGateSql, [name]);
    // Sent with the gate, not after its answer (one round trip for both): the keys for every slot
    // left, of which the first pass takes as many as the gate allows. Keys locked and not taken
    // stay at the front of the turn order; another Scheduler skips them until this commit.
    const firstKeys = tx.query(lockWaitingKeysSql, [name, left]);
    sendAhead(sent, firstKeys);
    const { rows: [gateRow] } = await gateAnswer;
    // Windows are on the Schedulers' clocks, as start times are reported (see rate-gate.ts).
    const rateGate = toRateGate(gateRow, tx.skewMs);
    // As plainClaimSql tells a gated name: the next claim of a name no longer gated is plain again.
    const gated = gateRow?.has_keys === true || (rateGate !== null && (rateGate.maxStarts !== null || (rateGate.throttledUntil ?? -Infinity) > now));
    if (!gated) this.gatedNames.delete(name);
    const gate = new NameGate(rateGate, now);
    const before = claimed.length;
    const keyedCap = gate.keyedCap(left);
    const keyHeldUntil = keyedCap > 0 && gateRow?.has_keys === true ? await claimKeyed(tx, workerId, name, keyedCap, now, terms, claimed, gate.keyRate, sent, firstKeys) : null;
    const keyed = claimed.length - before;
    const unkeyedCap = gate.unkeyedCap(left, keyed);
    if (unkeyedCap > 0) {
      const { rows } = await tx.query(claimSql, [workerId, name, unkeyedCap, at, at + terms.leaseMs, terms.deadlineGraceMs]);
      // RETURNING promises no order; hand tasks out in claim order.
      recordClaimed(tx, workerId, rows.sort(byClaimOrder), now, claimed);
    }
    const unkeyed = claimed.length - before - keyed;
    const counted = gate.counted(keyed, unkeyed);
    if (gate.budget.counted && counted > 0) sendAhead(sent, tx.query(countStartsSql, [name, gate.budget.windowStart, gate.budget.used + counted]));
    // A window, not the queue, ended this claim: look again when it opens.
    const wakeAt = earliest(gate.wakeAt(left, keyed, unkeyed), keyHeldUntil);
    if (wakeAt !== null) this.laterWork.after(name, wakeAt - now);
  }

  complete(ref: AttemptRef, result: Uint8Array, now: number): Promise<TaskEvent | null> {
    return this.writes.runMerged(this.completions, { ref, result, now });
  }

  fail(ref: AttemptRef, failure: AttemptFailure, now: number, backoff: RetryBackoff): Promise<TaskEvent | null> {
    return this.writes.run((tx) => this.failIn(tx, ref, failure, now, backoff));
  }

  private async failIn(tx: Transaction, ref: AttemptRef, failure: AttemptFailure, now: number, backoff: RetryBackoff): Promise<TaskEvent | null> {
    const { rows: [current] } = await tx.query(currentAttemptSql, [ref.taskId, ref.attempt]);
    if (!current) return null;
    freedKeySlot(tx.log, current);
    const attempt = Number(current.attempt);
    // Attempts its upstream deferred (deferRateLimited), and those before a retry (task-actions.ts), do not use up retries.
    const retriesLeft = attempt - Number(current.deferred_attempts ?? 0) <= Number(current.max_retries);
    const base = { taskId: ref.taskId, attempt, percent: Number(current.percent), timestamp: now, workerId: nullableString(current.worker_id), error: failure.error };
    if (failure.retryable && retriesLeft) {
      const delayMs = retryDelayMs(backoff, attempt, Number(current.retry_backoff_ms), this.random());
      const { rows: [row] } = await tx.query(retryLaterSql, [ref.taskId, ref.attempt, failure.error, now + tx.skewMs + delayMs]);
      if (!row) return null;
      const message = `attempt ${attempt} failed; retrying in ${(delayMs / 1000).toFixed(1)}s`;
      return record(tx, { ...base, sequence: Number(row.last_sequence), state: "retrying", message, nextAttemptAt: now + delayMs });
    }
    const { rows: [row] } = await tx.query(failFinallySql, [ref.taskId, ref.attempt, failure.error, now + tx.skewMs]);
    if (!row) return null;
    const why = failure.retryable ? `no retries left after ${attempt} attempt${attempt === 1 ? "" : "s"}` : "the failure is not retryable";
    return record(tx, { ...base, sequence: Number(row.last_sequence), state: "failed", message: `failed: ${why}` });
  }

  progress(ref: AttemptRef, percent: number, message: string, now: number): Promise<TaskEvent | null> {
    return this.writes.run(async (tx) => {
      const { rows: [row] } = await tx.query(progressSql, [ref.taskId, ref.attempt, percent, message]);
      if (!row) return null;
      return record(tx, {
        taskId: ref.taskId, sequence: Number(row.last_sequence), state: "running", attempt: ref.attempt,
        percent, message, timestamp: now, workerId: nullableString(row.worker_id),
      });
    });
  }

  extendLeases(renewals: readonly LeaseRenewal[]): Promise<void> {
    if (renewals.length === 0) return Promise.resolve();
    return this.writes.run(async (tx) => {
      await tx.query(extendLeasesSql, [renewals.map((r) => r.taskId), renewals.map((r) => r.attempt), renewals.map((r) => r.until + tx.skewMs)]);
    });
  }

  expireAttempts(now: number, backoff: RetryBackoff): Promise<ExpiredAttempt[]> {
    return this.writes.run(async (tx) => {
      const { rows } = await tx.query(expiredAttemptsSql, [now + tx.skewMs]);
      const expired: ExpiredAttempt[] = [];
      for (const row of rows) {
        const reason = row.lease_expired === true ? "lease expired" : "deadline passed";
        const ref = { taskId: String(row.id), attempt: Number(row.attempt) };
        const error = reason === "lease expired" ? "the worker stopped renewing its lease" : "the attempt outlived its timeout";
        const event = await this.failIn(tx, ref, { error, retryable: true }, now, backoff);
        if (event) expired.push({ ...ref, name: String(row.name), workerId: nullableString(row.worker_id), reason, event });
      }
      return expired;
    });
  }

  promoteDue(now: number): Promise<string[]> {
    return this.writes.run(async (tx) => {
      const { rows } = await tx.query(promoteDueSql, [now + tx.skewMs, promoteBatch]);
      const due = rows.filter((row) => row.scheduled === true).sort((a, b) => Number(a.seq) - Number(b.seq));
      for (const row of due) {
        record(tx, { taskId: String(row.id), sequence: Number(row.last_sequence), state: "queued", attempt: 0, percent: 0, message: "due", timestamp: now });
      }
      const names = rows.map((row) => String(row.name));
      // Promoted tasks keep their place in the queue, which may be behind a claim cursor.
      this.claimCursors.forget(names);
      for (const name of names) tx.log.workAvailable(name);
      return names;
    });
  }

  async nextDueAt(): Promise<number | null> {
    const skewMs = await this.skewMs();
    const [row] = await this.read(nextDueAtSql);
    return row?.due === null || row?.due === undefined ? null : Number(row.due) - skewMs;
  }

  cancel(taskId: string, reason: string, now: number): Promise<CancelOutcome | null> {
    return this.writes.run(async (tx) => {
      const { rows: [before] } = await tx.query(lockTaskSql, [taskId]);
      if (!before) return null;
      const state = toState(before.state);
      if (isTerminal(state)) return { state, name: String(before.name), cancelled: false, event: null, interrupted: null };
      const { rows: [row] } = await tx.query(cancelSql, [taskId, reason, now + tx.skewMs]);
      return row ? recordCancelled(tx, taskId, before, row, reason, now) : null;
    });
  }

  retry(taskId: string, reason: string, now: number): Promise<RetryOutcome | null> {
    return this.writes.run((tx) => retryTask(tx, this.actionContext, taskId, reason, now));
  }

  retryBatch(batch: ActionBatch, reason: string, now: number): Promise<ActionBatchOutcome> {
    return this.writes.run((tx) => retryBatch(tx, this.actionContext, batch, reason, now));
  }

  cancelBatch(batch: ActionBatch, reason: string, now: number): Promise<CancelBatchOutcome> {
    return this.writes.run((tx) => cancelBatch(tx, batch, reason, now));
  }

  deleteBatch(batch: ActionBatch): Promise<ActionBatchOutcome> {
    return this.writes.run((tx) => deleteBatch(tx, batch));
  }

  private readonly actionContext: PostgresActionContext = { queuedAgain: (names) => this.claimCursors.forget(names) };

  pauseName(name: string, reason: string, now: number): Promise<PauseOutcome> {
    return this.writes.run(async (tx) => {
      const { rows: [row] } = await tx.query(pauseNameSql, [name, reason, now + tx.skewMs]);
      if (!row) throw new Error(`pausing ${name} returned no row`);
      return { paused: toPausedName(row, tx.skewMs), wasPaused: row.fresh !== true };
    });
  }

  resumeName(name: string): Promise<PausedName | null> {
    return this.writes.run(async (tx) => {
      const { rows: [row] } = await tx.query(resumeNameSql, [name]);
      if (!row) return null;
      // Its queued tasks are claimable again: this commit's hint wakes every Scheduler, as an enqueue's does.
      this.claimCursors.forget([name]);
      tx.log.workAvailable(name);
      return toPausedName(row, tx.skewMs);
    });
  }

  async listPausedNames(): Promise<PausedName[]> {
    const skewMs = await this.skewMs();
    return (await this.read(listPausedNamesSql)).map((row) => toPausedName(row, skewMs));
  }

  setConcurrencyLimit(name: string, maxRunning: number, now: number): Promise<ConcurrencyLimit> {
    return setConcurrencyLimit(this.run, name, maxRunning, now);
  }

  clearConcurrencyLimit(name: string): Promise<ConcurrencyLimit | null> {
    return clearConcurrencyLimit(this.run, name);
  }

  async listConcurrencyLimits(): Promise<ConcurrencyLimit[]> {
    return listConcurrencyLimits(this.reader, await this.skewMs());
  }

  setRateLimit(name: string, maxStarts: number, perMs: number, now: number, perKey = false): Promise<RateLimit> {
    return setRateLimit(this.run, name, maxStarts, perMs, now, perKey);
  }

  clearRateLimit(name: string): Promise<RateLimit | null> {
    return clearRateLimit(this.run, name);
  }

  async listRateLimits(): Promise<RateLimit[]> {
    return listRateLimits(this.reader, await this.skewMs());
  }

  handBack(ref: AttemptRef, message: string, now: number): Promise<TaskEvent | null> {
    return this.writes.run((tx) => this.deferIn(tx, ref, now, message, now, false));
  }

  deferRateLimited(ref: AttemptRef, delayMs: number, message: string, now: number): Promise<TaskEvent | null> {
    return this.writes.run((tx) => this.deferIn(tx, ref, now + delayMs, message, now, true));
  }

  /**
   * Ends the attempt without using a retry; the task is due at `nextAttemptAt`. With `holdName` no
   * attempt of its name starts before then, on any Scheduler (a rate-limited upstream), else only
   * this task waits.
   */
  private async deferIn(tx: Transaction, ref: AttemptRef, nextAttemptAt: number, message: string, now: number, holdName: boolean): Promise<TaskEvent | null> {
    const { rows: [row] } = await tx.query(deferAttemptSql, [ref.taskId, ref.attempt, nextAttemptAt + tx.skewMs]);
    if (!row) return null;
    if (holdName) await tx.query(throttleNameSql, [String(row.name), nextAttemptAt + tx.skewMs, now + tx.skewMs]);
    freedKeySlot(tx.log, row);
    return record(tx, {
      taskId: ref.taskId, sequence: Number(row.last_sequence), state: "retrying", attempt: ref.attempt, percent: Number(row.percent),
      message, timestamp: now, workerId: nullableString(row.worker_id), nextAttemptAt,
    });
  }

  async getTask(taskId: string): Promise<TaskRecord | null> {
    const skewMs = await this.skewMs();
    const [row] = await this.read(getTaskSql, [taskId]);
    return row ? toTask(row, skewMs) : null;
  }

  async listTasks(filter: TaskFilter): Promise<TaskPage> {
    return listTasks((text, values) => this.read(text, values), await this.skewMs(), filter);
  }

  async countTasks(selection: TaskSelection): Promise<number> {
    return countTasks((text, values) => this.scan(text, values), await this.skewMs(), selection);
  }

  async taskStats(now: number, minutes: number): Promise<TaskStats> {
    return taskStats((text, values) => this.read(text, values), (text, values) => this.scan(text, values), await this.skewMs(), now, minutes);
  }

  async listEvents(taskId: string, afterSequence: number): Promise<TaskEvent[]> {
    const skewMs = await this.skewMs();
    return (await this.read(listEventsSql, [taskId, afterSequence])).map((row) => toEvent(row, skewMs));
  }

  async readEventsAfter(cursor: string | null, filter: EventFilter, limit: number): Promise<EventsPage> {
    return readEventsAfter((text, values) => this.read(text, values), await this.skewMs(), cursor, filter, limit);
  }

  eventsHead(): Promise<string> {
    return eventsHead((text) => this.read(text));
  }

  acquireLeadership(holder: string, ttlMs: number, now: number): Promise<Leadership> {
    return this.writes.run(async (tx) => {
      const at = now + tx.skewMs;
      const { rows: [row] } = await tx.query(acquireLeadershipSql, [holder, at, ttlMs]);
      const sinceLastRenewalMs = row?.renewed_at === null || row?.renewed_at === undefined ? null : at - Number(row.renewed_at);
      if (row?.taken_term !== null && row?.taken_term !== undefined) return { isLeader: true, term: Number(row.taken_term), holder, sinceLastRenewalMs };
      // Someone else holds it; read who (the statement's snapshot may predate a winner of a race).
      const { rows: [now_] } = await tx.query(readLeadershipSql);
      return { isLeader: false, term: Number(now_?.term ?? 0), holder: nullableString(now_?.holder), sinceLastRenewalMs };
    });
  }

  releaseLeadership(holder: string): Promise<void> {
    return this.writes.run(async (tx) => {
      await tx.query(releaseLeadershipSql, [holder]);
    });
  }

  extendAllLeases(until: number): Promise<number> {
    return this.writes.run(async (tx) => (await tx.query(extendAllLeasesSql, [until + tx.skewMs])).rowCount ?? 0);
  }

  deleteFinished(before: number, limit: number): Promise<number> {
    return this.writes.run(async (tx) => {
      const deleted = Number((await tx.query(deleteFinishedSql, [before + tx.skewMs, limit])).rows[0]?.deleted ?? 0);
      await tx.query(deleteIdleKeysSql, [before + tx.skewMs, limit]);
      return deleted;
    });
  }

  async analyze(): Promise<void> {
    await this.read(analyzeSql);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.laterWork.close();
    await this.writes.drain();
    await this.feed.close();
    await this.pool.end();
  }
}
