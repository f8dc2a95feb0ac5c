// The SDK as a user writes it: a Worker with inline handlers and a client, against real services.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrchestratorClient, TaskFailure, Worker, type TaskContext } from "../../packages/client/src/index.js";
import { createLogger } from "../../packages/client/src/logger.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

describe.each(storeBackends)("SDK worker and client (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 0 });
  let worker: Worker;
  const seen: Array<{ attempt: number; aborted: boolean }> = [];

  beforeAll(async () => {
    await cluster.start();
    worker = new Worker({
      schedulerAddress: cluster.schedulerAddress,
      slots: 4,
      handlers: {
        "sdk-sum": async (ctx: TaskContext) => {
          const numbers = JSON.parse(ctx.payload.toString()) as number[];
          ctx.progress(50, `adding ${numbers.length} numbers`);
          await new Promise((resolve) => setImmediate(resolve));
          seen.push({ attempt: ctx.attempt, aborted: ctx.signal.aborted });
          return { sum: numbers.reduce((a, b) => a + b, 0) };
        },
        "sdk-reject": () => {
          throw TaskFailure.nonRetryable("numbers only");
        },
      },
    }, createLogger({ level: "silent" }));
    const connected = new Promise((resolve) => worker.once("connected", resolve));
    worker.start();
    await connected;
  });

  afterAll(async () => {
    await worker?.stop();
    await cluster.stop();
  });

  it("runs an inline handler: progress, result as JSON, attempt and signal in the context", async () => {
    const client = new OrchestratorClient({ address: cluster.gatewayAddress });
    try {
      const { taskId } = await client.submit({ name: "sdk-sum", payload: [1, 2, 3, 4] });
      const updates = [];
      for await (const update of client.subscribe(taskId)) updates.push(update);
      expect(updates.map((u) => u.state)).toEqual([
        "queued", "running", "running", "succeeded",
      ]);
      expect(updates[2]).toMatchObject({ percent: 50, message: "adding 4 numbers" });
      expect(JSON.parse(Buffer.from(updates[3]?.result ?? []).toString())).toEqual({ sum: 10 });
      expect(seen).toEqual([{ attempt: 1, aborted: false }]);
      const workers = await client.workers();
      expect(workers.map((w) => w.workerId)).toEqual([worker.workerId]);
      expect(workers[0]?.taskNames.sort()).toEqual(["sdk-reject", "sdk-sum"]);
    } finally {
      client.close();
    }
  });

  it("ends the task when the handler throws TaskFailure.nonRetryable", async () => {
    const { taskId } = await cluster.client.submit({ name: "sdk-reject", maxRetries: 3 });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal).toMatchObject({ state: "failed", attempt: 1, error: "numbers only" });
  });

  it("submits a batch in one call, all or none", async () => {
    const accepted = await cluster.client.submitMany([
      { name: "sdk-sum", payload: [1] },
      { name: "sdk-sum", payload: [2, 3] },
    ]);
    expect(accepted).toHaveLength(2);
    const results = await Promise.all(accepted.map(({ taskId }) => cluster.client.waitForResult(taskId)));
    expect(results.map((r) => JSON.parse(Buffer.from(r.result ?? "").toString()) as unknown)).toEqual([{ sum: 1 }, { sum: 5 }]);
  });
});
