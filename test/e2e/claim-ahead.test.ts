// Claim-ahead (--prefetch): a worker holds assignments beyond its slots and starts each as a slot
// frees; a held task's timeout starts with its handler; one held longer than the Scheduler's hold
// limit (half its deadline grace: 1 s) is handed back; a held task can be cancelled; a stopping worker
// hands back at once what it holds. None of it uses a retry. An idle worker for other task names
// does not stop a busy one from holding.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskUpdate } from "orchestrator-ts-client";
import { runCli } from "../helpers/cli.js";
import { Cluster, repoRoot } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

describe.each(storeBackends)("a worker with one slot and prefetch 1 (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1, workerArgs: ["--slots", "1", "--prefetch", "1", "--shutdown-grace-ms", "300", "--log-level", "debug"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  async function updatesOf(taskId: string): Promise<TaskUpdate[]> {
    const updates: TaskUpdate[] = [];
    await cluster.client.waitForResult(taskId, { afterSequence: 0, onUpdate: (update) => updates.push(update) });
    return updates;
  }

  it("holds a second task while the first runs, starts it once the slot frees, and counts its timeout from its start", async () => {
    const first = await cluster.client.submit({ name: "sleepy", payload: { ms: 700 }, maxRetries: 0 });
    await untilTaskRunning(cluster, first.taskId);
    // Held for about 0.7 s, then 0.6 s of handler: 1.3 s from its assignment, within its 1 s timeout only if the timeout starts with the handler.
    const second = await cluster.client.submit({ name: "sleepy", payload: { ms: 600 }, maxRetries: 0, timeoutSecs: 1 });
    await untilTaskRunning(cluster, second.taskId);
    // Held, it counts in the worker's running attempts beside the one that runs, and as held.
    expect((await cluster.client.workers())[0]).toMatchObject({ slots: 1, prefetch: 1, running: 2, held: 1 });
    const [a, b] = await Promise.all([cluster.client.waitForResult(first.taskId), cluster.client.waitForResult(second.taskId)]);
    expect([a.state, a.attempt, b.state, b.attempt]).toEqual(["succeeded", 1, "succeeded", 1]);
    const [taskA, taskB] = await Promise.all([cluster.client.get(first.taskId), cluster.client.get(second.taskId)]);
    // Assigned (running in the store) while the first still ran, finished at least 0.6 s after it.
    expect(taskB.startedAt!.getTime()).toBeLessThan(taskA.finishedAt!.getTime());
    expect(taskB.finishedAt!.getTime() - taskA.finishedAt!.getTime()).toBeGreaterThanOrEqual(550);
  });

  it("hands a held task back once it has waited the hold limit, without using a retry", async () => {
    const long = await cluster.client.submit({ name: "sleepy", payload: { ms: 2_500 }, maxRetries: 0 });
    await untilTaskRunning(cluster, long.taskId);
    const short = await cluster.client.submit({ name: "noop", maxRetries: 0 });
    const updates = await updatesOf(short.taskId);
    expect(updates.at(-1)).toMatchObject({ state: "succeeded" });
    // Handed back once: the worker, whose slot the long task still held, was given nothing more to hold until it ended.
    const handedBack = updates.filter((update) => update.state === "retrying");
    expect(handedBack).toHaveLength(1);
    expect(updates.at(-1)?.attempt).toBe(2);
    expect(handedBack[0]?.message).toMatch(/^attempt 1 handed back by worker \S+ \(held 1000 ms without a free slot\); queued again$/);
    expect((await cluster.client.waitForResult(long.taskId)).state).toBe("succeeded");
  });

  it("cancels a held task without disturbing the running one", async () => {
    const long = await cluster.client.submit({ name: "sleepy", payload: { ms: 800 }, maxRetries: 0 });
    await untilTaskRunning(cluster, long.taskId);
    const held = await cluster.client.submit({ name: "noop", maxRetries: 0 });
    await untilTaskRunning(cluster, held.taskId);
    expect(await cluster.client.cancel(held.taskId, "not needed")).toMatchObject({ state: "cancelled", cancelled: true });
    expect(await cluster.client.waitForResult(long.taskId)).toMatchObject({ state: "succeeded", attempt: 1 });
    expect(await cluster.client.get(held.taskId)).toMatchObject({ state: "cancelled", attempt: 1 });
    // Had the worker kept holding it, it would have started it (first in, first out) before this one.
    const next = await cluster.client.submit({ name: "noop" });
    expect((await cluster.client.waitForResult(next.taskId)).state).toBe("succeeded");
    const started = (cluster.workers[0]?.logs ?? []).filter((r) => r.msg === "Task started").map((r) => r.task_id);
    expect(started).toContain(next.taskId);
    expect(started).not.toContain(held.taskId);
  });

  it("a stopping worker hands back at once what it holds, and what still runs once the grace period ends", async () => {
    const long = await cluster.client.submit({ name: "sleepy", payload: { ms: 5_000 }, maxRetries: 0 });
    await untilTaskRunning(cluster, long.taskId);
    const held = await cluster.client.submit({ name: "noop", maxRetries: 0 });
    await untilTaskRunning(cluster, held.taskId);
    const exit = await cluster.workers[0]?.stop("SIGINT");
    expect(exit?.code).toBe(0);
    const [taskLong, taskHeld] = await Promise.all([cluster.client.get(long.taskId), cluster.client.get(held.taskId)]);
    // No worker is left: both wait, queued, neither failed although neither may be retried.
    expect([taskLong.state, taskHeld.state]).toEqual(["queued", "queued"]);
    const log = cluster.scheduler.logs.filter((r) => r.msg === "Task attempt handed back by its worker; queued again without using a retry");
    expect(log.find((r) => r.task_id === held.taskId)?.reason).toBe("the worker shut down before the attempt started");
    expect(log.find((r) => r.task_id === long.taskId)?.reason).toBe("the worker shut down before the attempt finished");
  });
});

describe.each(storeBackends)("a worker with prefetch beside an idle worker for other task names (%s store)", (store) => {
  // A hold limit of 5 s, so the task stays held while the CLI starts and asks.
  const cluster = new Cluster({ store, workers: 1, schedulerArgs: ["--deadline-grace-ms", "10000"], workerArgs: ["--slots", "1", "--prefetch", "1"] });

  beforeAll(async () => {
    await cluster.start();
    await cluster.addWorker(["--handlers", join(repoRoot, "test/fixtures/chatty-handlers.mjs"), "--no-examples", "--slots", "2"]);
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("holds a task behind its running one although the other worker has idle slots", async () => {
    const [prefetching, other] = cluster.workers.map((worker) => worker.logs.find((r) => r.msg === "Worker registered with the scheduler")?.worker_id);
    const first = await cluster.client.submit({ name: "sleepy", payload: { ms: 2_500 }, maxRetries: 0 });
    await untilTaskRunning(cluster, first.taskId);
    const second = await cluster.client.submit({ name: "noop", maxRetries: 0 });
    await untilTaskRunning(cluster, second.taskId);
    // Assigned while the first still runs: held by the busy worker, not left queued for its slot.
    expect((await cluster.client.get(first.taskId)).state).toBe("running");
    const workers = await cluster.client.workers();
    expect(workers.find((w) => w.workerId === prefetching)).toMatchObject({ slots: 1, running: 2, held: 1 });
    expect(workers.find((w) => w.workerId === other)).toMatchObject({ taskNames: ["chatty"], prefetch: 0, running: 0, held: 0 });
    const table = await runCli(["workers", "--gateway", cluster.gatewayAddress]);
    expect(table.stdout).toContain(`${prefetching}  2/1 (1 held)`);
    expect((await cluster.client.get(first.taskId)).state).toBe("running");
    const results = await Promise.all([cluster.client.waitForResult(first.taskId), cluster.client.waitForResult(second.taskId)]);
    expect(results.map((r) => [r.state, r.attempt])).toEqual([["succeeded", 1], ["succeeded", 1]]);
  });
});

describe.each(storeBackends)("a Scheduler with --deadline-grace-ms 400 (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1, schedulerArgs: ["--deadline-grace-ms", "400"], workerArgs: ["--slots", "1", "--prefetch", "1"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("gives its workers half of it as the hold limit", async () => {
    const long = await cluster.client.submit({ name: "sleepy", payload: { ms: 900 }, maxRetries: 0 });
    await untilTaskRunning(cluster, long.taskId);
    const short = await cluster.client.submit({ name: "noop", maxRetries: 0 });
    const updates: TaskUpdate[] = [];
    await cluster.client.waitForResult(short.taskId, { afterSequence: 0, onUpdate: (update) => updates.push(update) });
    expect(updates.filter((update) => update.state === "retrying").map((update) => update.message)).toEqual([
      expect.stringMatching(/^attempt 1 handed back by worker \S+ \(held 200 ms without a free slot\); queued again$/),
    ]);
    expect(updates.at(-1)).toMatchObject({ state: "succeeded", attempt: 2 });
  });
});

async function untilTaskRunning(cluster: Cluster, taskId: string): Promise<void> {
  for await (const update of cluster.client.subscribe(taskId)) {
    if (update.state === "running") return;
  }
}
