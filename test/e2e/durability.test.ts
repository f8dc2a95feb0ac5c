// kill -9 of the Scheduler with tasks queued, running and finished: nothing accepted is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskUpdate } from "../../packages/client/src/types.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

describe.each(storeBackends)("the Scheduler killed with SIGKILL and restarted on the same store (%s store)", (store) => {
  // A lease long enough that the worker surely reconnects before it runs out.
  const cluster = new Cluster({ store, workers: 1, workerArgs: ["--slots", "2"], schedulerArgs: ["--lease-ms", "10000"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("keeps finished results, lets the reconnected worker finish what was running, and runs what was queued", async () => {
    const client = cluster.client;
    const finished = await client.submit({ name: "echo", payload: "kept" });
    await client.waitForResult(finished.taskId);

    const submitted = [];
    // Long enough to be still running when the restarted Scheduler is back (it takes a second or two to start).
    for (let i = 0; i < 5; i++) submitted.push(await client.submit({ name: "sleepy", payload: { ms: 4000 }, maxRetries: 3 }));
    // Two tasks start (2 slots); three stay queued.
    let assigned = 0;
    await cluster.scheduler.waitForLog((r) => r.msg === "Task assigned" && ++assigned === 2);
    const runningBefore = (await client.list({ state: "running" })).tasks.map((t) => t.taskId).sort();
    expect(runningBefore).toHaveLength(2);
    expect((await client.list({ state: "queued" })).tasks).toHaveLength(3);

    // A subscriber that is following a task when the Scheduler dies resumes on its own.
    const followed = submitted[4]?.taskId ?? "";
    const followedUpdates: TaskUpdate[] = [];
    const following = client.waitForResult(followed, { onUpdate: (u) => followedUpdates.push(u) });

    cluster.scheduler.signal("SIGKILL");
    expect((await cluster.scheduler.exited).signal).toBe("SIGKILL");
    const worker = cluster.workers[0];
    await worker?.waitForMessage("Lost the scheduler stream; reconnecting");

    const restarted = await cluster.startScheduler();
    await restarted.waitForMessage("Worker connected");

    const terminals = await Promise.all(submitted.map(({ taskId }) => client.waitForResult(taskId)));
    expect(terminals.map((t) => t.state)).toEqual(Array(5).fill("succeeded"));
    // The worker kept running its two attempts through the crash and reported them on reconnect.
    expect(terminals.map((t) => t.attempt)).toEqual([1, 1, 1, 1, 1]);
    const adopted = restarted.logs.filter((r) => r.msg === "Adopted a running attempt after reconnect").map((r) => r.task_id).sort();
    expect(adopted).toEqual(runningBefore);
    const kept = await client.get(finished.taskId);
    expect(kept.state).toBe("succeeded");
    expect(Buffer.from(kept.result ?? "").toString()).toBe("kept");

    const followedTerminal = await following;
    expect(followedTerminal.state).toBe("succeeded");
    expect(followedUpdates.map((u) => u.sequence)).toEqual(followedUpdates.map((_, i) => i + 1));
  });

  it("acknowledges a task only once it is stored: a submit just before the kill survives", async () => {
    const client = cluster.client;
    const accepted = await client.submit({ name: "echo", payload: "acknowledged" });
    cluster.scheduler.signal("SIGKILL");
    await cluster.scheduler.exited;
    await cluster.startScheduler();
    const terminal = await client.waitForResult(accepted.taskId);
    expect(terminal.state).toBe("succeeded");
    expect(Buffer.from(terminal.result ?? "").toString()).toBe("acknowledged");
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
    expect(task.state).toBe("queued");
    expect(task.attempt).toBe(0);
    await client.cancel(queued.taskId);
  });
});

describe.each(storeBackends)("the Scheduler and the worker killed together (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1, workerArgs: ["--slots", "2"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("retries the attempts that were running once their lease runs out, on a new worker", async () => {
    const client = cluster.client;
    const submitted = [];
    for (let i = 0; i < 3; i++) submitted.push(await client.submit({ name: "sleepy", payload: { ms: 1000 }, maxRetries: 3 }));
    let assigned = 0;
    await cluster.scheduler.waitForLog((r) => r.msg === "Task assigned" && ++assigned === 2);
    const runningBefore = (await client.list({ state: "running" })).tasks.map((t) => t.taskId);
    expect(runningBefore).toHaveLength(2);
    cluster.workers[0]?.signal("SIGKILL");
    cluster.scheduler.signal("SIGKILL");
    await Promise.all([cluster.workers[0]?.exited, cluster.scheduler.exited]);

    const restarted = await cluster.startScheduler();
    await cluster.addWorker(["--slots", "2"]);
    const terminals = await Promise.all(submitted.map(({ taskId }) => client.waitForResult(taskId)));
    expect(terminals.map((t) => t.state)).toEqual(Array(3).fill("succeeded"));
    for (const terminal of terminals) expect(terminal.attempt).toBe(runningBefore.includes(terminal.taskId) ? 2 : 1);
    const expired = restarted.logs.filter((r) => r.msg === "Task attempt failed; retrying" && String(r.error).includes("lease")).map((r) => r.task_id).sort();
    expect(expired).toEqual([...runningBefore].sort());
  });
});
