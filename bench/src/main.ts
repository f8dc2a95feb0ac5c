// `npm run bench`: throughput, latency, scale and memory of the deployment, on the embedded SQLite
// store and on PostgreSQL, side by side in the same run.
//
//   npm run bench                        W1, W1-unary, W1-batch, W1-batch-ahead, W2, W2-hog, W2-hops, Due, W4, W4-paced, W1-history, W2-history on every store (SQLite full and
//                                        normal, PostgreSQL), W3 (SQLite full), the floor (bare gRPC
//                                        round trips, fsync), X-dispatch and W1-horizon (PostgreSQL only),
//                                        3 runs each (W1-horizon once: a 2-minute hold is long enough);
//                                        W1, W1-batch, W2 and W2-hog on BullMQ too (the baseline, below)
//   npm run bench -- --runs 5            more runs per figure (each figure is the median)
//   npm run bench -- --quick             a small smoke run (small N, one run, a 20 s horizon hold)
//   npm run bench -- --only w1,w2 --modes full
//   npm run bench -- --only w1,w2,x-dispatch --modes full,postgres     PostgreSQL vs SQLite only
//   npm run bench -- --only w1-horizon --horizon-seconds 30
//   npm run bench -- --profile           W1 once per variant with the services under node --cpu-prof
//   npm run bench -- --retry-skewed 10   on a shared machine: measure again (up to 10 times in all) any
//                                        run during which other processes used > 5% of the CPUs
//   npm run bench -- --no-baseline       without the BullMQ baseline (same as --baseline none)
//
// The BullMQ baseline (--baseline bullmq, the default; bench/src/bullmq/): W1, W1-batch, W2 and
// W2-hog also run against BullMQ on the Redis at ORCHESTRATOR_BENCH_REDIS_URL (default
// redis://127.0.0.1:6379), in the same run: for each run index, our stores' runs and BullMQ's
// alternate in order (odd runs ours first, even runs BullMQ first), so both see the same phase of
// the machine. BullMQ's producer and worker are processes of their own, as our client and worker
// are; the worker has our worker's concurrency (32); completed jobs are kept (BullMQ's default,
// as our store keeps finished tasks). Each BullMQ run sets Redis to appendonly yes + appendfsync
// everysec (waiting out the AOF rewrite that starts) and puts back what it found after, also on an
// error or SIGINT. The report gives W1 and W1-batch drain, W2 dispatch p50/p99 and W2 completion
// p99 (ours through WatchTasks, BullMQ's through QueueEvents) as ratios of ours to BullMQ's, per
// store, and W2-hog: W2 with a busy-loop process pinned to core 0 (taskset) during the paced
// window, each system's dispatch p99 growth over its own W2 (ours must grow no more than BullMQ's).
// W2-hog's growth is over W2 of the same run, so select both: the comparison alone is
//   npm run bench -- --only w1,w1-batch,w2,w2-hog --modes full,postgres
// and `--no-baseline` (or `--baseline none`) runs our side alone.
//
// Stores (--modes): full, normal = the embedded SQLite file with --sqlite-synchronous full / normal;
// postgres = `--store postgres://...?schema=<fresh schema>` in the database named by
// ORCHESTRATOR_BENCH_POSTGRES_URL's server (default postgres://root@127.0.0.1:5432/test), in a
// database of its own (or the URL's, if the user may not create one), created before each run and
// dropped after. With postgres and a SQLite mode in one run, the report
// gives W1's drain and W2's dispatch p99 as PostgreSQL / SQLite ratios, and W1's database cost
// (commits and rows written per task, from pg_stat_database / pg_stat_user_tables).
// W4: W1 with 100,000 tasks over 10,000 concurrency keys, the name bound to 2 running per key
// (2,000 over 200 with --quick): drain rate, as a ratio to W1's in the same run (target >= 0.5).
// W4-paced: W2 with each task on one of those keys: dispatch p99 as a ratio to W2's (target <= 2).
// W1-history, W2-history: W1 and W2 on a store holding 1,000,000 finished tasks and their events
// (20,000 with --quick), written before its Scheduler starts: drain rate and dispatch p99 as ratios
// to W1's and W2's on an empty store in the same run (targets >= 0.9 and <= 1.1).
// Dashboard: the Gateway's web dashboard opened in Debian's Chromium (playwright-core) on a store holding
// 1,000,000 tasks over ten names and four states (20,000 with --quick): time until the overview's
// first screen shows every name's counts, cold and warm (target: the slowest load <= 1 s).
// W2-hops: W2 with every process traced (OpenTelemetry, spans held until the services stop): the
// dispatch latency split into its hops, p50/p99 each (bench/src/hops.ts).
// Due: 10,000 delayed tasks (run_at_ms) coming due evenly over 10 s; start delay = the attempt's
// start minus the due time, p50/p99 (500 over 2 s with --quick).
// PostgreSQL-only workloads (run when postgres is among the modes, or named in --only):
//   X-dispatch   two Schedulers on one schema, the Gateway on A, the only worker on B; tasks one at a
//                time; submit -> handler start p50/p99
//   W1-horizon   W1 rounds for --horizon-seconds (env ORCHESTRATOR_BENCH_HORIZON_SECONDS; default
//                120, 20 with --quick) without, then with, a REPEATABLE READ transaction held open
//                (one that took an xid, one that only read): drain rate vs the baseline
//
// Results go to bench-results/<timestamp>.json; the table with PASS/MISS goes to stdout.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatProfile, summariseProfileDir, type ProfileSummary } from "./profile.js";
import { runCrossDispatch, runHorizon } from "./postgres-scenarios.js";
import { benchPostgresUrl } from "./postgres.js";
import { createRequire } from "node:module";
import { runBullW1, runBullW2 } from "./bullmq/scenarios.js";
import { bullJobOptions, lastDurability, redisLabel, runAof } from "./bullmq/redis.js";
import { baselineWorkloads, evaluateTargets, formatReport, integrityProblems, medianOf, postgresOnlyWorkloads, type RunMode, type ScenarioResult, type Workload } from "./report.js";
import { runDashboardLoad } from "./dashboard.js";
import { runFloor } from "./floor.js";
import { fullSizes, quickSizes, runDue, runW1, runW2, runW3, type Metrics, type Sizes } from "./scenarios.js";
import { storeModes, type StoreMode } from "./services.js";
import { describeMachine, loadAverage, machineBusyPercent, sleep } from "./util.js";

/** A run during which the rest of the machine used more than this share of the CPUs is skewed. */
const skewedAbovePercent = 5;

interface Plan {
  runs: number;
  /** --runs as given (undefined: the default for the size). */
  runsGiven: number | undefined;
  quick: boolean;
  workloads: Workload[];
  modes: StoreMode[];
  w3Modes: StoreMode[];
  profile: boolean;
  /** Runs to repeat, in all, because other work on the machine used CPU meanwhile. */
  retrySkewed: number;
  /** BullMQ on Redis alongside ours for the baselineWorkloads, or none. */
  baseline: "bullmq" | "none";
  outDir: string;
  sizes: Sizes;
}

const allWorkloads: Workload[] = ["W1", "W1-unary", "W1-batch", "W1-batch-ahead", "W2", "W2-hog", "W2-hops", "W3", "Due", "W4", "W4-paced", "W1-history", "W2-history", "Floor", "X-dispatch", "W1-horizon", "Dashboard"];

function list<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T[], what: string): T[] {
  if (value === undefined) return fallback;
  const items = value.split(",").map((item) => item.trim()).filter(Boolean);
  const chosen = items.map((item) => allowed.find((candidate) => candidate.toLowerCase() === item.toLowerCase()));
  const unknown = items.filter((_, index) => chosen[index] === undefined);
  if (unknown.length > 0) throw new Error(`unknown ${what}: ${unknown.join(", ")} (choose from ${allowed.join(", ")})`);
  return chosen.filter((item): item is T => item !== undefined);
}

function parsePlan(argv: string[]): Plan {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string" },
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      modes: { type: "string" },
      "w3-modes": { type: "string" },
      profile: { type: "boolean", default: false },
      "retry-skewed": { type: "string", default: "0" },
      "horizon-seconds": { type: "string" },
      baseline: { type: "string", default: "bullmq" },
      "no-baseline": { type: "boolean", default: false },
      out: { type: "string", default: "bench-results" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: npm run bench -- [--runs N] [--quick] [--only w1,w1-unary,w1-batch,w2,w2-hog,w2-hops,w3,due,w4,w4-paced,w1-history,w2-history,floor,x-dispatch,w1-horizon,dashboard] [--modes full,normal,postgres] [--w3-modes full] [--horizon-seconds S] [--profile] [--retry-skewed N] [--baseline bullmq|none] [--no-baseline] [--out dir]\n`);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const runs = values.runs === undefined ? (quick ? 1 : 3) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive whole number, got ${values.runs}`);
  const modes = list<StoreMode>(values.modes, storeModes, [...storeModes], "mode");
  // Without postgres among the modes, the PostgreSQL-only workloads run only when named.
  const defaultWorkloads = modes.includes("postgres") ? allWorkloads : allWorkloads.filter((workload) => !postgresOnlyWorkloads.includes(workload));
  const sizes = quick ? quickSizes : fullSizes;
  const horizon = values["horizon-seconds"] ?? process.env.ORCHESTRATOR_BENCH_HORIZON_SECONDS;
  const horizonSeconds = horizon === undefined ? sizes.horizonSeconds : Number(horizon);
  if (!(horizonSeconds > 0)) throw new Error(`--horizon-seconds must be a positive number, got ${horizon}`);
  const baseline = values["no-baseline"] ? "none" : values.baseline;
  if (baseline !== "bullmq" && baseline !== "none") throw new Error(`--baseline must be bullmq or none, got ${baseline}`);
  return {
    runs, runsGiven: values.runs === undefined ? undefined : runs, quick,
    workloads: list(values.only, allWorkloads, defaultWorkloads, "workload"),
    modes,
    w3Modes: list<StoreMode>(values["w3-modes"], storeModes, [modes[0] ?? "full"], "mode"),
    profile: values.profile ?? false,
    retrySkewed: Math.max(0, Number(values["retry-skewed"]) || 0),
    baseline,
    outDir: resolve(values.out ?? "bench-results"),
    sizes: { ...sizes, horizonSeconds },
  };
}

/** One run of a workload on the BullMQ baseline. */
function runBaselineOnce(workload: Workload, sizes: Sizes): Promise<Metrics> {
  switch (workload) {
    case "W1": return runBullW1("single", sizes);
    case "W1-batch": return runBullW1("bulk", sizes);
    case "W2": return runBullW2(sizes);
    case "W2-hog": return runBullW2(sizes, { hog: true });
    default: return Promise.reject(new Error(`${workload} has no BullMQ baseline`));
  }
}

function runOnce(workload: Workload, mode: RunMode, sizes: Sizes): Promise<Metrics> {
  if (mode === "bullmq") return runBaselineOnce(workload, sizes);
  switch (workload) {
    case "W1": return runW1("sdk", mode, sizes);
    case "W1-unary": return runW1("unary", mode, sizes);
    case "W1-batch": return runW1("batch", mode, sizes);
    case "W1-batch-ahead": return runW1("batch", mode, sizes, undefined, { prefetch: sizes.w1Prefetch });
    case "W2": return runW2(mode, sizes);
    case "W2-hog": return runW2(mode, sizes, { hog: true });
    case "W2-hops": return runW2(mode, sizes, { hops: true });
    case "W3": return runW3(mode, sizes);
    case "Due": return runDue(mode, sizes);
    case "W4": return runW1("sdk", mode, sizes, undefined, { keyed: true });
    case "W4-paced": return runW2(mode, sizes, { keyed: true });
    case "W1-history": return runW1("sdk", mode, sizes, undefined, { history: true });
    case "W2-history": return runW2(mode, sizes, { history: true });
    case "Floor": return runFloor(Math.max(1, sizes.w2Seconds / 2), sizes.idleWaitMs);
    case "X-dispatch": return runCrossDispatch(sizes);
    case "W1-horizon": return runHorizon(sizes);
    case "Dashboard": return runDashboardLoad(mode, sizes);
  }
}

function progressLine(workload: Workload, metrics: Metrics): string {
  const pick = (key: string): string => `${key}=${metrics[key]}`;
  const keys = workload === "Floor" ? ["streamRttP50", "streamRttP99", "unaryRttP50", "unaryRttP99", "fsyncP50", "fsyncP99"]
    : workload === "W2" || workload === "W2-hog" || workload === "W2-hops" || workload === "W4-paced" || workload === "W2-history" || workload === "X-dispatch"
      ? ["dispatchP50", "dispatchP99", "eventCompletionP99", "achievedRate", "lost", "errors"]
    : workload === "W1-horizon" ? ["baselineDrainRate", "xidDrainRate", "xidEndRatio", "snapshotDrainRate", "snapshotEndRatio", "lost", "errors"]
    : workload === "Dashboard" ? ["firstScreenColdMs", "firstScreenWarmP50Ms", "firstScreenMaxMs", "tasksCounted", "errors"]
    : workload === "Due" ? ["startDelayP50", "startDelayP99", "startDelayMax", "early", "fillLateMs", "lost"]
    : workload === "W3" ? ["fillRate", "drainRate", "turnaroundP99", "claimToStartP99", "connections", "schedulerPeakRssMb", "lost", "duplicates"]
      : ["submitRate", "drainRate", "schedulerPeakRssMb", "lost", "notFirstAttempt", "errors", ...(metrics.commitsPerTask === undefined ? [] : ["commitsPerTask", "rowsWrittenPerTask"])];
  // A figure the run does not have (BullMQ has no Scheduler) is left out.
  const line = [...keys, ...(workload === "Floor" ? [] : ["otherCpuPercent"])].filter((key) => metrics[key] !== undefined).map(pick).join(" ");
  return (metrics.otherCpuPercent ?? 0) > 5 ? `${line}  (skewed: something else used CPU meanwhile)` : line;
}

async function runBenchmark(plan: Plan): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const workload of plan.workloads) {
    const modes = workload === "W3" ? plan.w3Modes : workload === "Floor" ? plan.modes.slice(0, 1)
      : postgresOnlyWorkloads.includes(workload) ? ["postgres" as const] : plan.modes;
    // A horizon run holds its transaction for minutes: one is enough unless asked for more.
    const runs = workload === "W1-horizon" && plan.runsGiven === undefined ? 1 : plan.runs;
    const withBaseline = plan.baseline === "bullmq" && baselineWorkloads.includes(workload);
    const byMode = [...modes, ...(withBaseline ? ["bullmq" as const] : [])].map((mode): ScenarioResult => ({ workload, mode, runs: [], median: {}, failures: [], skewedRuns: [] }));
    results.push(...byMode);
    // The modes' runs alternate (full, postgres, full, postgres, ...), so a ratio between two stores
    // is measured over the same stretch of the machine's drift (a VM's speed wanders by tens of
    // percent within minutes), not one store's runs before the other's. BullMQ's run comes last in
    // odd runs and first in even ones, so neither side always runs first.
    for (let run = 1; run <= runs; run++) {
      const order = withBaseline && run % 2 === 0 ? [byMode[byMode.length - 1], ...byMode.slice(0, -1)] : byMode;
      for (const result of order) if (result) await measureRun(result, `${run}/${runs}`, plan);
    }
    for (const result of byMode) result.median = medianOf(result.runs);
  }
  return results;
}

/**
 * One run of the result's workload and mode, into its runs (or failures). A run during which other
 * processes used the CPUs is kept in skewedRuns and measured again, up to plan.retrySkewed times
 * in all for the result.
 */
async function measureRun(result: ScenarioResult, label: string, plan: Plan): Promise<void> {
  const { workload, mode } = result;
  for (;;) {
    const started = Date.now();
    try {
      const metrics = await runOnce(workload, mode, plan.sizes);
      process.stderr.write(`${workload} ${mode} run ${label} (${((Date.now() - started) / 1000).toFixed(1)} s): ${progressLine(workload, metrics)}\n`);
      if ((metrics.otherCpuPercent ?? 0) > skewedAbovePercent && result.skewedRuns.length < plan.retrySkewed) {
        result.skewedRuns.push(metrics);
        await sleep(5000);
        continue;
      }
      result.runs.push(metrics);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result.failures.push(message);
      process.stderr.write(`${workload} ${mode} run ${label} FAILED: ${message}\n`);
    }
    return;
  }
}

/** W1 once per selected variant with every service under --cpu-prof; prints where the CPU went. */
async function runProfiles(plan: Plan): Promise<Record<string, Record<string, ProfileSummary[]>>> {
  const root = mkdtempSync(join(tmpdir(), "orchestrator-bench-prof-"));
  const variants = { "W1": "sdk", "W1-unary": "unary", "W1-batch": "batch" } as const;
  const summaries: Record<string, Record<string, ProfileSummary[]>> = {};
  const mode = plan.modes[0] ?? "full";
  for (const workload of plan.workloads) {
    if (workload !== "W1" && workload !== "W1-unary" && workload !== "W1-batch") continue;
    const dir = join(root, `${workload}-${mode}`);
    const metrics = await runW1(variants[workload], mode, plan.sizes, dir);
    process.stdout.write(`\n=== ${workload} (${mode}) under --cpu-prof: ${progressLine(workload, metrics)}\n`);
    summaries[workload] = {};
    for (const service of ["scheduler", "gateway", "worker"]) {
      const found = summariseProfileDir(join(dir, service));
      summaries[workload][service] = found;
      for (const summary of found) process.stdout.write(`\n${formatProfile(service, summary)}\n`);
    }
  }
  process.stdout.write(`\nprofiles kept in ${root} (open them in Chrome DevTools or speedscope)\n`);
  return summaries;
}

/** The PostgreSQL database the postgres runs use, without a password. */
function postgresLabel(): string {
  return benchPostgresUrl.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/** What the BullMQ baseline ran on and with, for the JSON and the report's head. */
function describeBaseline(): { record: Record<string, unknown>; label: string } {
  let version = "unknown";
  try {
    version = (createRequire(import.meta.url)("bullmq/package.json") as { version: string }).version;
  } catch {
    // not resolvable: leave it unknown
  }
  const durability = lastDurability;
  const found = durability ? `found appendonly ${durability.found.appendonly} / appendfsync ${durability.found.appendfsync}, restored after each run` : "Redis's settings were never read (no BullMQ run reached Redis)";
  return {
    record: { system: "bullmq", version, redis: redisLabel(), durability: { during: runAof, ...durability }, jobOptions: bullJobOptions, workerConcurrency: "as ours (sizes.w1Slots)" },
    label: `BullMQ ${version} on Redis ${redisLabel()} with appendonly ${runAof.appendonly}, appendfsync ${runAof.appendfsync} during its runs (${found}); producer and worker as separate processes, worker concurrency as ours, completed jobs kept`,
  };
}

/** The commit the build came from (read-only; the working tree may hold more changes). */
function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const plan = parsePlan(process.argv.slice(2));
  const machine = describeMachine();
  const startedAt = new Date();
  const began = Date.now();
  const output: Record<string, unknown> = {
    startedAt: startedAt.toISOString(), commit: gitCommit(), machine, stores: { full: "sqlite-embedded-wal synchronous=full", normal: "sqlite-embedded-wal synchronous=normal", postgres: postgresLabel() },
    deployment: "gateway, scheduler, worker as separate processes on 127.0.0.1",
    plan: { runs: plan.runs, quick: plan.quick, retrySkewed: plan.retrySkewed, workloads: plan.workloads, modes: plan.modes, w3Modes: plan.w3Modes, baseline: plan.baseline, sizes: plan.sizes },
  };
  const loadAtStart = loadAverage();
  const busy = await machineBusyPercent();
  if (busy > 10) process.stderr.write(`warning: the machine is not idle (${busy}% CPU busy before the start); figures will be skewed\n`);
  output.loadAverageAtStart = loadAtStart;
  output.machineBusyPercentAtStart = busy;
  let failed = false;
  if (plan.profile) {
    output.profiles = await runProfiles(plan);
  } else {
    const results = await runBenchmark(plan);
    const targets = evaluateTargets(results);
    output.results = results;
    output.targets = targets;
    const baseline = results.some((result) => result.mode === "bullmq") ? describeBaseline() : undefined;
    if (baseline) output.baseline = baseline.record;
    // A target missed is a finding; a run that broke, or a task lost, duplicated or refused, is a failure.
    failed = results.some((result) => result.failures.length > 0 || integrityProblems(result) > 0);
    process.stdout.write(`\n${formatReport(machine, results, targets, plan.runs, postgresLabel(), baseline?.label)}\n`);
  }
  output.loadAverageAtEnd = loadAverage();
  process.stdout.write(`machine ${busy}% busy before the start; load average at start ${loadAtStart.join(" ")}, at end ${loadAverage().join(" ")}\n`);
  output.durationSeconds = Math.round((Date.now() - began) / 1000);
  mkdirSync(plan.outDir, { recursive: true });
  const file = join(plan.outDir, `${startedAt.toISOString().replace(/[:.]/g, "-")}${plan.profile ? "-profile" : ""}.json`);
  writeFileSync(file, `${JSON.stringify(output, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${file} (${output.durationSeconds} s)\n`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
