// "Acknowledged means committed" seen by a client of the Gateway: the Scheduler and the Gateway
// run in this process over real gRPC, the Scheduler on a gated store whose commits the test holds
// open. (scheduler-suite.ts checks the same at the Scheduler's own gRPC face, turn by turn.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { createLogger } from "../../packages/client/src/logger.js";
import { startGatewayService } from "../../packages/server/src/gateway/service.js";
import { startSchedulerService } from "../../packages/server/src/scheduler/service.js";
import type { RunningService } from "../../packages/server/src/util/service.js";
import { gated, heldOpen, type GatedStore } from "../helpers/gated-store.js";
import { tempDir } from "../helpers/processes.js";
import { createTestStore, storeBackends, type TestStore } from "../helpers/stores.js";

const logger = createLogger({ level: "silent" });

/** Waits, one event-loop turn at a time, until `condition` holds. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe.each(storeBackends)("acknowledgements through the Gateway (%s store)", (backend) => {
  const directory = tempDir("orchestrator-ack-");
  let testStore: TestStore;
  let store: GatedStore;
  const services: RunningService[] = [];
  /** SubmitStream (the SDK's pipeline) and SubmitTasks go through one client; SubmitTask through the other. */
  let streaming: OrchestratorClient;
  let unary: OrchestratorClient;

  beforeAll(async () => {
    testStore = await createTestStore(backend, directory.path);
    store = gated(await testStore.open());
    const scheduler = await startSchedulerService({ port: 0, dataDir: directory.path, store: testStore.url }, { store, logger });
    services.push(scheduler);
    services.push(await startGatewayService({ port: 0, schedulerAddress: scheduler.address }, { logger }));
    streaming = new OrchestratorClient({ address: services[1]?.address ?? "" });
    unary = new OrchestratorClient({ address: services[1]?.address ?? "", pipeline: false });
  });

  afterAll(async () => {
    streaming?.close();
    unary?.close();
    for (const service of services.reverse()) await service.stop();
    await testStore?.remove();
    directory.remove();
  });

  it("answers SubmitTask, SubmitTasks and SubmitStream only after the Scheduler's store has completed their commit", async () => {
    // The connections (client to Gateway, Gateway to Scheduler, the submit streams) are up first.
    await Promise.all([streaming.submit({ name: "warm-up" }), unary.submit({ name: "warm-up" }), streaming.list({ name: "warm-up" })]);
    store.enqueues.length = 0;
    const held = heldOpen();
    store.commitGate = held.gate;
    let released = false;
    const answered: Array<{ call: string; released: boolean }> = [];
    const answer = (call: string) => (taskIds: string[]): string[] => {
      answered.push({ call, released });
      return taskIds;
    };
    const submits = [
      unary.submit({ name: "via-submit-task" }).then((s) => answer("SubmitTask")([s.taskId])),
      streaming.submitMany([{ name: "via-submit-tasks" }, { name: "via-submit-tasks" }]).then((s) => answer("SubmitTasks")(s.map((t) => t.taskId))),
      streaming.submit({ name: "via-submit-stream" }).then((s) => answer("SubmitStream")([s.taskId])),
    ];

    // The store has committed all four tasks; the Scheduler has not heard so yet.
    const committed = (): string[] => store.enqueues.filter((call) => call.committed).flatMap((call) => call.names).sort();
    await until(() => committed().length === 4, "the commits");
    expect(committed()).toEqual(["via-submit-stream", "via-submit-task", "via-submit-tasks", "via-submit-tasks"]);
    // A round trip on each client's connection, through the Gateway to the Scheduler and back: an
    // answer sent before it would have come back before it.
    await Promise.all([streaming.list({ name: "via-submit-task" }), unary.list({ name: "via-submit-task" })]);
    expect(answered).toEqual([]);

    store.commitGate = null;
    released = true;
    held.release();
    const ids = (await Promise.all(submits)).flat();
    expect(answered.map((a) => a.call).sort()).toEqual(["SubmitStream", "SubmitTask", "SubmitTasks"]);
    expect(answered.every((a) => a.released)).toBe(true);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect((await streaming.get(id)).state).toBe("queued");
  });
});
