// A client that stops reading its progress stream must not make the Gateway buffer without bound.
import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayClient, TaskState, type ProgressUpdate } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Cluster } from "../helpers/processes.js";

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:")) ?? "";
  return Number(line.replace(/\D+/g, "")) / 1024;
}

function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmHWM:")) ?? "";
  return Number(line.replace(/\D+/g, "")) / 1024;
}

describe("a slow SubscribeProgress reader", () => {
  const cluster = new Cluster({ workers: 0 });

  beforeAll(async () => {
    await cluster.start();
    await cluster.addWorker(["--handlers", new URL("../fixtures/chatty-handlers.mjs", import.meta.url).pathname]);
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("is flow-controlled end to end: the Gateway grows far less than the 40 MB of updates waiting, and the reader later gets every one in order", async () => {
    const updates = 40_000;
    const gatewayBefore = rssMb(cluster.gateway.pid);
    const { taskId } = await cluster.client.submit({ name: "chatty", payload: { updates } });
    const raw = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    const stream = raw.subscribeProgress({ taskId, afterSequence: 0 });
    stream.pause();
    // The task finishes (all its updates stored) while nobody reads the stream.
    for (let i = 0; i < 600; i++) {
      const task = await cluster.client.get(taskId);
      if (task.state === "succeeded") break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await cluster.client.get(taskId)).state).toBe("succeeded");
    // Let whatever the Scheduler can still push settle: until the Gateway's size holds still for 1 s.
    let last = rssMb(cluster.gateway.pid);
    for (let steady = 0, i = 0; steady < 10 && i < 150; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = rssMb(cluster.gateway.pid);
      steady = Math.abs(now - last) < 0.5 ? steady + 1 : 0;
      last = now;
    }
    const gatewayGrowth = peakRssMb(cluster.gateway.pid) - gatewayBefore;
    // Unbounded buffering would hold all ~40 MB of updates (several times that as objects); with
    // flow control the Gateway's growth is a fixed ~20 MB of windows and heap, whatever the volume.
    expect(gatewayGrowth).toBeLessThan(30);

    const received: ProgressUpdate[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (update: ProgressUpdate) => received.push(update));
      stream.on("end", () => resolve());
      stream.on("error", reject);
      stream.resume();
    });
    raw.close();
    expect(received.length).toBe(updates + 3);
    expect(received.every((u, i) => u.sequence === i + 1)).toBe(true);
    expect(received.at(-1)?.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
  }, 90_000);
});
