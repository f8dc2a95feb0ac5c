// One client dropping a thousand subscriptions at once must not break other clients' calls. The
// Gateway serves every subscription on one Watch stream to the Scheduler, so a dropped one is an
// unsubscribe message there, not an HTTP/2 RST_STREAM (a burst of those would make Node's
// "rapid reset" guard close the Gateway's one connection to the Scheduler).
import { credentials, type ClientReadableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayClient, type ProgressUpdate } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

function firstUpdate(stream: ClientReadableStream<ProgressUpdate>): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once("data", () => resolve());
    stream.once("error", reject);
  });
}

describe.each(storeBackends)("a client that cancels many subscriptions at once (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1 });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("does not break other clients' calls through the Gateway's connection to the Scheduler", async () => {
    const victim = cluster.client.submit({ name: "sleepy", payload: { ms: 4000 } });
    const { taskId: victimTask } = await victim;
    const victimResult = cluster.client.waitForResult(victimTask);

    const waiting = await cluster.client.submitMany(Array.from({ length: 1000 }, () => ({ name: "nobody-serves-this" })));
    for (let round = 0; round < 2; round++) {
      // A connection of its own, as another application would have.
      const storm = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
      const streams = waiting.map(({ taskId }) => storm.subscribeProgress({ taskId, afterSequence: 0 }));
      await Promise.all(streams.map(firstUpdate));
      for (const stream of streams) {
        stream.on("error", () => undefined);
        stream.cancel();
      }
      storm.close();
    }

    const terminal = await victimResult;
    expect(terminal.state).toBe("succeeded");
    const after = await cluster.client.submit({ name: "echo", payload: "still serving" });
    expect(Buffer.from((await cluster.client.waitForResult(after.taskId)).result ?? "").toString()).toBe("still serving");
    expect(cluster.gateway.logs.filter((r) => r.level === "error")).toEqual([]);
    // The Gateway's watch stream to the Scheduler never broke.
    const watchLogs = cluster.gateway.logs.filter((r) => String(r.msg).includes("watch stream")).map((r) => String(r.msg));
    expect(watchLogs).toEqual([expect.stringMatching(/^Opening the watch stream to the scheduler at /)]);
  }, 60_000);
});
