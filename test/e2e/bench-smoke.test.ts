// Keeps `npm run bench` working: its --quick smoke run (tiny N, every workload, on SQLite full and
// on PostgreSQL, with a 2 s horizon hold, and the BullMQ baseline on the machine's Redis) must
// finish, find every task and job run exactly once, print the ratios to BullMQ, leave Redis's
// appendonly/appendfsync as it found them, and write its JSON. The full benchmark is not part of npm test.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot, tempDir } from "../helpers/processes.js";

/** Redis's AOF settings (the baseline changes them for its runs and must put them back). */
async function redisAof(): Promise<string[]> {
  const redis = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    return [...(await redis.config("GET", "appendonly")) as string[], ...(await redis.config("GET", "appendfsync")) as string[]];
  } finally {
    redis.disconnect();
  }
}

const run = promisify(execFile);

describe("npm run bench -- --quick", () => {
  const out = tempDir("orchestrator-bench-");

  afterAll(() => out.remove());

  it("runs every workload and reports no lost, duplicated or retried task", async () => {
    const aofBefore = await redisAof();
    const { stdout } = await run(process.execPath, [join(repoRoot, "bench/dist/main.js"), "--quick", "--modes", "full,postgres", "--horizon-seconds", "2", "--out", out.path], { timeout: 330_000, maxBuffer: 16 * 1024 * 1024 });
    // The baseline ran under AOF everysec and put back what it found.
    expect(await redisAof()).toEqual(aofBefore);
    for (const workload of ["W1", "W1-unary", "W1-batch", "W1-batch-ahead", "W2", "W2-hog", "W3", "Due", "W4", "W4-paced", "W1-history", "W2-history", "Floor", "X-dispatch", "W1-horizon", "Dashboard"]) expect(stdout).toMatch(new RegExp(`^${workload}\\s`, "m"));
    const [file] = readdirSync(out.path).filter((name) => name.endsWith(".json"));
    expect(file).toBeDefined();
    const report = JSON.parse(readFileSync(join(out.path, file ?? ""), "utf8")) as {
      results: Array<{ workload: string; mode: string; median: Record<string, number>; runs: Array<Record<string, number>>; failures: string[] }>;
      baseline?: { system: string; durability: { during: { appendonly: string; appendfsync: string }; found: { appendonly: string; appendfsync: string } } };
    };
    const w1 = report.results.filter((r) => r.workload.startsWith("W1"));
    expect(w1.length).toBeGreaterThanOrEqual(3);
    for (const result of w1) {
      expect(result.median.lost).toBe(0);
      expect(result.median.notFirstAttempt).toBe(0);
      expect(result.median.succeeded).toBe(result.median.acknowledged);
      expect(result.median.unacknowledged).toBe(0);
    }
    // No run, ours or BullMQ's, stored a task beyond those its client saw acknowledged.
    for (const result of report.results) {
      for (const metrics of result.runs) expect(metrics.unacknowledged ?? 0, `${result.workload} ${result.mode}`).toBe(0);
    }
    // The database's cost per task is read around the PostgreSQL W1 run: at least the enqueue commits.
    expect(report.results.find((r) => r.workload === "W1" && r.mode === "postgres")?.median.commitsPerTask).toBeGreaterThan(0);
    // Delayed tasks: every one started, none before its due time.
    for (const due of report.results.filter((r) => r.workload === "Due")) {
      expect(due.median).toMatchObject({ startDelayCount: 500, early: 0, lost: 0 });
    }
    // Concurrency keys: every keyed task ran once.
    for (const keyed of report.results.filter((r) => r.workload === "W4")) {
      expect(keyed.median).toMatchObject({ acknowledged: 2_000, succeeded: 2_000, lost: 0, notFirstAttempt: 0 });
    }
    // A store with history: the run's tasks all ran once, and the readers counted them, not the history's.
    for (const history of report.results.filter((r) => r.workload === "W1-history" || r.workload === "W2-history")) {
      expect(history.median.historyTasks, `${history.workload} ${history.mode}`).toBe(20_000);
      expect(history.median, `${history.workload} ${history.mode}`).toMatchObject({ lost: 0, notFirstAttempt: 0, rows: history.median.acknowledged });
    }
    expect(report.results.filter((r) => r.workload === "W1-history").map((r) => r.median.acknowledged)).toEqual([500, 500]);
    // The BullMQ baseline: each of its workloads ran once, every job once, and the report divides ours by its figures.
    for (const workload of ["W1", "W1-batch", "W2", "W2-hog"]) {
      const bull = report.results.find((r) => r.workload === workload && r.mode === "bullmq");
      expect(bull?.failures, `BullMQ ${workload}`).toEqual([]);
      expect(bull?.median, `BullMQ ${workload}`).toMatchObject({ lost: 0, notFirstAttempt: 0, duplicates: 0, errors: 0 });
      expect(bull?.median.succeeded, `BullMQ ${workload}`).toBe(bull?.median.acknowledged);
    }
    expect(report.results.filter((r) => r.mode === "bullmq" && r.workload.startsWith("W1")).map((r) => r.median.acknowledged)).toEqual([500, 500]);
    for (const w2 of report.results.filter((r) => r.workload.startsWith("W2") && (r.mode === "bullmq" || r.mode === "full"))) {
      // 200 tasks/s for 1 s: every one's dispatch and its completion event measured, on both systems.
      expect(w2.median, `${w2.workload} ${w2.mode}`).toMatchObject({ dispatchCount: 200, eventCompletionCount: 200, eventsMissed: 0 });
    }
    // W2-hops: every task's spans arrived from the three services, and each hop was measured.
    const hops = report.results.filter((r) => r.workload === "W2-hops");
    expect(hops.length).toBeGreaterThan(0);
    for (const traced of hops) {
      expect(traced.median, `W2-hops ${traced.mode}`).toMatchObject({ hopsTraced: 200, hopsMissing: 0, lost: 0 });
      for (const stage of ["ClientToGateway", "GatewayToScheduler", "Commit", "SchedulerToWorker"]) expect(traced.median[`hop${stage}P50`], `${traced.mode} ${stage}`).toBeGreaterThan(0);
    }
    expect(report.baseline?.durability.during).toEqual({ appendonly: "yes", appendfsync: "everysec" });
    expect(report.baseline?.durability.found).toEqual({ appendonly: aofBefore[1], appendfsync: aofBefore[3] });
    for (const mode of ["full", "postgres"]) {
      for (const [workload, metric, target] of [["W1", "drainRate", ">= 1.5"], ["W1-batch", "drainRate", ">= 2.5"], ["W1-batch-ahead", "drainRate with claim-ahead", ">= 2.5"], ["W2", "dispatchP50", "<= 1"], ["W2", "dispatchP99", "<= 1"],
        ["W2", "completionP99 \\(WatchTasks vs QueueEvents\\)", "<= 1.5"], ["W2-hog", "dispatchP99 growth \\(W2-hog / W2\\)", "<= 1"]]) {
        // workload, store, metric, ours, BullMQ, ratio, target, PASS or MISS
        expect(stdout).toMatch(new RegExp(`^${workload}\\s+${mode}\\s+${metric} ours / BullMQ\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+${target} x\\s+(PASS|MISS)`, "m"));
      }
    }
    // The dashboard's overview counted every task of the store, in a real browser.
    for (const dashboard of report.results.filter((r) => r.workload === "Dashboard")) {
      expect(dashboard.median, `Dashboard ${dashboard.mode}`).toMatchObject({ tasksInStore: 20_000, tasksCounted: 20_000, errors: 0 });
      expect(dashboard.median.firstScreenMaxMs).toBeGreaterThan(0);
    }
    const floor = report.results.find((r) => r.workload === "Floor");
    for (const figure of ["streamRttP50", "unaryRttP50", "fsyncP50", "bareNodeRssMb", "bareGrpcServerRssMb"]) expect(floor?.median[figure]).toBeGreaterThan(0);
  }, 360_000);
});
