// The batched paths: pipelined SDK submits, the Gateway coalescing them onto its SubmitStream to the Scheduler, group commit.
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayClient } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { SubmitStreamRequest, SubmitStreamResponse } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { Cluster } from "../helpers/processes.js";
import { readAllTasks, storeBackends, type TestStore } from "../helpers/stores.js";

async function storedTasks(testStore: TestStore): Promise<Array<{ id: string; state: string; attempt: number; name: string }>> {
  return [...(await readAllTasks(testStore)).tasks.values()];
}

describe.each(storeBackends)("batched submit paths (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1, workerArgs: ["--slots", "64"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("answers each of 2,500 concurrent pipelined submits on its own, across coalescing batch boundaries", async () => {
    const specs = Array.from({ length: 2500 }, (_, i) => (i % 97 === 13 ? { name: "bad name!", payload: String(i) } : { name: "noop", payload: String(i) }));
    const outcomes = await Promise.allSettled(specs.map((spec) => cluster.client.submit(spec)));
    const refused = outcomes.flatMap((o, i) => (o.status === "rejected" ? [i] : []));
    expect(refused).toEqual(specs.flatMap((s, i) => (s.name === "bad name!" ? [i] : [])));
    for (const index of refused) {
      const outcome = outcomes[index];
      expect(outcome?.status === "rejected" && (outcome.reason as { code: number }).code).toBe(Code.InvalidArgument);
    }
    const ids = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.taskId] : []));
    expect(new Set(ids).size).toBe(ids.length);
    await Promise.all(ids.slice(-20).map((id) => cluster.client.waitForResult(id)));
    // Everything acknowledged was stored once and runs exactly once.
    const results = await Promise.all(ids.map((id) => cluster.client.get(id)));
    expect(results.every((t) => t.state === "succeeded" && t.attempt === 1)).toBe(true);
    const stored = (await storedTasks(cluster.testStore)).filter((t) => t.name === "noop");
    expect(stored).toHaveLength(ids.length);
  });

  /** Writes `messages` on a raw SubmitStream, half-closes it, and returns every message the Gateway sent back. */
  async function rawSubmitStream(messages: SubmitStreamRequest[]): Promise<SubmitStreamResponse[]> {
    const raw = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    try {
      const stream = raw.submitStream(new Metadata());
      const received: SubmitStreamResponse[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        stream.on("data", (response: SubmitStreamResponse) => received.push(response));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      for (const message of messages) stream.write(message);
      stream.end();
      await ended;
      return received;
    } finally {
      raw.close();
    }
  }

  it("answers a batched SubmitStream message (`more`) once per request, in batched answers", async () => {
    const requests: SubmitStreamRequest[] = Array.from({ length: 300 }, (_, i) => ({
      requestId: 1000 + i,
      task: i === 7 ? undefined : { name: i === 42 ? "bad name!" : "noop", description: "", payload: Buffer.from(String(i)), idempotencyKey: "", traceContext: {} },
      more: [],
    }));
    const [first, ...more] = requests;
    const messages = await rawSubmitStream([{ ...first!, more }]);
    const answers = messages.flatMap((message) => [message, ...message.more]);
    expect(answers.map((a) => a.requestId).sort((a, b) => a - b)).toEqual(requests.map((r) => r.requestId));
    expect(messages.length).toBeLessThan(answers.length);
    const byId = new Map(answers.map((a) => [a.requestId, a]));
    expect(byId.get(1007)?.error).toMatchObject({ code: Code.InvalidArgument, message: "task is required" });
    expect(byId.get(1042)?.error?.code).toBe(Code.InvalidArgument);
    const accepted = answers.filter((a) => a.accepted);
    expect(accepted).toHaveLength(298);
    expect(new Set(accepted.map((a) => a.accepted?.taskId)).size).toBe(298);
    const stored = new Set((await storedTasks(cluster.testStore)).map((t) => t.id));
    expect(accepted.every((a) => stored.has(a.accepted?.taskId ?? ""))).toBe(true);
  });

  it("answers a client that does not batch one message per submit, as before `more` existed", async () => {
    const requests: SubmitStreamRequest[] = Array.from({ length: 50 }, (_, i) => ({
      requestId: i + 1, task: { name: "noop", description: "", payload: Buffer.alloc(0), idempotencyKey: "", traceContext: {} }, more: [],
    }));
    const messages = await rawSubmitStream(requests);
    expect(messages).toHaveLength(50);
    expect(messages.every((m) => m.more.length === 0 && m.accepted?.taskId)).toBe(true);
    expect(messages.map((m) => m.requestId).sort((a, b) => a - b)).toEqual(requests.map((r) => r.requestId));
  });

  it("coalesces concurrent unary SubmitTask calls without mixing up their answers", async () => {
    const client = new OrchestratorClient({ address: cluster.gatewayAddress, pipeline: false });
    try {
      const payloads = Array.from({ length: 300 }, (_, i) => `unary ${i}`);
      const submitted = await Promise.all(payloads.map((payload) => client.submit({ name: "echo", payload })));
      const results = await Promise.all(submitted.map(({ taskId }) => client.waitForResult(taskId)));
      expect(results.map((r) => Buffer.from(r.result ?? "").toString())).toEqual(payloads);
    } finally {
      client.close();
    }
  });

  it("refuses a SubmitTasks batch as a whole when one task is invalid", async () => {
    const before = (await storedTasks(cluster.testStore)).length;
    await expect(cluster.client.submitMany([{ name: "noop" }, { name: "" }, { name: "noop" }])).rejects.toMatchObject({ code: Code.InvalidArgument });
    expect((await storedTasks(cluster.testStore)).length).toBe(before);
  });

  it("keeps every acknowledged task of a batch when the Scheduler dies between commit and dispatch", async () => {
    // No worker serves this name, so the batch is committed but not dispatched when the Scheduler dies.
    const accepted = await cluster.client.submitMany(Array.from({ length: 500 }, (_, i) => ({ name: "only-on-late-worker", payload: `late ${i}` })));
    cluster.scheduler.signal("SIGKILL");
    await cluster.scheduler.exited;
    await cluster.startScheduler();
    await cluster.addWorker(["--no-examples", "--handlers", new URL("../fixtures/late-handlers.mjs", import.meta.url).pathname]);
    const results = await Promise.all(accepted.map(({ taskId }) => cluster.client.waitForResult(taskId)));
    expect(results.map((r) => Buffer.from(r.result ?? "").toString())).toEqual(accepted.map((_, i) => `LATE ${i}`));
    expect(results.every((r) => r.attempt === 1)).toBe(true);
  });
});
