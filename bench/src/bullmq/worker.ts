// The BullMQ baseline's worker process: `node dist/bench/bullmq/worker.js '<json BullWorkerJob>'`.
// One BullMQ Worker with `concurrency` (as our worker process has slots), whose processor does
// nothing but return its start time (wall-clock ms, as our bench-clock handler does). It prints
// `READY 1` once connected and, on SIGINT, `BENCH_RESULT <json>` and exits.
import { Worker } from "bullmq";
import { ownCpuSeconds, procMemoryMb, readyPrefix, resultPrefix, wallNow } from "../util.js";
import type { RedisOptions } from "./redis.js";

export interface BullWorkerJob {
  connection: RedisOptions;
  queue: string;
  concurrency: number;
}

export interface BullWorkerOutcome {
  /** Processor calls. */
  handled: number;
  /** Processor calls for a job id already seen (a job run twice). */
  duplicates: number;
  processCpuSeconds: number;
  peakRssMb: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as BullWorkerJob;
  const seen = new Set<string>();
  let handled = 0;
  let duplicates = 0;
  const worker = new Worker(job.queue, (bullJob) => {
    const start = wallNow();
    handled++;
    const id = bullJob.id ?? "";
    if (seen.has(id)) duplicates++;
    else seen.add(id);
    return Promise.resolve(start);
  }, { connection: job.connection, concurrency: job.concurrency });
  worker.on("error", (error) => process.stderr.write(`bullmq worker error: ${error.message}\n`));
  process.once("SIGINT", () => {
    const outcome: BullWorkerOutcome = { handled, duplicates, processCpuSeconds: ownCpuSeconds(), peakRssMb: procMemoryMb("self", "VmHWM") };
    process.stdout.write(`${resultPrefix}${JSON.stringify(outcome)}\n`);
    void worker.close().finally(() => process.exit(0));
  });
  await worker.waitUntilReady();
  process.stdout.write(`${readyPrefix}1\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
