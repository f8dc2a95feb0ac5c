// Medians over runs, the targets with PASS/MISS, and the table printed on stdout.
import type { Metrics } from "./scenarios.js";
import type { StoreMode } from "./services.js";
import type { Machine } from "./util.js";
import { median, round } from "./util.js";
import { hopFigures } from "./hops.js";

export type Workload = "W1" | "W1-unary" | "W1-batch" | "W1-batch-ahead" | "W2" | "W2-hog" | "W2-hops" | "W3" | "Floor" | "X-dispatch" | "W1-horizon" | "Due" | "W4" | "W4-paced" | "W1-history" | "W2-history" | "Dashboard";

/** Workloads that exist only on PostgreSQL (two Schedulers on one database; VACUUM's horizon). */
export const postgresOnlyWorkloads: readonly Workload[] = ["X-dispatch", "W1-horizon"];

/** Workloads also run against the BullMQ baseline (bench/src/bullmq), interleaved with ours. */
export const baselineWorkloads: readonly Workload[] = ["W1", "W1-batch", "W2", "W2-hog"];

/** What a result was measured on: one of our stores, or the BullMQ baseline (on Redis). */
export type RunMode = StoreMode | "bullmq";

export interface ScenarioResult {
  workload: Workload;
  /** The store: SQLite with synchronous full or normal, or PostgreSQL; or "bullmq", the baseline. */
  mode: RunMode;
  runs: Metrics[];
  median: Metrics;
  /** Runs that failed outright (an exception), with the reason. */
  failures: string[];
  /** Runs measured again because other processes used the CPUs meanwhile (kept for the record). */
  skewedRuns: Metrics[];
}

export interface TargetResult {
  workload: string;
  mode: string;
  metric: string;
  value: number;
  comparison: "<=" | ">=" | "==";
  target: number;
  unit: string;
  pass: boolean;
  /** A target against the BullMQ baseline: our figure and BullMQ's, of which `value` is the ratio. */
  ours?: number;
  baseline?: number;
}

export function medianOf(runs: readonly Metrics[]): Metrics {
  const keys = new Set(runs.flatMap((run) => Object.keys(run)));
  const result: Metrics = {};
  for (const key of keys) result[key] = median(runs.map((run) => run[key] ?? Number.NaN));
  return result;
}

function total(result: ScenarioResult, key: string): number {
  return result.runs.reduce((sum, run) => sum + (run[key] ?? 0), 0);
}

/**
 * Tasks acknowledged but not succeeded, run twice, retried, or stored beyond what was acknowledged:
 * summed over every run (not a median).
 */
export function lostOrDuplicated(result: ScenarioResult): number {
  return total(result, "lost") + total(result, "notFirstAttempt") + total(result, "duplicates") + total(result, "unacknowledged");
}

/** Client calls that failed (a refused submit, a broken progress stream) and runs that broke. */
export function failedCalls(result: ScenarioResult): number {
  return total(result, "errors") + result.failures.length;
}

export function integrityProblems(result: ScenarioResult): number {
  return lostOrDuplicated(result) + failedCalls(result);
}

function find(results: readonly ScenarioResult[], workload: Workload, mode: string): ScenarioResult | undefined {
  return results.find((result) => result.workload === workload && result.mode === mode && result.runs.length > 0);
}

type Check = (result: ScenarioResult | undefined, metric: string, comparison: "<=" | ">=", target: number, unit: string) => void;

/**
 * PostgreSQL against SQLite in the same run (as ratios to SQLite with synchronous full, the
 * durability both ship with), the database's cost per task, and the PostgreSQL-only workloads.
 */
function postgresTargets(results: readonly ScenarioResult[], targets: TargetResult[], check: Check): void {
  const ratio = (workload: Workload, metric: string, comparison: "<=" | ">=", target: number): void => {
    const postgres = find(results, workload, "postgres");
    const sqlite = find(results, workload, "full") ?? find(results, workload, "normal");
    if (!postgres || !sqlite) return;
    const value = round((postgres.median[metric] ?? Number.NaN) / (sqlite.median[metric] ?? Number.NaN), 3);
    const pass = comparison === "<=" ? value <= target : value >= target;
    targets.push({ workload, mode: "postgres", metric: `${metric} postgres / sqlite ${sqlite.mode}`, value, comparison, target, unit: "x", pass });
  };
  ratio("W1", "drainRate", ">=", 0.7);
  ratio("W2", "dispatchP99", "<=", 2);
  check(find(results, "W1", "postgres"), "commitsPerTask", "<=", 0.2, "commits/task");
  const cross = find(results, "X-dispatch", "postgres");
  check(cross, "dispatchP50", "<=", 5, "ms");
  check(cross, "dispatchP99", "<=", 25, "ms");
  const horizon = find(results, "W1-horizon", "postgres");
  check(horizon, "xidEndRatio", ">=", 0.65, "x baseline (last round)");
  check(horizon, "snapshotEndRatio", ">=", 0.65, "x baseline (last round)");
}

/**
 * Concurrency keys (W4, W4-paced), and a store holding a million finished tasks (W1-history,
 * W2-history), against the same store's W1 and W2 in the same run.
 */
function variantTargets(results: readonly ScenarioResult[], targets: TargetResult[]): void {
  const ratio = (keyed: Workload, plain: Workload, metric: string, comparison: "<=" | ">=", target: number): void => {
    for (const result of results.filter((candidate) => candidate.workload === keyed && candidate.runs.length > 0)) {
      const base = find(results, plain, result.mode);
      if (!base) continue;
      const value = round((result.median[metric] ?? Number.NaN) / (base.median[metric] ?? Number.NaN), 3);
      const pass = comparison === "<=" ? value <= target : value >= target;
      targets.push({ workload: keyed, mode: result.mode, metric: `${metric} ${keyed} / ${plain}`, value, comparison, target, unit: "x", pass });
    }
  };
  ratio("W4", "W1", "drainRate", ">=", 0.5);
  ratio("W4-paced", "W2", "dispatchP99", "<=", 2);
  ratio("W1-history", "W1", "drainRate", ">=", 0.9);
  ratio("W2-history", "W2", "dispatchP99", "<=", 1.1);
}

/**
 * Against BullMQ in the same run (issue 14), per store: W1 and W1-batch drain rates, W2 dispatch
 * p50/p99 and completion p99 (ours through WatchTasks, BullMQ's through QueueEvents) as ratios of
 * ours to BullMQ's; W2-hog: how much each one's dispatch p99 grows with a CPU hog on one core.
 */
function baselineTargets(results: readonly ScenarioResult[], targets: TargetResult[]): void {
  const ours = results.filter((result) => result.mode !== "bullmq" && result.runs.length > 0);
  const against = (result: ScenarioResult, metric: string, comparison: "<=" | ">=", target: number, label = metric, baselineWorkload = result.workload): void => {
    const bull = find(results, baselineWorkload, "bullmq");
    if (!bull) return;
    const mine = result.median[metric] ?? Number.NaN;
    const theirs = bull.median[metric] ?? Number.NaN;
    const value = round(mine / theirs, 3);
    const pass = comparison === "<=" ? value <= target : value >= target;
    targets.push({ workload: result.workload, mode: result.mode, metric: `${label} ours / BullMQ`, value, comparison, target, unit: "x", pass, ours: mine, baseline: theirs });
  };
  for (const result of ours) {
    if (result.workload === "W1") against(result, "drainRate", ">=", 1.5);
    if (result.workload === "W1-batch") against(result, "drainRate", ">=", 2.5);
    // Claim-ahead is not on by default: against the same BullMQ run, the target of W1-batch.
    if (result.workload === "W1-batch-ahead") against(result, "drainRate", ">=", 2.5, "drainRate with claim-ahead", "W1-batch");
    if (result.workload === "W2") {
      against(result, "dispatchP50", "<=", 1);
      against(result, "dispatchP99", "<=", 1);
      against(result, "eventCompletionP99", "<=", 1.5, "completionP99 (WatchTasks vs QueueEvents)");
    }
  }
  // W2-hog: p99 with the hog / p99 without it, each system against its own W2 of the same run.
  const growth = (mode: RunMode): number => {
    const hog = find(results, "W2-hog", mode);
    const plain = find(results, "W2", mode);
    return hog && plain ? round((hog.median.dispatchP99 ?? Number.NaN) / (plain.median.dispatchP99 ?? Number.NaN), 3) : Number.NaN;
  };
  const bullGrowth = growth("bullmq");
  if (!Number.isFinite(bullGrowth)) return;
  for (const result of ours.filter((candidate) => candidate.workload === "W2-hog")) {
    const mine = growth(result.mode);
    if (!Number.isFinite(mine)) continue;
    const value = round(mine / bullGrowth, 3);
    targets.push({ workload: "W2-hog", mode: result.mode, metric: "dispatchP99 growth (W2-hog / W2) ours / BullMQ", value, comparison: "<=", target: 1, unit: "x", pass: value <= 1, ours: mine, baseline: bullGrowth });
  }
}

export function evaluateTargets(results: readonly ScenarioResult[]): TargetResult[] {
  const targets: TargetResult[] = [];
  const check: Check = (result, metric, comparison, target, unit) => {
    if (!result) return;
    const value = result.median[metric] ?? Number.NaN;
    const pass = comparison === "<=" ? value <= target : value >= target;
    targets.push({ workload: result.workload, mode: result.mode, metric, value, comparison, target: round(target), unit, pass });
  };
  for (const mode of ["full", "normal"]) {
    check(find(results, "W1", mode), "drainRate", ">=", 10_000, "tasks/s");
    check(find(results, "W1-batch", mode), "drainRate", ">=", 20_000, "tasks/s");
    check(find(results, "W1-unary", mode), "drainRate", ">=", 4_000, "tasks/s");
    const w2 = find(results, "W2", mode);
    check(w2, "dispatchP50", "<=", 1, "ms");
    check(w2, "dispatchP99", "<=", 4, "ms");
    check(w2, "eventCompletionP99", "<=", 6, "ms");
  }
  postgresTargets(results, targets, check);
  variantTargets(results, targets);
  baselineTargets(results, targets);
  for (const w3 of results.filter((result) => result.workload === "W3" && result.runs.length > 0)) {
    const w2 = find(results, "W2", w3.mode) ?? find(results, "W2", "full");
    if (w2) {
      check(w3, "turnaroundP99", "<=", 2 * (w2.median.dispatchP99 ?? Number.NaN), "ms (2x W2 dispatch p99)");
      check(w3, "claimToStartP99", "<=", 2 * (w2.median.dispatchP99 ?? Number.NaN), "ms (2x W2 dispatch p99)");
    }
    check(w3, "schedulerPeakRssMb", "<=", 300, "MiB");
  }
  // Issue 13: the dashboard's first screen on a store holding a million tasks, the slowest load of each run.
  for (const dashboard of results.filter((result) => result.workload === "Dashboard" && result.runs.length > 0)) {
    check(dashboard, "firstScreenMaxMs", "<=", 1000, "ms");
  }
  const idle = find(results, "W2", "full") ?? find(results, "W2", "normal");
  for (const service of ["scheduler", "gateway", "worker"]) check(idle, `${service}IdleRssMb`, "<=", 60, "MiB");
  for (const result of results) {
    const lost = lostOrDuplicated(result);
    const failed = failedCalls(result);
    targets.push({ workload: result.workload, mode: result.mode, metric: "tasks lost/duplicated/retried", value: lost, comparison: "==", target: 0, unit: "(all runs)", pass: lost === 0 });
    targets.push({ workload: result.workload, mode: result.mode, metric: "failed client calls", value: failed, comparison: "==", target: 0, unit: "(all runs)", pass: failed === 0 });
  }
  return targets;
}

/** Figures reported without a target, per workload. */
const w1Figures = ["submitRate", "drainRate", "schedulerPeakRssMb", "gatewayPeakRssMb", "workerPeakRssMb", "clientPeakRssMb",
  "schedulerCpuS", "gatewayCpuS", "workerCpuS", "clientCpuS", "otherCpuPercent"];
const horizonPhases = ["baseline", "xid", "snapshot"].flatMap((phase) =>
  ["DrainRate", "FirstRoundDrainRate", "LastRoundDrainRate", "Rounds", "DeadTuples", "TablesMb", "HorizonAge", "DatabaseCpuS", "OtherCpuPercent"].map((figure) => `${phase}${figure}`));
const informational: Record<Workload, string[]> = {
  "W1": w1Figures,
  "W1-unary": w1Figures,
  "W1-batch": w1Figures,
  "W1-batch-ahead": w1Figures,
  "W2": ["achievedRate", "dispatchP50", "dispatchP95", "dispatchP99", "dispatchMax", "eventCompletionP50", "eventCompletionP95", "eventCompletionP99", "eventCompletionMax", "schedulerIdleRssMb", "gatewayIdleRssMb", "workerIdleRssMb", "otherCpuPercent"],
  "W2-hog": ["achievedRate", "dispatchP50", "dispatchP95", "dispatchP99", "dispatchMax", "eventCompletionP50", "eventCompletionP99",
    "hogCpuS", "hogPinned", "otherCpuPercent"],
  "W2-hops": ["achievedRate", "dispatchP50", "dispatchP99", ...hopFigures, "hopsTraced", "hopsMissing", "otherCpuPercent"],
  "W3": ["fillRate", "drainRate", "connections", "turnaroundP50", "turnaroundP95", "turnaroundP99", "turnaroundMax",
    "claimToStartP50", "claimToStartP95", "claimToStartP99", "claimToStartMax", "schedulerPeakRssMb", "workerHostPeakRssMb",
    "otherCpuPercent"],
  "Floor": ["streamRttP50", "streamRttP99", "streamRttMax", "unaryRttP50", "unaryRttP99", "unaryRttMax", "fsyncP50", "fsyncP99", "fsyncMax", "bareNodeRssMb", "bareGrpcServerRssMb"],
  "X-dispatch": ["achievedRate", "dispatchP50", "dispatchP95", "dispatchP99", "dispatchMax", "eventCompletionP50", "eventCompletionP95", "eventCompletionP99", "eventCompletionMax",
    "databaseCpuS", "otherCpuPercent"],
  "W4": w1Figures,
  "W4-paced": ["achievedRate", "dispatchP50", "dispatchP95", "dispatchP99", "dispatchMax", "eventCompletionP50", "eventCompletionP99", "otherCpuPercent"],
  "W1-history": ["historyTasks", ...w1Figures],
  "W2-history": ["historyTasks", "achievedRate", "dispatchP50", "dispatchP95", "dispatchP99", "dispatchMax", "eventCompletionP50", "eventCompletionP99", "otherCpuPercent"],
  "Due": ["startDelayP50", "startDelayP95", "startDelayP99", "startDelayMax", "startDelayCount", "early", "fillSeconds", "fillLateMs", "schedulerPeakRssMb", "otherCpuPercent"],
  "Dashboard": ["tasksInStore", "tasksCounted", "firstScreenColdMs", "firstScreenWarmP50Ms", "firstScreenMaxMs", "otherCpuPercent"],
  "W1-horizon": ["holdSeconds", "xidRatio", "xidEndRatio", "snapshotRatio", "snapshotEndRatio", ...horizonPhases],
};

/** The BullMQ baseline's figures (named as ours; Redis's CPU in place of the services'). */
const bullW1Figures = ["submitRate", "drainRate", "workerPeakRssMb", "clientPeakRssMb", "workerCpuS", "clientCpuS", "redisCpuS", "otherCpuPercent"];
const bullW2Figures = ["achievedRate", "dispatchP50", "dispatchP95", "dispatchP99", "dispatchMax", "eventCompletionP50", "eventCompletionP95", "eventCompletionP99",
  "eventCompletionMax", "workerIdleRssMb", "redisCpuS", "otherCpuPercent"];

/** On PostgreSQL the database's own work is reported too (W1's cost per task is its headline). */
function figuresOf(result: ScenarioResult): string[] {
  if (result.mode === "bullmq") return result.workload.startsWith("W2") ? [...bullW2Figures, ...(result.workload === "W2-hog" ? ["hogCpuS"] : [])] : bullW1Figures;
  const figures = informational[result.workload];
  if (result.mode !== "postgres" || postgresOnlyWorkloads.includes(result.workload)) return figures;
  const cost = result.workload.startsWith("W1") || result.workload === "W4" ? ["commitsPerTask", "rowsWrittenPerTask", "databaseCommits"] : [];
  return [...figures, ...cost, "databaseCpuS"];
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ");
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

function show(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 100 ? String(Math.round(value)) : String(round(value, 2));
}

export function formatReport(machine: Machine, results: readonly ScenarioResult[], targets: readonly TargetResult[], runsWanted: number, postgresLabel: string, baselineLabel?: string): string {
  const repeated = results.reduce((sum, result) => sum + result.skewedRuns.length, 0);
  const skewed = results.reduce((sum, result) => sum + result.runs.filter((run) => (run.otherCpuPercent ?? 0) > 5).length, 0);
  const head = [
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.totalMemoryMb} MiB RAM, ${machine.platform} ${machine.kernel}`,
    `node ${machine.node}; stores: full / normal = embedded SQLite (WAL) in a temp dir with that synchronous mode, postgres = a fresh schema of ${postgresLabel}; services as processes on loopback; figures are medians of ${runsWanted} run(s)`,
    `runs measured again because other processes used the CPUs: ${repeated}; runs kept although skewed (otherCpuPercent > 5): ${skewed}`,
  ];
  if (baselineLabel) head.push(`baseline: ${baselineLabel}`);
  const own = targets.filter((t) => t.baseline === undefined);
  const versus = targets.filter((t) => t.baseline !== undefined);
  const targetTable = table(
    ["workload", "store", "metric", "median", "target", "result"],
    own.map((t) => [t.workload, t.mode, t.metric, show(t.value), `${t.comparison} ${show(t.target)} ${t.unit}`, t.pass ? "PASS" : "MISS"]),
  );
  const versusTable = versus.length === 0 ? [] : ["", "Against BullMQ (same run, interleaved; medians; ratio = ours / BullMQ's)", table(
    ["workload", "store", "metric", "ours", "BullMQ", "ratio", "target", "result"],
    versus.map((t) => [t.workload, t.mode, t.metric, show(t.ours ?? Number.NaN), show(t.baseline ?? Number.NaN), show(t.value), `${t.comparison} ${show(t.target)} ${t.unit}`, t.pass ? "PASS" : "MISS"]),
  )];
  const figureRows: string[][] = [];
  for (const result of results) {
    for (const metric of figuresOf(result)) {
      const values = result.runs.map((run) => show(run[metric] ?? Number.NaN)).join(" / ");
      figureRows.push([result.workload, result.mode, metric, show(result.median[metric] ?? Number.NaN), values]);
    }
    for (const failure of result.failures) figureRows.push([result.workload, result.mode, "FAILED RUN", "", failure.slice(0, 120)]);
  }
  const figures = table(["workload", "store", "figure", "median", "runs"], figureRows);
  return [...head, "", "Targets", targetTable, ...versusTable, "", "All figures (rates in tasks/s, latencies in ms, memory in MiB, CPU in seconds used during the workload)", figures].join("\n");
}
