// Fairness between concurrency keys, as real processes on each store: key A has 100,000 tasks
// waiting, key B gets 10 submitted after them, then one worker of 8 slots connects. A claim serves
// the name's waiting keys in turn (least recently served first), each key getting its share of the
// free slots, so B's tasks start within the first rounds of dispatch instead of behind A's
// backlog. The handlers' journal gives the order the tasks started in.
import { afterEach, describe, expect, it } from "vitest";
import type { TaskSpec } from "../../packages/client/src/client.js";
import { ScaleOutRig, until } from "../helpers/scale-out.js";
import { createTestStore, storeBackends } from "../helpers/stores.js";

const backlog = 100_000;
/** SubmitTasks takes 1-1,000 tasks per request (README, Limits). */
const batchSize = 1000;
/** Batches in flight at once while the backlog is submitted. */
const batchesInFlight = 4;
const latecomers = 10;
const slots = 8;
/**
 * How many of A's tasks may start before the last of B's. The first claim has 8 free slots and two
 * waiting keys: each gets ceil or floor of 8 / 2, so B gets at least 4. Every later claim again
 * serves both keys before either twice: with n ≥ 2 free slots B gets at least floor(n / 2), so at
 * least a third of them, and single free slots alternate between the keys. So by the time B's
 * remaining 6 have started, A has started at most 2 × 6 + 1 more, plus its 4 of the first claim:
 * about 17. 3 × 10 = 30 leaves room for ties and claims that race a finishing task; behind the
 * backlog, B would start only after A's 100,000.
 */
const maxBacklogStartsBeforeLatecomers = 3 * latecomers;

describe.each(storeBackends)("fairness between concurrency keys (%s store)", (backend) => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  it(`starts all ${latecomers} tasks of key B, submitted after key A's ${backlog.toLocaleString("en")}, before A has started ${maxBacklogStartsBeforeLatecomers}`, async () => {
    rig = new ScaleOutRig(await createTestStore(backend));
    const { address } = await rig.scheduler();
    const { client } = await rig.gateway([address]);

    // A's backlog while no worker is connected: all of it waits.
    const submitStarted = Date.now();
    const specA: TaskSpec = { name: "journaled", payload: { ms: 10 }, concurrencyKey: "a" };
    const batches = Array.from({ length: backlog / batchSize }, () => Array<TaskSpec>(batchSize).fill(specA));
    let submittedA = 0;
    for (let i = 0; i < batches.length; i += batchesInFlight) {
      const answers = await Promise.all(batches.slice(i, i + batchesInFlight).map((batch) => client.submitMany(batch)));
      submittedA += answers.reduce((sum, answer) => sum + answer.length, 0);
    }
    const submitMs = Date.now() - submitStarted;
    expect(submittedA).toBe(backlog);
    expect((await client.list({ state: "queued", pageSize: 1 })).tasks).toHaveLength(1);

    const latecomerIds = new Set((await client.submitMany(Array<TaskSpec>(latecomers).fill({ name: "journaled", payload: { ms: 10 }, concurrencyKey: "b" }))).map((submitted) => submitted.taskId));
    expect(latecomerIds.size).toBe(latecomers);

    const workerStarted = Date.now();
    await rig.worker([address], ["--slots", String(slots)]);
    /** The journal's starts in the order they happened (one worker process appends them in order). */
    const starts = (): { a: number; b: number; aBeforeLastB: number } => {
      let a = 0;
      let b = 0;
      let aBeforeLastB = 0;
      for (const entry of rig.entries()) {
        if (entry.kind !== "start") continue;
        if (latecomerIds.has(entry.taskId)) {
          b++;
          aBeforeLastB = a;
        } else a++;
      }
      return { a, b, aBeforeLastB };
    };
    // Until B has all started, or A has started more than the bound allows (then B waits behind it).
    await until(() => {
      const now = starts();
      return now.b === latecomers || now.a > maxBacklogStartsBeforeLatecomers;
    }, 30_000, `all of B started or ${maxBacklogStartsBeforeLatecomers} of A`);
    const seen = starts();
    const tookMs = Date.now() - workerStarted;
    console.log(`fairness (${backend}): submitted ${backlog} tasks of A in ${submitMs} ms; ${seen.b} of B's ${latecomers} started, ${seen.aBeforeLastB} of A before the last of them, ${tookMs} ms after the worker started`);
    expect(seen.b, `B's tasks started when A had started ${seen.a}`).toBe(latecomers);
    expect(seen.aBeforeLastB).toBeLessThanOrEqual(maxBacklogStartsBeforeLatecomers);
    // The first claim already gave B its share: at least slots / 2 of B among the first starts.
    const first = rig.entries().filter((entry) => entry.kind === "start").slice(0, slots);
    expect(first.filter((entry) => latecomerIds.has(entry.taskId)).length).toBeGreaterThanOrEqual(slots / 2);
    await until(async () => (await Promise.all([...latecomerIds].map((taskId) => client.get(taskId)))).every((task) => task.state === "succeeded"), 10_000, "B's tasks to succeed");
  }, 120_000);
});
