// A rate limit held for a minute, on both stores at once (two deployments side by side): 20 starts
// per 1 s window with more work waiting than a minute's worth. No window ever holds more than the
// limit, and the windows while work was waiting start at least 95% of what the limit allows (the
// Scheduler wakes itself when a window opens; it does not poll). Start times are the Scheduler's,
// read through the API.
import { afterAll, describe, expect, it } from "vitest";
import type { OrchestratorClient } from "../../packages/client/src/index.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends, type StoreBackend } from "../helpers/stores.js";

const maxStarts = 20;
const windowMs = 1_000;
/** 62 windows' worth: the load lasts a minute and a bit. */
const taskCount = 62 * maxStarts;

interface Windows {
  /** Starts per window (window index = floor(startedAt / windowMs)), in time order. */
  counts: Array<[number, number]>;
}

async function startTimes(client: OrchestratorClient): Promise<number[]> {
  const times: number[] = [];
  let pageToken: string | undefined;
  do {
    const page = await client.list({ name: "paced", pageSize: 500, pageToken });
    for (const task of page.tasks) times.push(task.startedAt?.getTime() ?? Number.NaN);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return times;
}

async function sustainedLoad(store: StoreBackend, cluster: Cluster): Promise<Windows> {
  await cluster.start();
  const client = cluster.client;
  await client.setRateLimit("paced", { maxStarts, perMs: windowMs });
  const submitted = [];
  for (let offset = 0; offset < taskCount; offset += 500) {
    submitted.push(...await client.submitMany(Array.from({ length: Math.min(500, taskCount - offset) }, (_, index) => ({ name: "paced", payload: { index: offset + index } }))));
  }
  // In chunks: a connection may hold 1,000 progress streams at once.
  const ends = [];
  for (let offset = 0; offset < submitted.length; offset += 500) {
    ends.push(...await Promise.all(submitted.slice(offset, offset + 500).map(({ taskId }) => client.waitForResult(taskId))));
  }
  expect(ends.filter((end) => end.state !== "succeeded"), `${store}: tasks that did not succeed`).toEqual([]);
  const times = await startTimes(client);
  expect(times, `${store}: every task has a start time`).toHaveLength(taskCount);
  const perWindow = new Map<number, number>();
  const windowOf = (at: number): number => Math.floor(at / windowMs);
  for (const at of times) perWindow.set(windowOf(at), (perWindow.get(windowOf(at)) ?? 0) + 1);
  return { counts: [...perWindow.entries()].sort(([a], [b]) => a - b) };
}

describe("a rate limit held for a minute, on both stores at once", () => {
  const clusters = storeBackends.map((store) => ({ store, cluster: new Cluster({ store, workers: 1, workerArgs: ["--slots", "10"] }) }));

  afterAll(async () => {
    await Promise.all(clusters.map(({ cluster }) => cluster.stop()));
  });

  it(`starts at most ${maxStarts} per ${windowMs} ms window, and at least 95% of that while work waits`, async () => {
    const results = await Promise.all(clusters.map(async ({ store, cluster }) => ({ store, windows: await sustainedLoad(store, cluster) })));
    for (const { store, windows } of results) {
      const { counts } = windows;
      for (const [window, count] of counts) expect(count, `${store}: starts in window ${window}`).toBeLessThanOrEqual(maxStarts);
      // Work waited from the first window to the last: the first and the last may be partial (the
      // load began and ended inside them); every window between is a full one.
      const first = counts[0]?.[0] ?? 0;
      const last = counts.at(-1)?.[0] ?? 0;
      const fullWindows = last - first - 1;
      expect(fullWindows, `${store}: the load lasted a minute`).toBeGreaterThanOrEqual(59);
      const startsInFull = counts.filter(([window]) => window > first && window < last).reduce((sum, [, count]) => sum + count, 0);
      const achieved = startsInFull / (fullWindows * maxStarts);
      process.stdout.write(`${store}: ${fullWindows} full windows, ${startsInFull} starts, ${(achieved * 100).toFixed(1)}% of the limit\n`);
      expect(achieved, `${store}: share of the limit achieved while work waited`).toBeGreaterThanOrEqual(0.95);
    }
  }, 180_000);
});
