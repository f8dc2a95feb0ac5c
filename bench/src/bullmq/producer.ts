// The BullMQ baseline's client process: `node dist/bench/bullmq/producer.js '<json BullClientJob>'`.
// It runs one workload against a BullMQ queue as our client.ts does against the Gateway, and prints
// `BENCH_RESULT <json>` on stdout.
//   submit/single  W1: one `queue.add` per job, `concurrency` calls in flight
//   submit/bulk    W1-batch: `queue.addBulk` of `batchSize` jobs, `concurrency` calls in flight
//   paced          W2: `rate` adds per second on a fixed timetable; one QueueEvents follows them all
import { Queue, QueueEvents } from "bullmq";
import { distribution, ownCpuSeconds, procMemoryMb, paceStarts, resultPrefix, round, runPool, wallNow, type Distribution } from "../util.js";
import { bullJobOptions, type RedisOptions } from "./redis.js";

export type BullClientJob =
  | { kind: "submit"; connection: RedisOptions; queue: string; mode: "single" | "bulk"; count: number; concurrency: number; batchSize: number; taskName: string }
  | { kind: "paced"; connection: RedisOptions; queue: string; rate: number; seconds: number; taskName: string };

export interface BullSubmitOutcome {
  kind: "submit";
  submitted: number;
  /** Jobs whose add answered (written to Redis by then). */
  acknowledged: number;
  errors: number;
  firstError?: string;
  submitSeconds: number;
  submitRate: number;
  cpuSeconds: number;
  processCpuSeconds: number;
  peakRssMb: number;
}

export interface BullPacedOutcome {
  kind: "paced";
  submitted: number;
  acknowledged: number;
  errors: number;
  firstError?: string;
  /** Added jobs whose 'completed' event did not arrive within 10 s of the last add (failed ones included). */
  notCompleted: number;
  /** 'completed' events for a job id already seen. */
  duplicateEvents: number;
  achievedRate: number;
  maxPacingLagMs: number;
  /** Processor start (its return value) - add call start. */
  dispatchMs: Distribution;
  /** QueueEvents 'completed' seen by this process - add call start. */
  eventCompletionMs: Distribution;
  processCpuSeconds: number;
  peakRssMb: number;
}

class ErrorCounter {
  count = 0;
  first: string | undefined;
  add(error: unknown): void {
    this.count++;
    this.first ??= error instanceof Error ? error.message : String(error);
  }
}

async function runSubmit(job: Extract<BullClientJob, { kind: "submit" }>): Promise<BullSubmitOutcome> {
  const queue = new Queue(job.queue, { connection: job.connection, defaultJobOptions: bullJobOptions });
  await queue.waitUntilReady(); // connect before the clock starts
  const errors = new ErrorCounter();
  let acknowledged = 0;
  const calls = job.mode === "single" ? job.count : Math.ceil(job.count / job.batchSize);
  const submit = job.mode === "single"
    ? async (): Promise<number> => {
      await queue.add(job.taskName, {});
      return 1;
    }
    : async (index: number): Promise<number> => {
      const size = Math.min(job.batchSize, job.count - index * job.batchSize);
      return (await queue.addBulk(Array.from({ length: size }, () => ({ name: job.taskName, data: {} })))).length;
    };
  const cpu = process.cpuUsage();
  const first = wallNow();
  await runPool(calls, job.concurrency, async (index) => {
    try {
      // Not `acknowledged += await ...`: that reads the count before the await and loses the other lanes' adds.
      const accepted = await submit(index);
      acknowledged += accepted;
    } catch (error) {
      errors.add(error);
    }
  });
  const last = wallNow();
  const used = process.cpuUsage(cpu);
  await queue.close();
  const seconds = (last - first) / 1000;
  return {
    kind: "submit", submitted: job.count, acknowledged, errors: errors.count, firstError: errors.first,
    submitSeconds: round(seconds), submitRate: round(job.count / seconds, 0), cpuSeconds: round((used.user + used.system) / 1e6, 2),
    processCpuSeconds: ownCpuSeconds(), peakRssMb: procMemoryMb("self", "VmHWM"),
  };
}

async function runPaced(job: Extract<BullClientJob, { kind: "paced" }>): Promise<BullPacedOutcome> {
  const queue = new Queue(job.queue, { connection: job.connection, defaultJobOptions: bullJobOptions });
  // The queue is new: reading its event stream from the start misses nothing, even an event that
  // would come before the first XREAD of "$" (new events only, QueueEvents' default).
  const events = new QueueEvents(job.queue, { connection: job.connection, lastEventId: "0-0" });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const errors = new ErrorCounter();
  const addedAt = new Map<string, number>();
  const completed = new Map<string, { seen: number; started: number }>();
  let duplicateEvents = 0;
  events.on("completed", ({ jobId, returnvalue }) => {
    const seen = wallNow();
    if (completed.has(jobId)) duplicateEvents++;
    else completed.set(jobId, { seen, started: Number(returnvalue) });
  });
  events.on("error", (error) => errors.add(error));
  const total = Math.round(job.rate * job.seconds);
  let acknowledged = 0;
  const one = async (): Promise<void> => {
    const start = wallNow();
    try {
      const added = await queue.add(job.taskName, {});
      if (added.id === undefined) throw new Error("queue.add returned a job without an id");
      addedAt.set(added.id, start);
      acknowledged++;
    } catch (error) {
      errors.add(error);
    }
  };
  const paced = await paceStarts(total, job.rate, () => one());
  const deadline = wallNow() + 10_000;
  while ([...addedAt.keys()].some((id) => !completed.has(id)) && wallNow() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const dispatch: number[] = [];
  const completion: number[] = [];
  let notCompleted = 0;
  for (const [id, start] of addedAt) {
    const done = completed.get(id);
    if (!done) {
      notCompleted++;
      continue;
    }
    dispatch.push(done.started - start);
    completion.push(done.seen - start);
  }
  await Promise.all([events.close(), queue.close()]);
  return {
    kind: "paced", submitted: total, acknowledged, errors: errors.count, firstError: errors.first, notCompleted, duplicateEvents,
    ...paced,
    dispatchMs: distribution(dispatch), eventCompletionMs: distribution(completion), processCpuSeconds: ownCpuSeconds(), peakRssMb: procMemoryMb("self", "VmHWM"),
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as BullClientJob;
  const outcome = job.kind === "submit" ? await runSubmit(job) : await runPaced(job);
  process.stdout.write(`${resultPrefix}${JSON.stringify(outcome)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
