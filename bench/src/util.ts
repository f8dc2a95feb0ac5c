// Small helpers shared by the benchmark's parent and child processes: clocks, statistics,
// /proc readings and the machine description.
import { readdirSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Every process on the machine derives it
 * from the same system clock, so differences between processes are meaningful to ~0.1 ms
 * (Date.now() would round every latency to whole milliseconds).
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The line prefix with which a child process hands its JSON outcome to the parent. */
export const resultPrefix = "BENCH_RESULT ";
/** W3's worker host prints this once all its workers are registered. */
export const readyPrefix = "READY ";

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Distribution {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
    mean: round(sorted.length ? sum / sorted.length : Number.NaN),
  };
}

export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const middle = Math.floor(finite.length / 2);
  const value = finite.length % 2 ? finite[middle] : ((finite[middle - 1] ?? 0) + (finite[middle] ?? 0)) / 2;
  return round(value ?? Number.NaN);
}

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** A field of /proc/<pid>/status in MiB (VmRSS: resident now; VmHWM: peak resident). */
export function procMemoryMb(pid: number | "self", field: "VmRSS" | "VmHWM"): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(status);
    return match?.[1] ? round(Number(match[1]) / 1024, 1) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat; Linux's USER_HZ is 100). */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which is in parentheses and may hold spaces): utime is 14th, stime 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds used so far by each process of the local PostgreSQL server (every process named
 * `postgres`: backends, WAL writer, checkpointer, autovacuum), by pid.
 */
export function postgresCpuSeconds(): Map<number, number> {
  const found = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "postgres") continue;
    } catch {
      continue; // exited meanwhile
    }
    const seconds = procCpuSeconds(Number(entry));
    if (Number.isFinite(seconds)) found.set(Number(entry), seconds);
  }
  return found;
}

/** Established TCP connections (IPv4 and IPv6) whose remote end is the given local port. */
export function establishedConnectionsTo(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[2]?.endsWith(`:${hexPort}`) && fields[3] === "01") count++;
    }
  }
  return count;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  totalMemoryMb: number;
  node: string;
  platform: string;
  kernel: string;
}

export function describeMachine(): Machine {
  let cpuModel = cpus()[0]?.model ?? "unknown";
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match?.[1]) cpuModel = match[1].trim();
  } catch {
    // not Linux: keep os.cpus()'s answer
  }
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    kernel = "";
  }
  return {
    cpuModel, cores: cpus().length, totalMemoryMb: Math.round(totalmem() / 1024 / 1024),
    node: process.version, platform: `${process.platform}-${process.arch}`, kernel,
  };
}

/** The 1-, 5- and 15-minute load averages: other work on the machine skews every figure. */
export function loadAverage(): number[] {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

function cpuTimes(): { busy: number; total: number } {
  const fields = (/^cpu\s+(.+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1] ?? "").trim().split(/\s+/).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** Busy CPU seconds of the whole machine since boot (all cores). */
export function machineCpuSeconds(): number {
  try {
    return cpuTimes().busy / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds this process has used in its whole life. */
export function ownCpuSeconds(): number {
  const used = process.cpuUsage();
  return round((used.user + used.system) / 1e6, 3);
}

/** How busy the whole machine is over `ms` (percent of all cores), e.g. with someone else's tests. */
export async function machineBusyPercent(ms = 1000): Promise<number> {
  try {
    const before = cpuTimes();
    await sleep(ms);
    const after = cpuTimes();
    return round((100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total), 1);
  } catch {
    return Number.NaN;
  }
}

/** Runs `task` with at most `limit` calls in flight until `count` calls have been made. */
export async function runPool(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
}

/** How a paced load went: its achieved rate and how late its starts ran behind their schedule. */
export interface PacedStarts {
  achievedRate: number;
  maxPacingLagMs: number;
}

/**
 * Starts `start(i)` for i = 0..total-1 at `rate` per second on the wall clock (the first 20 ms
 * from now), without waiting for one before the next, then waits for all. Both systems' W2 use
 * it, so they are paced alike.
 */
export async function paceStarts(total: number, rate: number, start: (index: number) => Promise<void>): Promise<PacedStarts> {
  const interval = 1000 / rate;
  const pending: Promise<void>[] = [];
  const t0 = wallNow() + 20;
  let firstStart = 0;
  let lastStart = 0;
  let maxLag = 0;
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - wallNow();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const now = wallNow();
    maxLag = Math.max(maxLag, now - due);
    if (i === 0) firstStart = now;
    lastStart = now;
    pending.push(start(i));
  }
  await Promise.all(pending);
  return { achievedRate: round(total > 1 ? ((total - 1) * 1000) / (lastStart - firstStart) : 0, 1), maxPacingLagMs: round(maxLag) };
}
