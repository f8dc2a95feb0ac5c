import { taskStates, type NameStats, type TaskState, type TaskStats } from "./store.js";

/** A row of the by-name-and-state count ({ name, state, tasks }) of either backend. */
export type StateCountRow = Record<string, unknown>;

/** A row of the finished-per-minute count ({ name, state, minute, tasks }); minute 0 is the first bucket. */
export type MinuteCountRow = Record<string, unknown>;

export const minuteMs = 60_000;

/** The start of the first of `minutes` one-minute buckets, the last of which holds `now`. */
export function firstMinute(now: number, minutes: number): number {
  return Math.floor(now / minuteMs) * minuteMs - (minutes - 1) * minuteMs;
}

/** TaskStats from the rows both backends read alike, so the two answer the same shape. */
export function assembleTaskStats(first: number, minutes: number, counts: readonly StateCountRow[], perMinute: readonly MinuteCountRow[], paused: readonly string[]): TaskStats {
  const byName = new Map<string, NameStats>();
  const entry = (name: string): NameStats => {
    let stats = byName.get(name);
    if (!stats) {
      const zero = Object.fromEntries(taskStates.map((state) => [state, 0])) as Record<TaskState, number>;
      stats = { name, counts: zero, succeededPerMinute: new Array<number>(minutes).fill(0), failedPerMinute: new Array<number>(minutes).fill(0), paused: false };
      byName.set(name, stats);
    }
    return stats;
  };
  for (const row of counts) {
    const counted = entry(String(row.name)).counts;
    const state = String(row.state) as TaskState;
    if (state in counted) counted[state] += Number(row.tasks);
  }
  for (const row of perMinute) {
    const minute = Number(row.minute);
    if (minute < 0 || minute >= minutes) continue;
    const buckets = row.state === "succeeded" ? entry(String(row.name)).succeededPerMinute : entry(String(row.name)).failedPerMinute;
    buckets[minute] = (buckets[minute] ?? 0) + Number(row.tasks);
  }
  for (const name of paused) entry(name).paused = true;
  return { names: [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), firstMinute: first };
}
