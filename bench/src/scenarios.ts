// One run of each workload against a fresh three-process deployment. Every run returns flat
// metrics (numbers); main.ts takes the median of each over the runs.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import type { ClientJob, KeyedLoad, PacedOutcome, SubmitMode, SubmitOutcome } from "./client.js";
import { ApiStoreView, type StoreFacts, type StoreView } from "./api-reader.js";
import { SpanReceiver } from "./hops.js";
import { costBetween, PostgresCounters, readCounters, type DatabaseCounters } from "./postgres.js";
import { CpuHog } from "./hog.js";
import { Deployment, benchDist, NodeProcess, type StoreMode } from "./services.js";
import type { WorkerHostJob, WorkerHostOutcome } from "./workers.js";
import { distribution, establishedConnectionsTo, machineCpuSeconds, ownCpuSeconds, postgresCpuSeconds, readyPrefix, round, sleep, type Distribution } from "./util.js";

export type Metrics = Record<string, number>;

export interface Sizes {
  w1Tasks: number;
  w1Concurrency: number;
  w1Slots: number;
  /** W1-batch-ahead: the worker's --prefetch (claim-ahead). */
  w1Prefetch: number;
  batchSize: number;
  w2Rate: number;
  w2Seconds: number;
  w3Tasks: number;
  w3Workers: number;
  w3Slots: number;
  w3FillConcurrency: number;
  idleWaitMs: number;
  /** Cross-Scheduler dispatch: tasks per second, one at a time, for this long. */
  crossRate: number;
  crossSeconds: number;
  /** Due: delayed tasks coming due evenly over dueSpanMs, the first dueLeadMs after the submits start. */
  dueTasks: number;
  dueSpanMs: number;
  dueLeadMs: number;
  /** Vacuum horizon: how long the transaction is held open (and each variant loaded). */
  horizonSeconds: number;
  /** Vacuum horizon: tasks per W1-like round, rounds repeated until the hold ends. */
  horizonRoundTasks: number;
  /** W4: tasks spread over this many concurrency keys, each bound to w4BoundPerKey running at once. */
  w4Tasks: number;
  w4Keys: number;
  w4BoundPerKey: number;
  /** W1-history, W2-history: finished tasks in the store before the run. */
  historyTasks: number;
  /** Dashboard: tasks in the store (mixed names and states) when the page is opened. */
  dashboardTasks: number;
}

export const fullSizes: Sizes = {
  w1Tasks: 20_000, w1Concurrency: 64, w1Slots: 32, w1Prefetch: 224, batchSize: 500, w2Rate: 200, w2Seconds: 10,
  w3Tasks: 100_000, w3Workers: 100, w3Slots: 10, w3FillConcurrency: 4, idleWaitMs: 2500,
  crossRate: 20, crossSeconds: 10, horizonSeconds: 120, horizonRoundTasks: 5_000,
  dueTasks: 10_000, dueSpanMs: 10_000, dueLeadMs: 5_000,
  w4Tasks: 100_000, w4Keys: 10_000, w4BoundPerKey: 2, historyTasks: 1_000_000, dashboardTasks: 1_000_000,
};

export const quickSizes: Sizes = {
  w1Tasks: 500, w1Concurrency: 64, w1Slots: 32, w1Prefetch: 224, batchSize: 100, w2Rate: 200, w2Seconds: 1,
  w3Tasks: 2_000, w3Workers: 10, w3Slots: 10, w3FillConcurrency: 4, idleWaitMs: 2000,
  crossRate: 20, crossSeconds: 5, horizonSeconds: 20, horizonRoundTasks: 2_000,
  dueTasks: 500, dueSpanMs: 2_000, dueLeadMs: 2_000,
  w4Tasks: 2_000, w4Keys: 200, w4BoundPerKey: 2, historyTasks: 20_000, dashboardTasks: 20_000,
};

const clientScript = join(benchDist, "client.js");
const workerHostScript = join(benchDist, "workers.js");

/** How long to wait for `count` tasks to finish: generous, but a stall fails the run instead of hanging it. */
export function drainBoundMs(count: number): number {
  return 60_000 + count * 2;
}

export async function runClient<T>(job: ClientJob, timeoutMs: number): Promise<T> {
  const child = new NodeProcess("client", clientScript, [JSON.stringify(job)]);
  try {
    return await child.result<T>(timeoutMs);
  } finally {
    await child.stop();
  }
}

export function spread(prefix: string, value: Distribution): Metrics {
  return { [`${prefix}P50`]: value.p50, [`${prefix}P95`]: value.p95, [`${prefix}P99`]: value.p99, [`${prefix}Max`]: value.max, [`${prefix}Count`]: value.count };
}

/**
 * lost: acknowledged tasks that did not succeed (a failed call's tasks are counted under errors, not
 * here); notFirstAttempt: rows that needed a second attempt (a duplicate dispatch) or never started;
 * unacknowledged: rows beyond the acknowledged tasks (a submit that stored a task twice).
 */
export function integrity(facts: Pick<StoreFacts, "total" | "succeeded" | "notFirstAttempt">, acknowledged: number): Metrics {
  const succeeded = facts.succeeded;
  return {
    rows: facts.total, acknowledged, succeeded, lost: Math.max(0, acknowledged - succeeded), notFirstAttempt: facts.notFirstAttempt,
    unacknowledged: Math.max(0, facts.total - acknowledged),
  };
}

/**
 * CPU the rest of the machine used during a measured phase: all busy CPU minus what the services,
 * the client or worker-host children and this process used. Anything well above zero means
 * something else ran meanwhile (someone's tests) and the run's figures are skewed. On PostgreSQL
 * the database server's processes work for the run too: their CPU is reported as databaseCpuS and
 * not counted as other (someone else's queries on the same server would hide in it).
 */
export class ForeignCpu {
  private readonly machine = machineCpuSeconds();
  private readonly own = ownCpuSeconds();
  private readonly started = Date.now();
  private readonly services: number[];
  private readonly database: Map<number, number> | undefined;

  constructor(private readonly deployment: Deployment) {
    this.services = deployment.services().map((service) => service.cpuSeconds());
    this.database = deployment.schema ? postgresCpuSeconds() : undefined;
  }

  /** `children`: whole-life CPU seconds of the children started inside the window. */
  measure(children: number): Metrics {
    const services = this.deployment.services().reduce((sum, service, index) => sum + service.cpuSeconds() - (this.services[index] ?? 0), 0);
    let database = 0;
    if (this.database) {
      for (const [pid, seconds] of postgresCpuSeconds()) database += seconds - (this.database.get(pid) ?? 0);
    }
    const ours = services + children + database + (ownCpuSeconds() - this.own);
    const foreign = Math.max(0, machineCpuSeconds() - this.machine - ours);
    const capacity = ((Date.now() - this.started) / 1000) * cpus().length;
    const figures: Metrics = { otherCpuS: round(foreign, 2), otherCpuPercent: round((100 * foreign) / capacity, 1) };
    if (this.database) figures.databaseCpuS = round(database, 2);
    return figures;
  }
}

/**
 * Starts a deployment, runs `body` with a view of the run's tasks through the Gateway's API, and
 * always tears it down. The run's tasks are those created from the moment the deployment is up:
 * any preloaded history was created before (see ApiStoreView).
 */
export async function withDeployment<T>(deployment: Deployment, body: (reader: StoreView) => Promise<T>): Promise<T> {
  let reader: StoreView | undefined;
  try {
    await deployment.start();
    reader = ApiStoreView.connect(deployment.gatewayAddress, Date.now());
    return await body(reader);
  } finally {
    await reader?.close();
    await deployment.stop();
  }
}

/**
 * PostgreSQL: the database's commits and rows written per task since `before`. The Scheduler is
 * stopped first, so that its connections report their last counts as they close (an idle
 * connection would hold them for about 10 s); the schema is still there to be read.
 */
async function databaseCost(deployment: Deployment, counters: PostgresCounters, reader: StoreView, before: DatabaseCounters, tasks: number): Promise<Metrics> {
  await deployment.stopServices();
  await sleep(1000);
  const cost = costBetween(before, await readCounters(counters, reader.storeReads), tasks);
  return {
    commitsPerTask: round(cost.commitsPerTask, 4), rowsWrittenPerTask: round(cost.rowsWrittenPerTask, 2), databaseCommits: cost.commits,
    benchStatements: cost.benchStatements, sharedDatabase: counters.schema.sharedDatabase ? 1 : 0,
  };
}

/**
 * What a workload adds to W1 or W2: concurrency keys (W4, W4-paced), a store with history
 * (W1-history, W2-history), or a CPU hog pinned to one core during the paced window (W2-hog).
 */
export interface Variant {
  keyed?: boolean;
  /** W1-batch-ahead: the worker holds this many tasks beyond its slots (claim-ahead). */
  prefetch?: number;
  history?: boolean;
  hog?: boolean;
  /** W2-hops: every process traced, the dispatch latency split into its hops (see hops.ts). */
  hops?: boolean;
}

/**
 * W1: N tasks, up to `concurrency` requests in flight, one worker process; submit and drain rates.
 * W4 is W1 with sizes.w4Tasks tasks over sizes.w4Keys concurrency keys, each bound to w4BoundPerKey;
 * W1-history is W1 on a store holding sizes.historyTasks finished tasks.
 */
export function runW1(mode: SubmitMode, store: StoreMode, sizes: Sizes, profileDir?: string, { keyed = false, history = false, prefetch = 0 }: Variant = {}): Promise<Metrics> {
  const deployment = new Deployment({ store, workerSlots: sizes.w1Slots, workerPrefetch: prefetch, profileDir, ...(history ? { history: sizes.historyTasks } : {}) });
  return withDeployment(deployment, async (reader) => {
    const count = keyed ? sizes.w4Tasks : sizes.w1Tasks;
    const keys: KeyedLoad = keyed ? { keys: sizes.w4Keys, boundPerKey: sizes.w4BoundPerKey } : {};
    const services = deployment.services();
    const postgres = deployment.schema ? new PostgresCounters(deployment.schema) : undefined;
    try {
      // Taken just around the load: other sessions' commits on the same database count as well.
      const countersBefore = postgres ? await readCounters(postgres, reader.storeReads) : undefined;
      const cpuBefore = services.map((service) => service.cpuSeconds());
      const foreign = new ForeignCpu(deployment);
      const outcome = await runClient<SubmitOutcome>({
        kind: "submit", address: deployment.gatewayAddress, mode, count, concurrency: sizes.w1Concurrency, batchSize: sizes.batchSize, taskName: "noop", ...keys,
      }, drainBoundMs(count));
      await reader.waitForSucceeded(outcome.acknowledged, drainBoundMs(count));
      const cpu: Metrics = { clientCpuS: outcome.cpuSeconds, ...foreign.measure(outcome.processCpuSeconds) };
      services.forEach((service, index) => {
        cpu[`${service.command}CpuS`] = round(service.cpuSeconds() - (cpuBefore[index] ?? 0), 2);
      });
      const facts = await reader.facts();
      const drainSeconds = (facts.maxFinishedAt - facts.minCreatedAt) / 1000;
      if (outcome.firstError) process.stderr.write(`  first submit error: ${outcome.firstError}\n`);
      const metrics: Metrics = {
        submitRate: outcome.submitRate, submitSeconds: outcome.submitSeconds,
        drainRate: round(facts.succeeded / drainSeconds, 0), drainSeconds: round(drainSeconds), errors: outcome.errors, ...integrity(facts, outcome.acknowledged),
        schedulerPeakRssMb: deployment.scheduler.peakRssMb(), gatewayPeakRssMb: deployment.gateway.peakRssMb(),
        workerPeakRssMb: deployment.worker?.peakRssMb() ?? Number.NaN, clientPeakRssMb: outcome.peakRssMb, ...cpu,
        ...(history ? { historyTasks: deployment.historySeq } : {}),
      };
      if (postgres && countersBefore) Object.assign(metrics, await databaseCost(deployment, postgres, reader, countersBefore, Math.max(1, facts.succeeded)));
      return metrics;
    } finally {
      await postgres?.close();
    }
  });
}

/**
 * Idle RSS after start-up, then W2: a steady paced load on an idle, connected worker; latencies.
 * W4-paced is W2 with each task on one of sizes.w4Keys keys, each bound to w4BoundPerKey: the
 * dispatch latency of a keyed claim. W2-history is W2 on a store holding sizes.historyTasks
 * finished tasks: the claim's latency with history.
 */
export async function runW2(store: StoreMode, sizes: Sizes, { keyed = false, history = false, hog = false, hops = false }: Variant = {}): Promise<Metrics> {
  const spans = hops ? await SpanReceiver.start() : undefined;
  const deployment = new Deployment({
    store, workerSlots: sizes.w1Slots, ...(history ? { history: sizes.historyTasks } : {}), ...(spans ? { serviceEnv: spans.serviceEnv() } : {}),
  });
  try {
    return await withDeployment(deployment, (reader) => measureW2(deployment, reader, sizes, { keyed, history, hog }, spans));
  } finally {
    await spans?.close();
  }
}

async function measureW2(deployment: Deployment, reader: StoreView, sizes: Sizes, { keyed, history, hog }: Variant, spans: SpanReceiver | undefined): Promise<Metrics> {
  await sleep(sizes.idleWaitMs);
  const idle = {
    schedulerIdleRssMb: deployment.scheduler.rssMb(), gatewayIdleRssMb: deployment.gateway.rssMb(), workerIdleRssMb: deployment.worker?.rssMb() ?? Number.NaN,
  };
  const foreign = new ForeignCpu(deployment);
  const cpuHog = hog ? await CpuHog.start() : undefined;
  let outcome: PacedOutcome;
  let hogCpuS = 0;
  try {
    outcome = await runClient<PacedOutcome>({
      kind: "paced", address: deployment.gatewayAddress, rate: sizes.w2Rate, seconds: sizes.w2Seconds, taskName: "bench-clock", traced: spans !== undefined,
      ...(keyed ? { keys: sizes.w4Keys, boundPerKey: sizes.w4BoundPerKey } : {}),
    }, sizes.w2Seconds * 1000 + 60_000);
  } finally {
    hogCpuS = (await cpuHog?.stop()) ?? 0;
  }
  await reader.waitForSucceeded(outcome.acknowledged, 10_000);
  if (outcome.firstError) process.stderr.write(`  first error: ${outcome.firstError}\n`);
  const metrics: Metrics = {
    // The hog's CPU is the run's own, not other work on the machine.
    ...idle, ...foreign.measure(outcome.processCpuSeconds + hogCpuS), achievedRate: outcome.achievedRate, maxPacingLagMs: outcome.maxPacingLagMs,
    ...spread("dispatch", outcome.dispatchMs), ...spread("eventCompletion", outcome.eventCompletionMs),
    ...(cpuHog ? { hogCpuS: round(hogCpuS, 2), hogPinned: cpuHog.pinned ? 1 : 0 } : {}),
    errors: outcome.errors + outcome.notSucceeded + outcome.eventsMissed, eventsMissed: outcome.eventsMissed, ...integrity(await reader.facts(), outcome.acknowledged),
    schedulerPeakRssMb: deployment.scheduler.peakRssMb(), gatewayPeakRssMb: deployment.gateway.peakRssMb(),
    workerPeakRssMb: deployment.worker?.peakRssMb() ?? Number.NaN, ...(history ? { historyTasks: deployment.historySeq } : {}),
  };
  if (spans) {
    // Each service sends its spans as it stops.
    await deployment.stopServices();
    Object.assign(metrics, spans.breakdown((outcome.tasks ?? []).map(([taskId, submitStart, handlerStart]) => ({ taskId, submitStart, handlerStart }))));
  }
  return metrics;
}

/** Handler start (worker host's clock) minus the Scheduler's started_at for the same task. */
async function claimToStart(startsFile: string, reader: StoreView): Promise<Distribution> {
  const startedAt = await reader.startedAt();
  const values: number[] = [];
  for (const line of readFileSync(startsFile, "utf8").split("\n")) {
    const [taskId, start] = line.split("\t");
    const claimed = taskId ? startedAt.get(taskId) : undefined;
    if (claimed !== undefined) values.push(Number(start) - claimed);
  }
  return distribution(values);
}

/**
 * W3: N tasks queued (submitMany) before any worker connects, then one process hosting many
 * workers, each on its own connection, drains them. Dispatch is measured as slot turnaround.
 */
export function runW3(store: StoreMode, sizes: Sizes): Promise<Metrics> {
  const deployment = new Deployment({ store, workerSlots: 0 });
  return withDeployment(deployment, async (reader) => {
    const count = sizes.w3Tasks;
    const fill = await runClient<SubmitOutcome>({
      kind: "submit", address: deployment.gatewayAddress, mode: "batch", count, concurrency: sizes.w3FillConcurrency, batchSize: sizes.batchSize, taskName: "noop",
    }, drainBoundMs(count));
    if (fill.errors > 0) throw new Error(`W3: ${fill.errors} submit batches failed: ${fill.firstError}`);
    const baseline = establishedConnectionsTo(deployment.scheduler.port);
    const startsFile = join(deployment.dataDir, "handler-starts.tsv");
    const job: WorkerHostJob = { schedulerAddress: deployment.schedulerAddress, workers: sizes.w3Workers, slots: sizes.w3Slots, startsFile };
    const foreign = new ForeignCpu(deployment);
    const host = new NodeProcess("worker host", workerHostScript, [JSON.stringify(job)]);
    try {
      await host.waitForLine(readyPrefix, 60_000);
      const connections = establishedConnectionsTo(deployment.scheduler.port) - baseline;
      await reader.waitForSucceeded(count, drainBoundMs(count));
      const result = host.result<WorkerHostOutcome>(30_000);
      await host.stop();
      const outcome = await result;
      const other = foreign.measure(outcome.processCpuSeconds);
      const facts = await reader.facts();
      const drainSeconds = (facts.maxFinishedAt - facts.minStartedAt) / 1000;
      return {
        fillRate: fill.submitRate, fillSeconds: fill.submitSeconds, drainRate: round((facts.succeeded) / drainSeconds, 0), drainSeconds: round(drainSeconds),
        workers: outcome.workers, connections, handled: outcome.handled, duplicates: outcome.duplicates, ...spread("turnaround", outcome.turnaroundMs),
        ...spread("claimToStart", await claimToStart(startsFile, reader)),
        errors: fill.errors, ...integrity(facts, fill.acknowledged),
        schedulerPeakRssMb: deployment.scheduler.peakRssMb(), gatewayPeakRssMb: deployment.gateway.peakRssMb(), workerHostPeakRssMb: outcome.peakRssMb, ...other,
      };
    } finally {
      await host.stop();
    }
  });
}

/**
 * Due: dueTasks delayed tasks (run_at_ms) submitted in batches, coming due evenly over dueSpanMs
 * from dueLeadMs after the submits start; each task's start delay is the Scheduler's start of its
 * attempt minus its due time. fillLateMs > 0 means the submits had not finished when the first task
 * came due (lengthen dueLeadMs).
 */
export function runDue(store: StoreMode, sizes: Sizes): Promise<Metrics> {
  const deployment = new Deployment({ store, workerSlots: sizes.w1Slots });
  return withDeployment(deployment, async (reader) => {
    const count = sizes.dueTasks;
    const dueFromMs = Date.now() + sizes.dueLeadMs;
    const foreign = new ForeignCpu(deployment);
    const fill = await runClient<SubmitOutcome>({
      kind: "submit", address: deployment.gatewayAddress, mode: "batch", count, concurrency: 4, batchSize: sizes.batchSize, taskName: "noop",
      dueFromMs, dueSpanMs: sizes.dueSpanMs,
    }, drainBoundMs(count) + sizes.dueLeadMs);
    if (fill.errors > 0) throw new Error(`Due: ${fill.errors} submit batches failed: ${fill.firstError}`);
    await reader.waitForSucceeded(fill.acknowledged, drainBoundMs(count) + sizes.dueLeadMs + sizes.dueSpanMs);
    const delays = await reader.startDelays();
    return {
      fillSeconds: fill.submitSeconds, fillLateMs: Math.max(0, round(fill.lastAckMs - dueFromMs)), ...spread("startDelay", distribution(delays)),
      // Started before its due time: never expected (the Scheduler's clock and the client's are one here).
      early: delays.filter((delay) => delay < 0).length,
      ...foreign.measure(fill.processCpuSeconds), ...integrity(await reader.facts(), fill.acknowledged),
      schedulerPeakRssMb: deployment.scheduler.peakRssMb(),
    };
  });
}
