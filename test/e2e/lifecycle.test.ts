// What happens to a task between submit and its end: retries, timeouts, cancellation, lookups.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

describe.each(storeBackends)("task lifecycle through real processes (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1 });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("retries a failing handler with backoff until it succeeds", async () => {
    const { taskId } = await cluster.client.submit({ name: "flaky", payload: { fail_attempts: 2 }, maxRetries: 3, retryBackoffMs: 20 });
    const states: string[] = [];
    const terminal = await cluster.client.waitForResult(taskId, { onUpdate: (u) => states.push(`${u.state}:${u.attempt}`) });
    expect(terminal.state).toBe("succeeded");
    expect(terminal.attempt).toBe(3);
    expect(states.filter((s) => s.startsWith("retrying"))).toEqual(["retrying:1", "retrying:2"]);
    const retrying = (await cluster.client.get(taskId));
    expect(retrying.attempt).toBe(3);
  });

  it("gives up after max_retries + 1 attempts", async () => {
    const { taskId } = await cluster.client.submit({ name: "flaky", maxRetries: 2, retryBackoffMs: 10 });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("failed");
    expect(terminal.attempt).toBe(3);
    expect(terminal.error).toBe("attempt 3 failed on purpose");
    const task = await cluster.client.get(taskId);
    expect(task.state).toBe("failed");
    expect(task.attempt).toBe(3);
    expect(task.finishedAt).toBeInstanceOf(Date);
  });

  it("ends at once when the handler declares the failure non-retryable", async () => {
    const { taskId } = await cluster.client.submit({ name: "non-retryable", maxRetries: 5, retryBackoffMs: 10 });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("failed");
    expect(terminal.attempt).toBe(1);
    expect(terminal.error).toBe("the input can never succeed");
  });

  it("aborts an attempt that outlives timeout_secs on the worker, then retries it", async () => {
    const worker = cluster.workers[0];
    const { taskId } = await cluster.client.submit({ name: "wait-for-abort", timeoutSecs: 1, maxRetries: 1, retryBackoffMs: 10 });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("failed");
    expect(terminal.attempt).toBe(2);
    expect(terminal.error).toMatch(/timed out after 1 s/);
    // Each attempt's handler was told through its AbortSignal: nothing is left running.
    const aborted = worker?.logs.filter((r) => r.msg === "handler saw abort" && r.task_id === taskId) ?? [];
    expect(aborted.map((r) => r.attempt).sort()).toEqual([1, 2]);
    expect(aborted.every((r) => String(r.reason).includes("timed out"))).toBe(true);
  });

  it("cancels a running task: the handler sees the abort and the task ends cancelled", async () => {
    const worker = cluster.workers[0];
    const { taskId } = await cluster.client.submit({ name: "wait-for-abort", timeoutSecs: 60 });
    const updates = cluster.client.subscribe(taskId);
    for await (const update of updates) {
      if (update.percent === 5) break; // the handler is running
    }
    const outcome = await cluster.client.cancel(taskId, "no longer needed");
    expect(outcome).toEqual({ state: "cancelled", cancelled: true });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("cancelled");
    expect(terminal.error).toBe("no longer needed");
    await worker?.waitForLog((r) => r.msg === "handler saw abort" && r.task_id === taskId);
    const again = await cluster.client.cancel(taskId);
    expect(again).toEqual({ state: "cancelled", cancelled: false });
  });

  it("keeps a task no worker can run queued until such a worker connects", async () => {
    const { taskId } = await cluster.client.submit({ name: "only-on-late-worker", payload: "late" });
    const queued = await cluster.client.get(taskId);
    expect(queued.state).toBe("queued");
    const late = await cluster.addWorker(["--no-examples", "--handlers", new URL("../fixtures/late-handlers.mjs", import.meta.url).pathname]);
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect(Buffer.from(terminal.result ?? "").toString()).toBe("LATE");
    expect(late.logs.some((r) => r.task_id === taskId)).toBe(true);
  });

  it("gets one task and lists tasks by state and name, page by page", async () => {
    const submitted = [];
    for (let i = 0; i < 3; i++) submitted.push(await cluster.client.submit({ name: "echo", payload: `item ${i}` }));
    for (const { taskId } of submitted) await cluster.client.waitForResult(taskId);
    const task = await cluster.client.get(submitted[0]?.taskId ?? "");
    expect(task).toMatchObject({ name: "echo", state: "succeeded", attempt: 1 });
    expect(Buffer.from(task.result ?? "").toString()).toBe("item 0");
    expect(task.startedAt?.getTime()).toBeGreaterThanOrEqual(task.createdAt.getTime());
    expect(task.finishedAt?.getTime()).toBeGreaterThanOrEqual(task.startedAt?.getTime() ?? Infinity);

    const first = await cluster.client.list({ name: "echo", state: "succeeded", pageSize: 2 });
    expect(first.tasks.map((t) => t.taskId)).toEqual([submitted[2]?.taskId, submitted[1]?.taskId]);
    expect(first.nextPageToken).not.toBe("");
    const second = await cluster.client.list({ name: "echo", state: "succeeded", pageSize: 2, pageToken: first.nextPageToken });
    expect(second.tasks.map((t) => t.taskId)).toEqual([submitted[0]?.taskId]);
    expect(second.nextPageToken).toBeUndefined();
    const failed = await cluster.client.list({ state: "failed" });
    expect(failed.tasks.every((t) => t.state === "failed")).toBe(true);
    expect(failed.tasks.length).toBeGreaterThan(0);
  });

  it("answers NOT_FOUND for a task that does not exist", async () => {
    await expect(cluster.client.get("550e8400-e29b-41d4-a716-446655440000")).rejects.toMatchObject({ code: Code.NotFound });
  });
});
