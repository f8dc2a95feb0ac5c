// The BullMQ baseline: W1, W1-batch, W2 and W2-hog against BullMQ on Redis, with the producer and
// the worker in processes of their own as our client and worker are, sized as ours (sizes), on a
// fresh queue per run that is obliterated after it, under AOF with appendfsync everysec (redis.ts).
// Figures are named as ours are, so the report divides like by like.
import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { CpuHog } from "../hog.js";
import { drainBoundMs, integrity, spread, type Metrics, type Sizes } from "../scenarios.js";
import { benchDist, NodeProcess } from "../services.js";
import { machineCpuSeconds, ownCpuSeconds, procCpuSeconds, readyPrefix, round, sleep } from "../util.js";
import type { BullClientJob, BullPacedOutcome, BullSubmitOutcome } from "./producer.js";
import { bullJobOptions, redisOptions, withRunDurability, type RedisOptions } from "./redis.js";
import type { BullWorkerJob, BullWorkerOutcome } from "./worker.js";

const producerScript = join(benchDist, "bullmq", "producer.js");
const workerScript = join(benchDist, "bullmq", "worker.js");

/**
 * CPU the rest of the machine used during the measured phase: all busy CPU minus the worker's, the
 * producer's, this process's, the hog's and the Redis server's (reported as redisCpuS).
 */
class BaselineCpu {
  private readonly machine = machineCpuSeconds();
  private readonly own = ownCpuSeconds();
  private readonly started = Date.now();
  private readonly workerBefore: number;
  private readonly redisBefore: number;

  constructor(private readonly worker: NodeProcess, private readonly redisPid: number | undefined) {
    this.workerBefore = worker.cpuSeconds();
    this.redisBefore = redisPid === undefined ? 0 : procCpuSeconds(redisPid);
  }

  /** `children`: whole-life CPU seconds of the children started inside the window (producer, hog). */
  measure(children: number): Metrics {
    const worker = this.worker.cpuSeconds() - this.workerBefore;
    const redis = this.redisPid === undefined ? 0 : procCpuSeconds(this.redisPid) - this.redisBefore;
    const foreign = Math.max(0, machineCpuSeconds() - this.machine - (worker + redis + children + ownCpuSeconds() - this.own));
    const capacity = ((Date.now() - this.started) / 1000) * cpus().length;
    return { workerCpuS: round(worker, 2), redisCpuS: round(redis, 2), otherCpuS: round(foreign, 2), otherCpuPercent: round((100 * foreign) / capacity, 1) };
  }
}

interface BullRun {
  connection: RedisOptions;
  queueName: string;
  queue: Queue;
  worker: NodeProcess;
  redisPid: number | undefined;
}

/**
 * A fresh queue (random name) with one worker process connected to it, under the run's Redis
 * durability; the queue is obliterated, the worker stopped and Redis's settings restored after.
 */
async function withBullRun<T>(concurrency: number, body: (run: BullRun) => Promise<T>): Promise<T> {
  return withRunDurability(async ({ redisPid, onSignal }) => {
    const connection = redisOptions();
    const queueName = `orchestrator-bench-${randomUUID()}`;
    const queue = new Queue(queueName, { connection, defaultJobOptions: bullJobOptions });
    // Ended by a signal: the worker and producer get it too (one process group); the queue is removed.
    onSignal(() => queue.obliterate({ force: true }));
    const job: BullWorkerJob = { connection, queue: queueName, concurrency };
    const worker = new NodeProcess("bullmq worker", workerScript, [JSON.stringify(job)]);
    try {
      await queue.waitUntilReady();
      await worker.waitForLine(readyPrefix, 30_000);
      return await body({ connection, queueName, queue, worker, redisPid });
    } finally {
      await worker.stop();
      await queue.obliterate({ force: true }).catch((error: unknown) => process.stderr.write(`  could not obliterate ${queueName}: ${String(error)}\n`));
      await queue.close();
    }
  });
}

async function runProducer<T>(job: BullClientJob, timeoutMs: number): Promise<T> {
  const child = new NodeProcess("bullmq producer", producerScript, [JSON.stringify(job)]);
  try {
    return await child.result<T>(timeoutMs);
  } finally {
    await child.stop();
  }
}

/** Stops the worker process and returns what it counted (processor calls, a job id seen twice). */
async function stopWorker(worker: NodeProcess): Promise<BullWorkerOutcome> {
  const result = worker.result<BullWorkerOutcome>(30_000);
  const peakRssMb = worker.peakRssMb();
  await worker.stop();
  const outcome = await result;
  return { ...outcome, peakRssMb: Number.isFinite(outcome.peakRssMb) ? outcome.peakRssMb : peakRssMb };
}

async function waitForFinished(queue: Queue, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let finished = 0;
  for (;;) {
    const counts = await queue.getJobCounts("completed", "failed");
    finished = (counts.completed ?? 0) + (counts.failed ?? 0);
    if (finished >= expected || Date.now() > deadline) return finished;
    await sleep(100);
  }
}

interface BullFacts {
  /** Jobs of every state still in the queue. */
  total: number;
  succeeded: number;
  failed: number;
  /** Completed jobs that were started more than once. */
  notFirstAttempt: number;
  minCreatedAt: number;
  maxFinishedAt: number;
}

/** Read back through BullMQ's API: each completed job's timestamp (add), finishedOn and attemptsStarted. */
async function bullFacts(queue: Queue): Promise<BullFacts> {
  const counts = await queue.getJobCounts();
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  const completed = counts.completed ?? 0;
  let minCreatedAt = Number.POSITIVE_INFINITY;
  let maxFinishedAt = Number.NEGATIVE_INFINITY;
  let succeeded = 0;
  let notFirstAttempt = 0;
  const page = 1000;
  for (let start = 0; start < completed; start += page) {
    for (const job of await queue.getJobs(["completed"], start, start + page - 1, true)) {
      succeeded++;
      minCreatedAt = Math.min(minCreatedAt, job.timestamp);
      maxFinishedAt = Math.max(maxFinishedAt, job.finishedOn ?? Number.NaN);
      if ((job.attemptsStarted ?? 1) > 1) notFirstAttempt++;
    }
  }
  return { total, succeeded, failed: counts.failed ?? 0, notFirstAttempt, minCreatedAt, maxFinishedAt };
}

/** Our runs' integrity figures (lost, retried, stored beyond the acknowledged), and what only BullMQ's worker counts. */
function bullIntegrity(facts: BullFacts, acknowledged: number, worker: BullWorkerOutcome): Metrics {
  return { ...integrity(facts, acknowledged), duplicates: worker.duplicates, handled: worker.handled, failedJobs: facts.failed };
}

/** BullMQ's W1 (`queue.add` per job) or W1-batch (`queue.addBulk` of sizes.batchSize): submit and drain rates. */
export function runBullW1(mode: "single" | "bulk", sizes: Sizes): Promise<Metrics> {
  return withBullRun(sizes.w1Slots, async ({ connection, queueName, queue, worker, redisPid }) => {
    const count = sizes.w1Tasks;
    const cpu = new BaselineCpu(worker, redisPid);
    const outcome = await runProducer<BullSubmitOutcome>({
      kind: "submit", connection, queue: queueName, mode, count, concurrency: sizes.w1Concurrency, batchSize: sizes.batchSize, taskName: "noop",
    }, drainBoundMs(count));
    await waitForFinished(queue, outcome.acknowledged, drainBoundMs(count));
    const figures = cpu.measure(outcome.processCpuSeconds);
    const workerPeakRssMb = worker.peakRssMb();
    const counted = await stopWorker(worker);
    const facts = await bullFacts(queue);
    const drainSeconds = (facts.maxFinishedAt - facts.minCreatedAt) / 1000;
    if (outcome.firstError) process.stderr.write(`  first add error: ${outcome.firstError}\n`);
    return {
      submitRate: outcome.submitRate, submitSeconds: outcome.submitSeconds, drainRate: round(facts.succeeded / drainSeconds, 0), drainSeconds: round(drainSeconds),
      errors: outcome.errors + facts.failed, ...bullIntegrity(facts, outcome.acknowledged, counted),
      workerPeakRssMb, clientPeakRssMb: outcome.peakRssMb, clientCpuS: outcome.cpuSeconds, ...figures,
    };
  });
}

/**
 * BullMQ's W2 (and W2-hog: with the CPU hog during the paced window): after the same idle wait as
 * ours, sizes.w2Rate adds per second for sizes.w2Seconds; dispatch = processor start - add start,
 * eventCompletion = QueueEvents 'completed' seen by the producer - add start.
 */
export function runBullW2(sizes: Sizes, { hog = false }: { hog?: boolean } = {}): Promise<Metrics> {
  return withBullRun(sizes.w1Slots, async ({ connection, queueName, queue, worker, redisPid }) => {
    await sleep(sizes.idleWaitMs);
    const workerIdleRssMb = worker.rssMb();
    const cpu = new BaselineCpu(worker, redisPid);
    const cpuHog = hog ? await CpuHog.start() : undefined;
    let outcome: BullPacedOutcome;
    let hogCpuS = 0;
    try {
      outcome = await runProducer<BullPacedOutcome>({
        kind: "paced", connection, queue: queueName, rate: sizes.w2Rate, seconds: sizes.w2Seconds, taskName: "bench-clock",
      }, sizes.w2Seconds * 1000 + 60_000);
    } finally {
      hogCpuS = (await cpuHog?.stop()) ?? 0;
    }
    await waitForFinished(queue, outcome.acknowledged, 10_000);
    const figures = cpu.measure(outcome.processCpuSeconds + hogCpuS);
    const workerPeakRssMb = worker.peakRssMb();
    const counted = await stopWorker(worker);
    const facts = await bullFacts(queue);
    if (outcome.firstError) process.stderr.write(`  first error: ${outcome.firstError}\n`);
    return {
      workerIdleRssMb, ...figures, achievedRate: outcome.achievedRate, maxPacingLagMs: outcome.maxPacingLagMs,
      ...spread("dispatch", outcome.dispatchMs), ...spread("eventCompletion", outcome.eventCompletionMs),
      ...(cpuHog ? { hogCpuS: round(hogCpuS, 2), hogPinned: cpuHog.pinned ? 1 : 0 } : {}),
      errors: outcome.errors + outcome.notCompleted + outcome.duplicateEvents, eventsMissed: outcome.notCompleted, ...bullIntegrity(facts, outcome.acknowledged, counted),
      workerPeakRssMb, clientPeakRssMb: outcome.peakRssMb,
    };
  });
}
