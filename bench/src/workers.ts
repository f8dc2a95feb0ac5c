// W3's worker host: `node dist/bench/workers.js '<json WorkerHostJob>'` runs many SDK workers
// (Worker) in one process, each with its own connection to the Scheduler. It prints
// `READY <n>` once all are registered and, on SIGINT, `BENCH_RESULT <json>` and exits.
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Worker } from "orchestrator-ts-client/internal";
import { createLogger } from "orchestrator-ts-client/internal";
import { distribution, ownCpuSeconds, procMemoryMb, readyPrefix, resultPrefix, wallNow, type Distribution } from "./util.js";

export interface WorkerHostJob {
  schedulerAddress: string;
  workers: number;
  slots: number;
  /** Where to write "<task id>\t<handler start, wall ms>" lines for the parent to join with the store. */
  startsFile: string;
}

export interface WorkerHostOutcome {
  workers: number;
  handled: number;
  duplicates: number;
  /** Slot turnaround: a slot freed (result queued for the stream) until the next handler start on that worker. */
  turnaroundMs: Distribution;
  processCpuSeconds: number;
  peakRssMb: number;
}

function main(): void {
  const job = JSON.parse(process.argv[2] ?? "{}") as WorkerHostJob;
  const logger = createLogger({ level: "warn", service: "bench-worker" });
  const seen = new Set<string>();
  const turnaround: number[] = [];
  const startLines: string[] = [];
  let handled = 0;
  let duplicates = 0;
  let connected = 0;
  const runtimes: Worker[] = [];
  for (let i = 0; i < job.workers; i++) {
    // Slot-free times not yet followed by a handler start on this worker, oldest first.
    const freed: number[] = [];
    const runtime = new Worker({
      schedulerAddress: job.schedulerAddress,
      slots: job.slots,
      workerId: `bench-worker-${i}`,
      // grpc-js shares one connection among clients of the same target; a local subchannel pool
      // gives each worker a connection of its own, as 100 worker processes would have.
      channelOptions: { "grpc.use_local_subchannel_pool": 1 },
      handlers: {
        noop: (ctx) => {
          const now = performance.now();
          startLines.push(`${ctx.taskId}\t${wallNow()}`);
          const free = freed.shift();
          if (free !== undefined) turnaround.push(now - free);
          handled++;
          if (seen.has(ctx.taskId)) duplicates++;
          else seen.add(ctx.taskId);
          return undefined;
        },
      },
    }, logger);
    runtime.on("attempt-finished", () => freed.push(performance.now()));
    runtime.once("connected", () => {
      connected++;
      if (connected === job.workers) process.stdout.write(`${readyPrefix}${connected}\n`);
    });
    runtimes.push(runtime);
  }
  for (const runtime of runtimes) runtime.start();

  process.once("SIGINT", () => {
    writeFileSync(job.startsFile, startLines.join("\n"));
    const outcome: WorkerHostOutcome = {
      workers: job.workers, handled, duplicates, turnaroundMs: distribution(turnaround),
      processCpuSeconds: ownCpuSeconds(), peakRssMb: procMemoryMb("self", "VmHWM"),
    };
    process.stdout.write(`${resultPrefix}${JSON.stringify(outcome)}\n`);
    void Promise.all(runtimes.map((runtime) => runtime.stop())).finally(() => process.exit(0));
  });
}

main();
