// Several workers: shared load, tasks handed on when a worker dies, graceful stop.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskUpdate } from "orchestrator-ts-client";
import { Cluster, type ServiceProcess } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

/** Waits until the task runs; the id of the worker running it, its process and the other one. */
async function runningOn(cluster: Cluster, taskId: string): Promise<{ holderId: string; holder: ServiceProcess | undefined; survivor: ServiceProcess | undefined }> {
  let holderId = "";
  for await (const update of cluster.client.subscribe(taskId)) {
    if (update.state === "running") {
      holderId = update.workerId ?? "";
      break;
    }
  }
  const holder = cluster.workers.find((w) => w.logs.some((r) => r.worker_id === holderId));
  return { holderId, holder, survivor: cluster.workers.find((w) => w !== holder) };
}

describe.each(storeBackends)("two workers (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 2, workerArgs: ["--slots", "2"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("share the tasks between them", async () => {
    const workers = await cluster.client.workers();
    expect(workers).toHaveLength(2);
    const submitted = [];
    for (let i = 0; i < 8; i++) submitted.push(await cluster.client.submit({ name: "sleepy", payload: { ms: 200 } }));
    const results = await Promise.all(submitted.map(({ taskId }) => cluster.client.waitForResult(taskId)));
    expect(results.every((r) => r.state === "succeeded")).toBe(true);
    const pids = new Set(results.map((r) => (JSON.parse(Buffer.from(r.result ?? "").toString()) as { pid: number }).pid));
    expect(pids).toEqual(new Set(cluster.workers.map((w) => w.pid)));
    const byWorker = new Set(results.map((r) => r.workerId));
    expect(byWorker.size).toBe(2);
  });

  it("hands a dead worker's running task to the other worker", async () => {
    const { taskId } = await cluster.client.submit({ name: "sleepy", payload: { ms: 1500 }, maxRetries: 2, retryBackoffMs: 10 });
    const { holderId, holder, survivor } = await runningOn(cluster, taskId);
    expect(holder).toBeDefined();
    holder?.signal("SIGKILL");
    await holder?.exited;
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect(terminal.attempt).toBe(2);
    expect(terminal.workerId).not.toBe(holderId);
    expect((JSON.parse(Buffer.from(terminal.result ?? "").toString()) as { pid: number }).pid).toBe(survivor?.pid);
    const task = await cluster.client.get(taskId);
    expect(task.attempt).toBe(2);
  });

  it("finishes its running task before a graceful stop (Ctrl+C)", async () => {
    const alive = (await cluster.client.workers()).map((w) => w.workerId);
    expect(alive).toHaveLength(1);
    const worker = cluster.workers.find((w) => w.logs.some((r) => r.worker_id === alive[0]));
    expect(worker).toBeDefined();
    const { taskId } = await cluster.client.submit({ name: "sleepy", payload: { ms: 800 } });
    for await (const update of cluster.client.subscribe(taskId)) {
      if (update.state === "running") break;
    }
    const exit = await worker?.stop("SIGINT");
    expect(exit?.code).toBe(0);
    expect(worker?.logs.some((r) => r.msg === "Worker service stopped")).toBe(true);
    const task = await cluster.client.get(taskId);
    expect(task.state).toBe("succeeded");
    expect(task.attempt).toBe(1);
    expect(await cluster.client.workers()).toHaveLength(0);
  });
});

describe.each(storeBackends)("a worker stopping with a task still running (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 2, workerArgs: ["--slots", "1", "--shutdown-grace-ms", "300"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("hands it back when the grace period ends, and the task runs again elsewhere without using a retry", async () => {
    const { taskId } = await cluster.client.submit({ name: "sleepy", payload: { ms: 2_000 }, maxRetries: 0 });
    const { holderId, holder, survivor } = await runningOn(cluster, taskId);
    expect(holder).toBeDefined();
    const exit = await holder?.stop("SIGINT");
    expect(exit?.code).toBe(0);
    const updates: TaskUpdate[] = [];
    const terminal = await cluster.client.waitForResult(taskId, { afterSequence: 0, onUpdate: (update) => updates.push(update) });
    // With max_retries 0 a hand-back counted as a failed attempt would have failed the task.
    expect(terminal.state).toBe("succeeded");
    expect(terminal.attempt).toBe(2);
    expect((JSON.parse(Buffer.from(terminal.result ?? "").toString()) as { pid: number }).pid).toBe(survivor?.pid);
    expect(updates.find((update) => update.state === "retrying")?.message).toBe(`attempt 1 handed back by worker ${holderId} (the worker shut down before the attempt finished); queued again`);
    expect(cluster.scheduler.logs.some((r) => r.msg === "Task attempt handed back by its worker; queued again without using a retry" && r.task_id === taskId)).toBe(true);
  });
});
