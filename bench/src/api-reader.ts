// The ground truth of a run, read through the Gateway's public API with the project's own SDK, as
// any user of the orchestrator would read it: drain rates and "no task lost or duplicated" come
// from what ListTasks and CountTasks answer, on whichever store the deployment runs. The bench
// writes its preloaded history straight into the store (history.ts) and reads PostgreSQL's own
// cost counters directly (postgres.ts), but never the run's tasks.
import { isTerminal, OrchestratorClient, type TaskInfo } from "orchestrator-ts-client";
import { sleep } from "./util.js";

export interface StoreFacts {
  total: number;
  succeeded: number;
  /** Tasks whose attempt is not exactly 1 (a retry, or a task never started). */
  notFirstAttempt: number;
  /** The extremes over the run's tasks, Unix ms on the Scheduler's clock; NaN when no task has one. */
  minCreatedAt: number;
  minStartedAt: number;
  maxFinishedAt: number;
}

/** A read-only view of one run's tasks, whichever store holds them. */
export interface StoreView {
  /**
   * Polls until `expected` of the run's tasks have succeeded or `timeoutMs` passes (every
   * `intervalMs`, at least 100 ms apart); returns the last count taken.
   */
  waitForSucceeded(expected: number, timeoutMs: number, intervalMs?: number): Promise<number>;
  /** Each task's started_at (the Scheduler's clock when the current attempt was claimed, whole ms). */
  startedAt(): Promise<Map<string, number>>;
  /** Of each delayed task (run_at set): started_at - run_at, in ms. */
  startDelays(): Promise<number[]>;
  facts(): Promise<StoreFacts>;
  /** The tasks created from `createdFromMs` on (a later round of the same run), over the same connection. */
  since(createdFromMs: number): StoreView;
  /**
   * Calls so far that read the store (list pages, counts), by this view and those made from it. On
   * PostgreSQL each is one transaction of the Scheduler's, which the cost per task leaves out.
   */
  readonly storeReads: number;
  close(): Promise<void>;
}

/** The Gateway's largest ListTasks page (limits.pageSize.max in packages/server/src/scheduler/limits.ts). */
const largestPage = 1000;

/** Between two polls of waitForSucceeded by default: each one takes a little of the database's time while the drain is measured. */
const defaultPollMs = 250;

/**
 * The run's tasks are those created at or after `createdFromMs`, taken after the deployment has
 * started and before anything was submitted. That bound is exact: the preloaded history
 * (history.ts) was created a day before the run (W1-history, W2-history) or up to the moment it
 * was written (Dashboard), both before the Scheduler started; and the run's first submit comes at
 * least a child process's start-up (tens of ms) after the bound, far beyond the Scheduler's
 * estimate of its skew to PostgreSQL's clock (a millisecond on loopback).
 *
 * Listing stays fast however large the history: ListTasks pages newest first by seq (each store's
 * primary key), and the history's seqs are all below the run's (it is written before the
 * Scheduler starts), so the run's tasks come first and the listing stops at the first task created
 * before the bound. The pages are asked for without a filter on purpose: with createdAfterMs the
 * store, having no index on created_at, would read through the whole history looking for more
 * rows to fill the run's last page.
 */
export class ApiStoreView implements StoreView {
  /** `reads` is shared with the views made by since(); only the view that connected closes the client. */
  private constructor(
    private readonly client: OrchestratorClient, private readonly createdFromMs: number, private readonly reads: { count: number }, private readonly ownsClient: boolean,
  ) {}

  /** A view of the tasks created from `createdFromMs` on, through the Gateway at `gatewayAddress` (no API key, no TLS: as the bench deploys it). */
  static connect(gatewayAddress: string, createdFromMs: number): ApiStoreView {
    return new ApiStoreView(new OrchestratorClient({ address: gatewayAddress, timeoutMs: 60_000, pipeline: false }), createdFromMs, { count: 0 }, true);
  }

  since(createdFromMs: number): ApiStoreView {
    return new ApiStoreView(this.client, createdFromMs, this.reads, false);
  }

  get storeReads(): number {
    return this.reads.count;
  }

  /**
   * CountTasks reads every row of the store on PostgreSQL (a million with W1-history; and each
   * row's dead versions while W1-horizon holds the horizon), so it is not what the polls during the
   * drain ask. They read the newest task instead (one row, through the primary key): the run drains
   * in submit order, so its newest task finishes about last, and only once it is terminal is the
   * succeeded tasks counted, which alone decides. The drain rate comes from the tasks' finished_at,
   * not from when this returns.
   */
  async waitForSucceeded(expected: number, timeoutMs: number, intervalMs = defaultPollMs): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.newestIsTerminal()) {
        const succeeded = await this.countSucceeded();
        if (succeeded >= expected) return succeeded;
      }
      await sleep(Math.max(100, intervalMs));
    }
    return this.countSucceeded();
  }

  private async newestIsTerminal(): Promise<boolean> {
    this.reads.count++;
    const [newest] = (await this.client.list({ pageSize: 1 })).tasks;
    return newest === undefined || newest.createdAt.getTime() < this.createdFromMs || isTerminal(newest.state);
  }

  private async countSucceeded(): Promise<number> {
    this.reads.count++;
    return this.client.countTasks({ states: ["succeeded"], createdAfter: this.createdFromMs });
  }

  /** The run's tasks, newest first, a page at a time (see the class comment for where it stops). */
  private async *tasks(): AsyncGenerator<TaskInfo> {
    let pageToken: string | undefined;
    do {
      this.reads.count++;
      const page = await this.client.list({ pageSize: largestPage, ...(pageToken ? { pageToken } : {}) });
      for (const task of page.tasks) {
        if (task.createdAt.getTime() < this.createdFromMs) return;
        yield task;
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  async startedAt(): Promise<Map<string, number>> {
    const started = new Map<string, number>();
    for await (const task of this.tasks()) {
      if (task.startedAt) started.set(task.taskId, task.startedAt.getTime());
    }
    return started;
  }

  async startDelays(): Promise<number[]> {
    const delays: number[] = [];
    for await (const task of this.tasks()) {
      if (task.runAt && task.startedAt) delays.push(task.startedAt.getTime() - task.runAt.getTime());
    }
    return delays;
  }

  async facts(): Promise<StoreFacts> {
    const facts: StoreFacts = { total: 0, succeeded: 0, notFirstAttempt: 0, minCreatedAt: Number.NaN, minStartedAt: Number.NaN, maxFinishedAt: Number.NaN };
    // NaN-safe extremes: a comparison with NaN is false, so the first value replaces it.
    const lower = (current: number, value: number): number => (value < current || Number.isNaN(current) ? value : current);
    const higher = (current: number, value: number): number => (value > current || Number.isNaN(current) ? value : current);
    for await (const task of this.tasks()) {
      facts.total++;
      if (task.state === "succeeded") facts.succeeded++;
      if (task.attempt !== 1) facts.notFirstAttempt++;
      facts.minCreatedAt = lower(facts.minCreatedAt, task.createdAt.getTime());
      if (task.startedAt) facts.minStartedAt = lower(facts.minStartedAt, task.startedAt.getTime());
      if (task.finishedAt) facts.maxFinishedAt = higher(facts.maxFinishedAt, task.finishedAt.getTime());
    }
    return facts;
  }

  close(): Promise<void> {
    if (this.ownsClient) this.client.close();
    return Promise.resolve();
  }
}
