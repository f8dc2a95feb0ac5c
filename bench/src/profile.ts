// Summarises V8 .cpuprofile files (node --cpu-prof): where a service spent its own (self) CPU time,
// by function and by file or package.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { round } from "./util.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  busyMs: number;
  gcMs: number;
  topFunctions: SelfTime[];
  topFiles: SelfTime[];
}

const special = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/** node_modules/<package>, node:<module>, or the path under dist/. */
function fileLabel(url: string, functionName: string): string {
  if (special.has(functionName)) return functionName;
  if (!url) return "(native/V8)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (modules) return `${modules[1]}/${modules[2]}`;
  const dist = /\/dist\/(.*)$/.exec(url);
  if (dist?.[1]) return `dist/${dist[1]}`;
  return url.replace(/^file:\/\//, "");
}

function top(map: Map<string, number>, busyMs: number, limit: number): SelfTime[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, ms: round(us / 1000, 1), percent: round((100 * us) / 1000 / busyMs, 1) }));
}

export function summariseProfile(path: string, limit = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idleUs = 0;
  let gcUs = 0;
  let totalUs = 0;
  profile.samples.forEach((id, index) => {
    // timeDeltas[i] is the time between sample i-1 and sample i; it is charged to sample i.
    const us = profile.timeDeltas[index] ?? 0;
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      return;
    }
    if (frame.functionName === "(garbage collector)") gcUs += us;
    const file = fileLabel(frame.url, frame.functionName);
    const name = special.has(frame.functionName) ? frame.functionName : `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  });
  const busyMs = (totalUs - idleUs) / 1000;
  return {
    file: path, wallMs: round(totalUs / 1000, 0), busyMs: round(busyMs, 0), gcMs: round(gcUs / 1000, 0),
    topFunctions: top(byFunction, busyMs, limit), topFiles: top(byFile, busyMs, limit),
  };
}

export function summariseProfileDir(dir: string, limit?: number): ProfileSummary[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".cpuprofile"))
    .sort()
    .map((name) => summariseProfile(join(dir, name), limit));
}

export function formatProfile(label: string, summary: ProfileSummary): string {
  const lines = [
    `${label}: ${summary.busyMs} ms busy of ${summary.wallMs} ms profiled (${round((100 * summary.busyMs) / summary.wallMs, 1)}% of one core), GC ${summary.gcMs} ms`,
    "  top self time by function:",
    ...summary.topFunctions.map((entry) => `    ${entry.percent.toFixed(1).padStart(5)}%  ${String(entry.ms).padStart(8)} ms  ${entry.name}`),
    "  top self time by file/package:",
    ...summary.topFiles.map((entry) => `    ${entry.percent.toFixed(1).padStart(5)}%  ${String(entry.ms).padStart(8)} ms  ${entry.name}`),
  ];
  return lines.join("\n");
}
