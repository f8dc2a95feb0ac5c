// A client that stops reading its progress stream must not make the Gateway buffer without bound.
import { readFileSync } from "node:fs";
import { connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProgressUpdate, SubscribeProgressRequest, TaskState } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Cluster } from "../helpers/processes.js";

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:")) ?? "";
  return Number(line.replace(/\D+/g, "")) / 1024;
}

function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmHWM:")) ?? "";
  return Number(line.replace(/\D+/g, "")) / 1024;
}

/**
 * A SubscribeProgress call over bare HTTP/2, returned paused. While it is paused Node's HTTP/2
 * acknowledges nothing, so the Gateway may send at most the stream's 64 KiB window: a reader that
 * really stops. (A grpc-js client does not: while its stream is paused it keeps reading the
 * updates into a buffer of its own, about 20,000 of them here, so the Gateway would be measured
 * relaying, not holding.)
 */
function subscribeOverHttp2(address: string, taskId: string): { readAll(): Promise<ProgressUpdate[]>; close(): void } {
  const session = connect(`http://${address}`);
  const stream = session.request({ ":method": "POST", ":path": "/orchestrator.v1.Gateway/SubscribeProgress", "content-type": "application/grpc", te: "trailers" });
  const request = SubscribeProgressRequest.encode({ taskId, afterSequence: 0 }).finish();
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  frame.set(request, 5);
  stream.end(frame);
  stream.pause();
  const readAll = (): Promise<ProgressUpdate[]> => new Promise((resolve, reject) => {
    const updates: ProgressUpdate[] = [];
    let pending = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const length = pending.readUInt32BE(1);
        updates.push(ProgressUpdate.decode(pending.subarray(5, 5 + length)));
        pending = pending.subarray(5 + length);
      }
    });
    stream.on("trailers", (trailers) => {
      if (trailers["grpc-status"] !== "0") reject(new Error(`the stream ended with grpc-status ${String(trailers["grpc-status"])}: ${String(trailers["grpc-message"])}`));
    });
    stream.on("end", () => resolve(updates));
    stream.on("error", reject);
    stream.resume();
  });
  return { readAll, close: () => session.close() };
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
    const subscription = subscribeOverHttp2(cluster.gatewayAddress, taskId);
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
    // flow control (the subscription's credit on the Gateway's watch stream, then the client's
    // HTTP/2 window) the Gateway's growth is a fixed ~10 MB of windows and heap, whatever the volume.
    expect(gatewayGrowth).toBeLessThan(30);

    // The stalled subscription holds up no other: one through the same Gateway, so on the same
    // watch stream to the Scheduler, runs to its end meanwhile.
    const other = await cluster.client.submit({ name: "chatty", payload: { updates: 2000 } });
    expect((await cluster.client.waitForResult(other.taskId)).state).toBe("succeeded");

    const received = await subscription.readAll();
    subscription.close();
    expect(received.length).toBe(updates + 3);
    expect(received.every((u, i) => u.sequence === i + 1)).toBe(true);
    expect(received.at(-1)?.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
  }, 90_000);
});
