// Concurrency keys through the SDK, against real processes on each store: per-name limits set,
// listed and cleared; a task's key and own bound read back however it was submitted (SubmitStream,
// SubmitTask, SubmitTasks); and one worker with slots to spare running at most one task of each key
// at once under a limit of 1, while tasks of the two keys do run side by side. The journal's
// start/done lines are the evidence: a handler writes "done" before its result leaves the worker,
// so the next task of a key, started only after the Scheduler has that result, starts later.
import { afterEach, describe, expect, it } from "vitest";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { ScaleOutRig, until, type JournalEntry } from "../helpers/scale-out.js";
import { createTestStore, storeBackends } from "../helpers/stores.js";

/** The most tasks of one group running at once, from the journal's starts and ends (an end first at a tie). */
function peakRunning(entries: readonly JournalEntry[], groupOf: (taskId: string) => string): Map<string, number> {
  const moments = entries.filter((entry) => entry.kind !== "abort").sort((a, b) => a.at - b.at || (a.kind === "done" ? -1 : 1));
  const running = new Map<string, number>();
  const peak = new Map<string, number>();
  for (const entry of moments) {
    const group = groupOf(entry.taskId);
    const now = (running.get(group) ?? 0) + (entry.kind === "start" ? 1 : -1);
    running.set(group, now);
    peak.set(group, Math.max(peak.get(group) ?? 0, now));
  }
  return peak;
}

describe.each(storeBackends)("concurrency keys (%s store)", (backend) => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  /** One Scheduler and its Gateway, no worker yet. */
  async function start(): Promise<{ client: OrchestratorClient; scheduler: string }> {
    rig = new ScaleOutRig(await createTestStore(backend));
    const { address } = await rig.scheduler();
    return { client: (await rig.gateway([address])).client, scheduler: address };
  }

  it("sets, lists and clears a name's limit; a task's key and own bound read back from each submit path", async () => {
    const { client } = await start();
    expect(await client.listConcurrencyLimits()).toEqual([]);
    const before = Date.now();
    const set = await client.setConcurrencyLimit("data-processing-job", 3);
    expect(set).toMatchObject({ name: "data-processing-job", maxRunning: 3 });
    expect(set.updatedAt).toBeInstanceOf(Date);
    expect(set.updatedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    await client.setConcurrencyLimit("resize-image", 7);
    // Setting again replaces the bound.
    expect(await client.setConcurrencyLimit("data-processing-job", 2)).toMatchObject({ name: "data-processing-job", maxRunning: 2 });
    expect((await client.listConcurrencyLimits()).map((limit) => [limit.name, limit.maxRunning])).toEqual([["data-processing-job", 2], ["resize-image", 7]]);

    // No worker yet: they stay queued, and are read back as submitted.
    const streamed = await client.submit({ name: "data-processing-job", payload: "...", concurrencyKey: "customer-7", concurrencyLimit: 5 });
    const unary = new OrchestratorClient({ address: client.address, pipeline: false });
    const single = await unary.submit({ name: "data-processing-job", payload: "...", concurrencyKey: "customer-42" }).finally(() => unary.close());
    const [batched, plain] = await client.submitMany([{ name: "data-processing-job", concurrencyKey: "kunde-ü", concurrencyLimit: 1 }, { name: "data-processing-job" }]);
    expect(await client.get(streamed.taskId)).toMatchObject({ state: "queued", concurrencyKey: "customer-7", concurrencyLimit: 5 });
    expect(await client.get(single.taskId)).toMatchObject({ concurrencyKey: "customer-42", concurrencyLimit: null });
    expect(await client.get(batched?.taskId ?? "")).toMatchObject({ concurrencyKey: "kunde-ü", concurrencyLimit: 1 });
    expect(await client.get(plain?.taskId ?? "")).toMatchObject({ concurrencyKey: null, concurrencyLimit: null });
    const listed = new Map((await client.list({ name: "data-processing-job" })).tasks.map((task) => [task.taskId, task]));
    expect(listed.get(streamed.taskId)).toMatchObject({ concurrencyKey: "customer-7", concurrencyLimit: 5 });

    const cleared = await client.clearConcurrencyLimit("data-processing-job");
    expect(cleared).toMatchObject({ cleared: true, limit: { name: "data-processing-job", maxRunning: 2 } });
    expect(await client.clearConcurrencyLimit("data-processing-job")).toEqual({ cleared: false, limit: null });
    expect((await client.listConcurrencyLimits()).map((limit) => limit.name)).toEqual(["resize-image"]);
  });

  it("with a limit of 1 per key, one worker of 4 slots runs 6 tasks over 2 keys never 2 of a key at once, the keys side by side", async () => {
    const { client, scheduler } = await start();
    await client.setConcurrencyLimit("journaled", 1);
    await rig.worker([scheduler], ["--slots", "4"]);
    const keyOf = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const key = i % 2 === 0 ? "tenant-a" : "tenant-b";
      const { taskId } = await client.submit({ name: "journaled", payload: { ms: 150 }, concurrencyKey: key });
      keyOf.set(taskId, key);
    }
    await until(async () => (await Promise.all([...keyOf.keys()].map((id) => client.get(id)))).every((task) => task.state === "succeeded"), 20_000, "all 6 tasks to succeed");

    const entries = rig.entries().filter((entry) => keyOf.has(entry.taskId));
    expect(entries.filter((entry) => entry.kind === "start")).toHaveLength(6);
    expect(entries.filter((entry) => entry.kind === "done")).toHaveLength(6);
    const peaks = peakRunning(entries, (taskId) => keyOf.get(taskId) ?? "?");
    expect(Object.fromEntries(peaks)).toEqual({ "tenant-a": 1, "tenant-b": 1 });
    // The bound, not the worker, held each key to one: the two keys did run at the same time.
    expect(peakRunning(entries, () => "all").get("all")).toBe(2);
  });
});

