import type pg from "pg";
import { CommitLog } from "../signals.js";
import { prepared } from "./driver.js";
import { isConnectionError, isRetryableConflict } from "./result-codes.js";

/** What a write runs its statements on: the batch's transaction, and the skew it was opened with. */
export interface Transaction {
  query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Database time minus the caller's clock for this batch (see PostgresStore). */
  readonly skewMs: number;
  readonly log: CommitLog;
  /**
   * The batch goes out in one round trip (every write in it is a one-trip write, see
   * MergeableWrite.oneTrip): each write sends its one statement, which stores what it records.
   */
  readonly oneTrip: boolean;
  /**
   * Runs `section` once the sections of this transaction started before it have ended. The writes
   * of a batch interleave their later statements (see GroupCommit.runTogether): a write that reads
   * rows and writes back what it computed from them (a rate limit's count) does so in a section,
   * or two such writes in one batch both read the count before either writes it.
   */
  serially<T>(section: () => Promise<T>): Promise<T>;
}

export type Write<T> = (tx: Transaction) => Promise<T>;

/**
 * A kind of write whose consecutive calls in a batch can run as one statement (multi-row, over
 * arrays): `runMany` answers one result per input, in order, exactly as running each alone in
 * that order would. If it throws, the batch is run again with each write alone.
 */
export interface MergeableWrite<I, T> {
  runMany(tx: Transaction, inputs: I[]): Promise<T[]>;
  /**
   * True when the write of this input can go out in one round trip: in a batch with `tx.oneTrip`
   * it sends one statement before its first await, that statement stores the events the write
   * records (and sends the hint of any work it frees), and the work it makes available by itself
   * is recorded before that first await. A batch of such writes alone sends BEGIN, the writes, the
   * batch's own last statement and COMMIT at once, without waiting for any answer.
   */
  oneTrip?(input: I): boolean;
}

export interface WriteOptions {
  /** See MergeableWrite.oneTrip. */
  oneTrip?: boolean;
  /**
   * A write worth a commit of its own beside the batches in flight (a claim while work is
   * waiting): its batch starts at once instead of after them (see batchesAtOnce).
   */
  beside?: boolean;
}

interface PendingWrite {
  /** Writes of the same non-null kind next to each other run together. */
  kind: MergeableWrite<unknown, unknown> | null;
  /** See MergeableWrite.oneTrip. */
  oneTrip: boolean;
  /** See WriteOptions.beside. */
  beside: boolean;
  input: unknown;
  runMany(tx: Transaction, inputs: unknown[]): Promise<unknown[]>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/** Consecutive writes of one kind, run as one call: their answers, in order. */
interface Run {
  answers: Promise<unknown[]>;
  writes: number;
}

interface Outcome {
  ok: boolean;
  value: unknown;
}

export interface GroupCommitHooks {
  /** The skew to run the next batch with. */
  skew(): Promise<number>;
  /**
   * Runs last in each transaction that is about to commit: stores what the log recorded (events)
   * and sends the hint. It must send every statement before it returns (before its first await):
   * COMMIT is sent right behind them, without waiting for their answers. In a one-trip batch
   * (tx.oneTrip) it runs before any write's answer, right after the writes' statements were sent.
   */
  finish(tx: Transaction): Promise<void>;
  /**
   * After the commit, before any write's promise resolves: what the committed writes recorded, and
   * how long the batch took from taking its connection to its COMMIT (ms, for the metrics).
   */
  committed(recorded: ReturnType<CommitLog["take"]>, durationMs: number): void;
  /** Turns a failed write's error into what its caller gets. */
  errorFrom(error: unknown): unknown;
}

/** How often a batch that lost a deadlock or serialization conflict is run again before failing. */
const conflictRetries = 4;

/**
 * Group commit on PostgreSQL: the writes asked for during one turn of the event loop run in one
 * transaction on one pooled connection, their first statements in call order (see runTogether),
 * and commit together; writes asked for while a batch is in flight form the next batch (so under
 * load a commit carries many writes). No promise resolves before its write has committed.
 *
 * A batch that carries a write asked to go `beside` (a claim while work is waiting) may start while
 * other batches are in flight, up to `batchesAtOnce`, each on its own connection: the Scheduler
 * never sends two writes of one task before the first has answered, and claims skip the task and
 * key rows another transaction has locked, so the batches commit independently, as two
 * Schedulers' batches do. A claim of a rate-limited name waits for the name's row another batch
 * holds, as it would behind another Scheduler's; a deadlock between them (an enqueue's key row
 * against a claim's) is run again whole, as between Schedulers. A batch without such a write waits
 * until none is in flight. Batches report (the committed hook, then their writes' promises) in the
 * order they started, whatever order they commit in.
 *
 * A failing write fails alone: the batch runs first without savepoints; if a write throws, the
 * transaction is rolled back and the batch run again with a savepoint around each write (writes
 * are functions of their inputs, so running one again is safe). A batch that loses a deadlock or
 * serialization conflict against another Scheduler's transaction is run again whole.
 */
export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  /** Batches committing now, each on its own connection. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Settles once the last batch started has reported its outcome: the next one reports after it. */
  private lastReport: Promise<void> = Promise.resolve();
  /** Transactions committed and writes they carried, since the start (what a write costs the database). */
  readonly stats = { commits: 0, writes: 0 };

  /** False: no batch goes out in one trip (the finish hook cannot end one: its hints do not travel by NOTIFY). */
  private readonly oneTripAllowed: boolean;
  /** Batches that may commit at once, each on its own connection. */
  private readonly batchesAtOnce: number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly hooks: GroupCommitHooks,
    options: { oneTrip?: boolean; batchesAtOnce?: number } = {},
  ) {
    this.oneTripAllowed = options.oneTrip ?? true;
    this.batchesAtOnce = options.batchesAtOnce ?? 1;
  }

  run<T>(write: Write<T>, options: WriteOptions = {}): Promise<T> {
    return this.enqueueWrite(null, write, async (tx) => [await write(tx)], options.oneTrip ?? false, options.beside ?? false);
  }

  /** A write of a mergeable kind: see MergeableWrite. */
  runMerged<I, T>(kind: MergeableWrite<I, T>, input: I): Promise<T> {
    const runMany = (tx: Transaction, inputs: unknown[]): Promise<unknown[]> => kind.runMany(tx, inputs as I[]);
    return this.enqueueWrite(kind as MergeableWrite<unknown, unknown>, input, runMany, kind.oneTrip?.(input) ?? false);
  }

  private enqueueWrite<T>(kind: PendingWrite["kind"], input: unknown, runMany: PendingWrite["runMany"], oneTrip = false, beside = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ kind, input, oneTrip, beside, runMany, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Starts a batch at the end of this turn, so that every write asked for in it joins. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.start());
  }

  /** Resolves once every write asked for so far has committed or failed. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0 || this.pending.length > 0) {
      if (this.inFlight.size === 0) this.start();
      await Promise.all(this.inFlight);
    }
  }

  private start(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    if (this.inFlight.size > 0) {
      if (this.inFlight.size >= this.batchesAtOnce) return;
      // Writes that can wait join the next batch after those in flight: a commit of their own beside
      // them costs the database more than the wait saves (W2 on PostgreSQL: dispatch p50 and p99 up
      // by about a third when every batch started at once).
      if (!this.pending.some((write) => write.beside)) return;
    }
    const batch = this.pending;
    this.pending = [];
    const reportAfter = this.lastReport;
    let reported!: () => void;
    this.lastReport = new Promise<void>((resolve) => { reported = resolve; });
    const committing: Promise<void> = this.commit(batch, reportAfter).finally(() => {
      reported();
      this.inFlight.delete(committing);
      // Callers of a committed write often write again straight away (the dispatcher claims for the
      // slots a completion freed, the next round of a full claim), a few promise hops later: the end
      // of this turn lets those join the next batch instead of forming one of their own (W1 on
      // PostgreSQL: 0.13 commits per task instead of 0.21, and a faster drain).
      if (this.pending.length > 0) this.schedule();
    });
    this.inFlight.add(committing);
  }

  /** Runs the batch, then reports its outcome once every batch started before it has reported. */
  private async commit(batch: PendingWrite[], reportAfter: Promise<void>): Promise<void> {
    const log = new CommitLog();
    let outcomes: Outcome[] | null = null;
    let failure: unknown = null;
    let durationMs = 0;
    try {
      const skewMs = await this.hooks.skew();
      const client = await this.pool.connect();
      const startedAt = performance.now();
      let broken: Error | undefined;
      try {
        outcomes = await this.runWithRetries(client, log, batch, skewMs);
        durationMs = performance.now() - startedAt;
      } catch (error) {
        // A connection that failed mid-transaction is not given back to the pool for reuse.
        broken = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        client.release(broken);
      }
    } catch (error) {
      failure = error;
    }
    await reportAfter;
    if (outcomes === null) {
      const reason = this.hooks.errorFrom(failure);
      for (const write of batch) write.reject(reason);
      return;
    }
    this.stats.commits += 1;
    this.stats.writes += batch.length;
    this.hooks.committed(log.take(), durationMs);
    outcomes.forEach((outcome, index) => {
      const write = batch[index];
      if (!write) return;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(this.hooks.errorFrom(outcome.value));
    });
  }

  private async runWithRetries(client: pg.PoolClient, log: CommitLog, batch: PendingWrite[], skewMs: number): Promise<Outcome[]> {
    let savepoints = false;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.runOnce(client, log, batch, skewMs, savepoints);
      } catch (error) {
        if (isRetryableConflict(error) && attempt < conflictRetries) continue;
        if (savepoints || isConnectionError(error) || (error as { batchFailed?: boolean }).batchFailed) throw error;
        // Some write threw: run the batch again, each write in its own savepoint.
        savepoints = true;
      }
    }
  }

  private async runOnce(client: pg.PoolClient, log: CommitLog, batch: PendingWrite[], skewMs: number, savepoints: boolean): Promise<Outcome[]> {
    log.clear();
    const oneTrip = this.oneTripAllowed && !savepoints && batch.every((write) => write.oneTrip);
    let commitSent = false;
    let sections: Promise<unknown> = Promise.resolve();
    const tx: Transaction = {
      query: (text, values) => {
        // A one-trip write that sent a second statement would run it after COMMIT, outside the batch.
        if (commitSent) return Promise.reject(new Error("a one-trip write sent a statement after its batch's COMMIT"));
        return client.query(prepared(text, values));
      },
      skewMs, log, oneTrip,
      serially: (section) => {
        const ended = sections.then(section);
        sections = ended.catch(() => undefined);
        return ended;
      },
    };
    // The connection is pipelined: BEGIN goes out with the first write's statement, one round trip
    // for both (a W1 commit took five: BEGIN, claim, completion, events, COMMIT). Its failure fails
    // that statement too, and is seen there.
    const begin = client.query("BEGIN");
    begin.catch(() => undefined);
    try {
      if (oneTrip) {
        return await this.runInOneTrip(client, tx, begin, batch, () => {
          commitSent = true;
        });
      }
      const outcomes = savepoints ? await this.runEachAlone(client, tx, batch) : await this.runTogether(tx, batch);
      await begin;
      // Answers of writes sent together are handled as they come, a write's events recorded a few
      // promise hops after its answer: a task's events may be recorded out of their order.
      if (!savepoints) log.orderEachTask();
      const finished = this.finishBatch(tx);
      // Sent behind the batch's last statements, not after their answers. If one of them fails,
      // the transaction is aborted and this COMMIT only ends it (PostgreSQL answers ROLLBACK).
      const committed = sendCommit(client);
      await finished;
      await committed;
      return outcomes;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /**
   * Every run of writes of one kind is started before the answers to the runs before it: each
   * sends its first statement at once, so the batch's statements go out together and run in call
   * order (an enqueue before the claim after it), one round trip for all of them (a W1 commit's
   * completions and claim took one each). A write's further statements, sent once its first one
   * has answered, run after the later writes' first ones: the Scheduler does not depend on their
   * order (see StoreSignals). A failed write aborts the transaction, so the writes after it fail
   * too; the first failure in call order is the batch's, and it is run again each write alone.
   */
  private runTogether(tx: Transaction, batch: PendingWrite[]): Promise<Outcome[]> {
    return this.settleRuns(this.startRuns(tx, batch));
  }

  /** Starts each run of writes of one kind, as one call, without waiting for any answer. */
  private startRuns(tx: Transaction, batch: PendingWrite[]): Run[] {
    const runs: Run[] = [];
    for (let index = 0; index < batch.length;) {
      const write = batch[index] as PendingWrite;
      let end = index + 1;
      while (write.kind !== null && end < batch.length && batch[end]?.kind === write.kind) end += 1;
      runs.push({ answers: write.runMany(tx, batch.slice(index, end).map((pending) => pending.input)), writes: end - index });
      index = end;
    }
    return runs;
  }

  private async settleRuns(runs: Run[]): Promise<Outcome[]> {
    // Every write settled before the batch fails: none may still send statements, or record
    // events, into the transaction that runs the batch again.
    const settled = await Promise.allSettled(runs.map((run) => run.answers));
    const outcomes: Outcome[] = [];
    for (const run of settled) {
      if (run.status === "rejected") throw run.reason;
      for (const value of run.value) outcomes.push({ ok: true, value });
    }
    return outcomes;
  }

  /**
   * A batch of one-trip writes (submits, completions, claims; see MergeableWrite.oneTrip): BEGIN,
   * the writes, the batch's own last statement and COMMIT all go out at once, one round trip for
   * the commit (two before). If a statement fails, the transaction is aborted and the COMMIT only
   * ends it: the batch is run again each write alone. If the COMMIT commits, the batch stands:
   * a write that threw after its statement succeeded (a bug) fails alone, its statement committed.
   */
  private async runInOneTrip(client: pg.PoolClient, tx: Transaction, begin: Promise<unknown>, batch: PendingWrite[], sealed: () => void): Promise<Outcome[]> {
    const runs = this.startRuns(tx, batch);
    const finished = this.finishBatch(tx);
    const committed = sendCommit(client);
    sealed();
    finished.catch(() => undefined);
    const settled = await Promise.allSettled(runs.map((run) => run.answers));
    const commitFailure = await committed.then(() => null, (error: unknown) => error);
    if (commitFailure !== null) {
      // Rolled back: the first failure in call order is the batch's (a failing write is run again alone).
      for (const run of settled) if (run.status === "rejected") throw run.reason;
      await begin;
      await finished;
      throw commitFailure;
    }
    // Recorded as the answers were handled (the statements stored them in call order).
    tx.log.orderEachTask();
    const outcomes: Outcome[] = [];
    settled.forEach((run, index) => {
      if (run.status === "fulfilled") for (const value of run.value) outcomes.push({ ok: true, value });
      else for (let count = runs[index]?.writes ?? 0; count > 0; count--) outcomes.push({ ok: false, value: run.reason });
    });
    return outcomes;
  }

  /** Each write in a savepoint of its own, one after the other: a failing write fails alone. */
  private async runEachAlone(client: pg.PoolClient, tx: Transaction, batch: PendingWrite[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (const write of batch) {
      const mark = tx.log.mark();
      await client.query("SAVEPOINT write");
      try {
        const [value] = await write.runMany(tx, [write.input]);
        await client.query("RELEASE SAVEPOINT write");
        outcomes.push({ ok: true, value });
      } catch (error) {
        // A conflict aborts the transaction; the whole batch is run again.
        if (isRetryableConflict(error)) throw error;
        await client.query("ROLLBACK TO SAVEPOINT write");
        tx.log.rollbackTo(mark);
        outcomes.push({ ok: false, value: error });
      }
    }
    return outcomes;
  }

  /**
   * The batch's own statements failing (not a write's) fails the whole batch at once. Not async:
   * the hook's statements are sent before this returns.
   */
  private finishBatch(tx: Transaction): Promise<void> {
    return this.hooks.finish(tx).catch((error: unknown) => {
      if (typeof error === "object" && error !== null && !isRetryableConflict(error)) Object.assign(error, { batchFailed: true });
      throw error;
    });
  }
}

/**
 * Sends COMMIT; rejects (batchFailed) unless PostgreSQL answers COMMIT. Behind an aborted
 * transaction it only ends it, and PostgreSQL answers ROLLBACK.
 */
function sendCommit(client: pg.PoolClient): Promise<void> {
  const committed = client.query("COMMIT").then((answer) => {
    if (answer.command !== "COMMIT") throw Object.assign(new Error("the commit batch was rolled back"), { batchFailed: true });
  });
  committed.catch(() => undefined);
  return committed;
}
