// Operator actions end to end, on every store backend: real Scheduler, Gateway and worker processes
// with API keys, driven through the SDK. A failed task retried succeeds on its second series; a
// bulk retry answers its count and the tasks run; a bulk cancel reaches a running handler; a bulk
// delete removes the finished tasks it matched and nothing else; an empty filter is refused; the
// Scheduler logs each action (queue pauses, limits and schedule changes too) with the client key's
// id, and no log holds a key. Then, in process, a
// bulk action over 5,000 tasks completes through a Gateway whose forward timeout is far shorter.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { createLogger } from "../../packages/client/src/logger.js";
import { startGatewayService } from "../../packages/server/src/gateway/service.js";
import { startSchedulerService } from "../../packages/server/src/scheduler/service.js";
import { keyIdOf } from "../../packages/server/src/util/auth.js";
import type { RunningService } from "../../packages/server/src/util/service.js";
import { Cluster, tempDir, type LogRecord } from "../helpers/processes.js";
import { createTestStore, storeBackends, type TestStore } from "../helpers/stores.js";

const key = (): string => randomBytes(32).toString("hex");

async function refusal(work: Promise<unknown>): Promise<OrchestratorError> {
  const error = await work.then(() => null, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(OrchestratorError);
  return error as OrchestratorError;
}

describe.each(storeBackends)("operator actions through the Gateway with keys (%s store)", (backend) => {
  const keys = { client: key(), gateway: key(), worker: key() };
  const cluster = new Cluster({
    store: backend,
    workers: 1,
    env: { ORCHESTRATOR_KEYS: `client:${keys.client},gateway:${keys.gateway},worker:${keys.worker}` },
    gatewayEnv: { ORCHESTRATOR_GATEWAY_KEY: keys.gateway },
    workerEnv: { ORCHESTRATOR_WORKER_KEY: keys.worker },
    client: { apiKey: keys.client },
  });
  const clientKeyId = keyIdOf(keys.client);

  beforeAll(async () => {
    await cluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster.stop();
  });

  const actionLog = (match: (record: LogRecord) => boolean): Promise<LogRecord> =>
    cluster.scheduler.waitForLog((record) => typeof record.action === "string" && match(record));

  it("a failed task, retried, succeeds on its second series; its events tell the whole story", async () => {
    const { client } = cluster;
    const { taskId } = await client.submit({ name: "fails-first", maxRetries: 0 });
    const failed = await client.waitForResult(taskId);
    expect(failed).toMatchObject({ state: "failed", attempt: 1 });

    const retried = await client.retry(taskId, { reason: "the upstream is fixed" });
    expect(retried).toMatchObject({ taskId, state: "queued", attempt: 1, maxRetries: 0 });
    // A subscription that saw the failure ended there: the new series is followed from after it.
    const updates: string[] = [];
    const succeeded = await client.waitForResult(taskId, { afterSequence: failed.sequence, onUpdate: (update) => updates.push(`${update.state}:${update.attempt}:${update.message}`) });
    expect(succeeded).toMatchObject({ state: "succeeded", attempt: 2 });
    expect(updates).toEqual([
      "queued:1:retried: a new attempt series after attempt 1 (the upstream is fixed)", "running:2:attempt 2 started", "succeeded:2:succeeded",
    ]);
    // Subscribed from the start after the retry, the stream goes past the first series' end to the second's.
    const states: string[] = [];
    for await (const update of client.subscribe(taskId)) states.push(`${update.state}:${update.attempt}`);
    expect(states).toEqual(["queued:0", "running:1", "failed:1", "queued:1", "running:2", "succeeded:2"]);
    expect(await client.waitForResult(taskId)).toMatchObject({ state: "succeeded", attempt: 2 });

    const again = await refusal(client.retry(taskId));
    expect(again.code).toBe(Code.FailedPrecondition);
    expect(again.rawMessage).toContain("only a failed or cancelled task can be retried");
    expect(await actionLog((record) => record.task_id === taskId)).toMatchObject({ action: "RetryTask", key_id: clientKeyId, reason: "the upstream is fixed", count: 1 });
  });

  it("a bulk retry of failed tasks answers their count, and they run to success", async () => {
    const { client } = cluster;
    const name = "fails-first";
    const submitted = await client.submitMany(Array.from({ length: 6 }, () => ({ name, maxRetries: 0, description: "bulk-retry" })));
    const ids = submitted.map((task) => task.taskId);
    for (const id of ids) expect((await client.waitForResult(id)).state).toBe("failed");
    const count = await client.retryTasks({ names: [name], states: ["failed"] }, { reason: "bulk" });
    // The first test's task succeeded: only this test's six were failed.
    expect(count).toBe(6);
    for (const id of ids) expect(await client.waitForResult(id, { afterSequence: 3 })).toMatchObject({ state: "succeeded", attempt: 2 });
    const listed = await client.list({ filter: { names: [name], states: ["succeeded"], createdAfter: Date.now() - 3_600_000 } });
    for (const task of listed.tasks) expect(task).toMatchObject({ name, state: "succeeded" });
    expect(listed.tasks.filter((task) => ids.includes(task.taskId))).toHaveLength(6);
    expect(await actionLog((record) => record.action === "RetryTasks")).toMatchObject({ count: 6, key_id: clientKeyId, reason: "bulk", filter: { names: [name] } });
  });

  it("a bulk cancel reaches the running handler, and a bulk delete removes only the finished tasks it matched", async () => {
    const { client } = cluster;
    const running = await client.submit({ name: "wait-for-abort" });
    for await (const update of client.subscribe(running.taskId)) if (update.message === "waiting to be aborted") break;
    const queued = await client.submit({ name: "wait-for-abort", delayMs: 3_600_000 });
    const sawAbort = cluster.workers[0]?.waitForMessage("handler saw abort");

    expect(await client.cancelTasks({ names: ["wait-for-abort"] }, { reason: "maintenance" })).toBe(2);
    await sawAbort;
    expect(await client.waitForResult(running.taskId)).toMatchObject({ state: "cancelled", error: "maintenance" });
    expect((await client.get(queued.taskId)).state).toBe("cancelled");
    expect(await actionLog((record) => record.action === "CancelTasks")).toMatchObject({ count: 2, key_id: clientKeyId });
    // A single cancel is logged as the bulk one is, with the key id the Gateway forwards.
    const single = await client.submit({ name: "wait-for-abort", delayMs: 3_600_000 });
    expect(await client.cancel(single.taskId, "one by hand")).toMatchObject({ cancelled: true });
    expect(await actionLog((record) => record.action === "CancelTask" && record.task_id === single.taskId)).toMatchObject({ count: 1, key_id: clientKeyId, reason: "one by hand" });

    const keep = await client.submit({ name: "sleepy", payload: { ms: 1 } });
    await client.waitForResult(keep.taskId);
    const before = await client.countTasks({});
    expect(await client.deleteTasks({ names: ["wait-for-abort"], states: ["cancelled"] })).toBe(3);
    expect(await client.countTasks({})).toBe(before - 3);
    expect((await refusal(client.get(running.taskId))).code).toBe(Code.NotFound);
    expect((await client.get(keep.taskId)).state).toBe("succeeded");
  });

  it("refuses an empty filter and states the action cannot apply to", async () => {
    const { client } = cluster;
    const empty = await refusal(client.deleteTasks({}));
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(empty.rawMessage).toContain("name at least one of names, states");
    const running = await refusal(client.deleteTasks({ states: ["running"] }));
    expect(running.rawMessage).toContain("filter.states also names running");
  });

  it("logs who paused, resumed and limited a queue, and who created, paused and deleted a schedule", async () => {
    const { client } = cluster;
    await client.pauseQueue("flow", { reason: "deploying" });
    await client.resumeQueue("flow");
    await client.setConcurrencyLimit("flow", 3);
    await client.clearConcurrencyLimit("flow");
    await client.setRateLimit("flow", { maxStarts: 10, perMs: 1000 });
    await client.clearRateLimit("flow");
    const schedule = await client.schedules.create({ key: "audited", cron: "0 3 * * *", task: { name: "flow" } });
    await client.schedules.pause(schedule.scheduleId);
    await client.schedules.delete(schedule.scheduleId);
    for (const [action, fields] of [
      ["PauseQueue", { name: "flow", reason: "deploying" }], ["ResumeQueue", { name: "flow" }],
      ["SetConcurrencyLimit", { name: "flow", max_running: 3 }], ["ClearConcurrencyLimit", { name: "flow" }],
      ["SetRateLimit", { name: "flow", max_starts: 10, per_ms: 1000 }], ["ClearRateLimit", { name: "flow" }],
      ["CreateSchedule", { schedule_id: schedule.scheduleId, key: "audited" }], ["UpdateSchedule", { schedule_id: schedule.scheduleId, paused: true }],
      ["DeleteSchedule", { schedule_id: schedule.scheduleId }],
    ] as const) {
      expect(await actionLog((record) => record.action === action), action).toMatchObject({ ...fields, key_id: clientKeyId });
    }
  });

  it("logs the client key's id with each action, and no log line holds a key", () => {
    const lines = cluster.scheduler.logs.filter((record) => typeof record.action === "string");
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(line.key_id).toBe(clientKeyId);
    for (const service of [cluster.scheduler, cluster.gateway, ...cluster.workers]) {
      for (const line of service.output) for (const secret of Object.values(keys)) expect(line).not.toContain(secret);
    }
  });
});

describe.each(storeBackends)("a bulk action over 5,000 tasks (%s store)", (backend) => {
  const logger = createLogger({ level: "silent" });
  const directory = tempDir("orchestrator-bulk-");
  let testStore: TestStore;
  const services: RunningService[] = [];
  let client: OrchestratorClient;
  /** Through a Gateway that gives ordinary forwarded calls 1 ms: a bulk action gets its own deadline. */
  let hurried: OrchestratorClient;

  beforeAll(async () => {
    testStore = await createTestStore(backend, directory.path);
    const scheduler = await startSchedulerService({ port: 0, dataDir: directory.path, store: testStore.url }, { logger });
    services.push(scheduler);
    const gateway = await startGatewayService({ port: 0, schedulerAddress: scheduler.address }, { logger });
    const hurriedGateway = await startGatewayService({ port: 0, schedulerAddress: scheduler.address, forwardTimeoutMs: 1 }, { logger });
    services.push(gateway, hurriedGateway);
    client = new OrchestratorClient({ address: gateway.address });
    hurried = new OrchestratorClient({ address: hurriedGateway.address });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    hurried?.close();
    for (const service of services.reverse()) await service.stop();
    await testStore?.remove();
    directory.remove();
  });

  it("cancels them all, in batches, however short the Gateway's forward timeout", async () => {
    for (let batch = 0; batch < 5; batch++) {
      await client.submitMany(Array.from({ length: 1000 }, () => ({ name: "nobody-serves-this", delayMs: 3_600_000 })));
    }
    expect(await client.countTasks({ names: ["nobody-serves-this"], states: ["scheduled"] })).toBe(5000);
    expect(await hurried.cancelTasks({ names: ["nobody-serves-this"] })).toBe(5000);
    expect(await client.countTasks({ names: ["nobody-serves-this"], states: ["cancelled"] })).toBe(5000);
    expect(await hurried.deleteTasks({ names: ["nobody-serves-this"] })).toBe(5000);
    expect(await client.countTasks({ names: ["nobody-serves-this"] })).toBe(0);
  }, 120_000);
});
