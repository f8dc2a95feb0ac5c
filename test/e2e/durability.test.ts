// kill -9 of the Scheduler with tasks queued, running and finished: nothing accepted is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskState, type ProgressUpdate } from "../../src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Cluster } from "../helpers/processes.js";

describe("the Scheduler killed with SIGKILL and restarted on the same store", () => {
  const cluster = new Cluster({ workers: 1, workerArgs: ["--slots", "2"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("keeps finished results, retries what was running and runs what was queued", async () => {
    const client = cluster.client;
    const finished = await client.submit({ name: "echo", payload: "kept" });
    await client.waitForResult(finished.taskId);

    const submitted = [];
    for (let i = 0; i < 5; i++) submitted.push(await client.submit({ name: "sleepy", payload: { ms: 1500 }, maxRetries: 3 }));
    // Two tasks start (2 slots); three stay queued.
    let assigned = 0;
    await cluster.scheduler.waitForLog((r) => r.msg === "Task assigned" && ++assigned === 2);
    const runningBefore = (await client.list({ state: "running" })).tasks.map((t) => t.taskId).sort();
    expect(runningBefore).toHaveLength(2);
    expect((await client.list({ state: "queued" })).tasks).toHaveLength(3);

    // A subscriber that is following a task when the Scheduler dies resumes on its own.
    const followed = submitted[4]?.taskId ?? "";
    const followedUpdates: ProgressUpdate[] = [];
    const following = client.waitForResult(followed, { onUpdate: (u) => followedUpdates.push(u) });

    cluster.scheduler.signal("SIGKILL");
    expect((await cluster.scheduler.exited).signal).toBe("SIGKILL");
    const worker = cluster.workers[0];
    await worker?.waitForMessage("Lost the scheduler stream; reconnecting");

    const restarted = await cluster.startScheduler();
    await restarted.waitForMessage("Worker connected");

    const terminals = await Promise.all(submitted.map(({ taskId }) => client.waitForResult(taskId)));
    expect(terminals.map((t) => t.state)).toEqual(Array(5).fill(TaskState.TASK_STATE_SUCCEEDED));
    for (const terminal of terminals) {
      const wasRunning = runningBefore.includes(terminal.taskId);
      // An attempt cut off by the crash counts as failed and is retried once.
      expect(terminal.attempt).toBe(wasRunning ? 2 : 1);
    }
    const kept = await client.get(finished.taskId);
    expect(kept.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect(Buffer.from(kept.result).toString()).toBe("kept");

    const followedTerminal = await following;
    expect(followedTerminal.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect(followedUpdates.map((u) => u.sequence)).toEqual(followedUpdates.map((_, i) => i + 1));
  });

  it("acknowledges a task only once it is stored: a submit just before the kill survives", async () => {
    const client = cluster.client;
    const accepted = await client.submit({ name: "echo", payload: "acknowledged" });
    cluster.scheduler.signal("SIGKILL");
    await cluster.scheduler.exited;
    await cluster.startScheduler();
    const terminal = await client.waitForResult(accepted.taskId);
    expect(terminal.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect(Buffer.from(terminal.result).toString()).toBe("acknowledged");
  });

  it("keeps queued tasks across a graceful stop (Ctrl+C) and restart", async () => {
    const client = cluster.client;
    const worker = cluster.workers[0];
    const queued = await client.submit({ name: "nobody-serves-this-yet", payload: "x" });
    const exit = await cluster.scheduler.stop("SIGINT");
    expect(exit.code).toBe(0);
    expect(cluster.scheduler.logs.some((r) => r.msg === "Scheduler service stopped")).toBe(true);
    await worker?.waitForMessage("Lost the scheduler stream; reconnecting");
    await cluster.startScheduler();
    const task = await client.get(queued.taskId);
    expect(task.state).toBe(TaskState.TASK_STATE_QUEUED);
    expect(task.attempt).toBe(0);
    await client.cancel(queued.taskId);
  });
});

