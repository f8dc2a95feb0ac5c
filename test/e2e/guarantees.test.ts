// One test per guarantee of the README's "Guarantees" section, against real processes.
import { credentials, Metadata, type ClientReadableStream } from "@grpc/grpc-js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { GatewayClient, type ProgressUpdate } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { isTerminal } from "../../packages/client/src/protocol/states.js";
import type { TaskUpdate } from "../../packages/client/src/types.js";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { Cluster, startService, tempDir, type LogRecord, type ServiceProcess } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";
import { refusal } from "../helpers/grpc.js";
import { delay, Follower, readStore, sequenceProblems } from "../helpers/chaos.js";

const progressHandlers = fileURLToPath(new URL("../fixtures/progress-handlers.mjs", import.meta.url));
// The Cluster's timings: a worker is presumed dead after 2 s of silence; a lease lasts 2 s from
// the worker's last message; the Scheduler sweeps (and workers heartbeat) every 200 ms.
const leaseMs = 2000;
const heartbeatMs = 200;

const workerIdOf = (worker: ServiceProcess | undefined): string => String(worker?.logs.find((r) => r.msg === "Worker registered with the scheduler")?.worker_id ?? "");
const resultOf = (bytes: Uint8Array | null): Record<string, unknown> => JSON.parse(Buffer.from(bytes ?? new Uint8Array()).toString("utf8")) as Record<string, unknown>;

describe.each(storeBackends)("guarantees (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1, workerArgs: ["--handlers", progressHandlers] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    for (const worker of cluster.workers) worker.signal("SIGCONT");
    await cluster.stop();
  });

  it("a worker paused with SIGSTOP has its task retried within the lease, and its late result is rejected after SIGCONT", async () => {
    const client = cluster.client;
    const paused = cluster.workers[0];
    const pausedId = workerIdOf(paused);
    expect(pausedId).not.toBe("");
    // Each attempt holds until the test writes its file: attempt 2 may end at once; attempt 1 may end
    // only once its worker is paused, so it cannot finish before the pause however late the test sees it run.
    const releases = tempDir("orchestrator-release-");
    writeFileSync(join(releases.path, "attempt-2"), "");
    const { taskId } = await client.submit({ name: "holds-each-attempt", payload: { dir: releases.path }, maxRetries: 3, retryBackoffMs: 10 });
    const follower = new Follower(client, taskId);
    await follower.waitFor((u) => u.state === "running" && u.attempt === 1);
    await paused?.waitForLog((r) => r.msg === "holding until released" && r.task_id === taskId && r.attempt === 1);

    // Its stream stays open, but it says nothing any more.
    paused?.signal("SIGSTOP");
    const pausedAt = Date.now();
    writeFileSync(join(releases.path, "attempt-1"), "");
    try {
      const other = await cluster.addWorker();
      const otherId = workerIdOf(other);
      const running = await client.get(taskId);
      expect({ state: running.state, attempt: running.attempt, workerId: running.workerId }).toEqual({ state: "running", attempt: 1, workerId: pausedId });

      // Retried on the other worker once the lease (counted from the paused worker's last message) ran out.
      const second = await follower.waitFor((u) => u.state === "running" && u.attempt === 2, 10_000);
      const retriedAfterMs = second.timestamp.getTime() - pausedAt;
      expect(second.workerId).toBe(otherId);
      // Its last message came at most one heartbeat before the pause; the sweep runs every heartbeat.
      expect(retriedAfterMs).toBeGreaterThanOrEqual(leaseMs - 2 * heartbeatMs - 100);
      expect(retriedAfterMs).toBeLessThanOrEqual(leaseMs + 1000);
      // (Log lines travel on their own pipe, so they are waited for, not assumed already read.)
      const retry = await cluster.scheduler.waitForLog((r) => r.msg === "Task attempt failed; retrying" && r.task_id === taskId, 2000);
      expect(retry).toMatchObject({ attempt: 1, error: "the worker stopped renewing its lease" });
      // Presumed dead after worker-timeout-ms of silence (the same sweep, or the next one).
      await cluster.scheduler.waitForLog((r) => r.msg === "Worker disconnected" && r.worker_id === pausedId && /stopped answering/.test(String(r.reason)), 2000);

      const terminal = await follower.done;
      expect(terminal).toMatchObject({ state: "succeeded", attempt: 2, workerId: otherId });
      expect(resultOf(terminal?.result ?? new Uint8Array()).pid).toBe(other.pid);

      // Resumed, the paused worker's handler finishes; it reconnects and reports attempt 1's result, which is fenced.
      paused?.signal("SIGCONT");
      const rejected = await cluster.scheduler.waitForLog((r) => r.msg === "Rejected the result of an attempt that is no longer current" && r.task_id === taskId, 10_000);
      expect(rejected).toMatchObject({ attempt: 1, worker_id: pausedId });
      await paused?.waitForLog((r) => r.msg === "Task attempt finished" && r.task_id === taskId, 2000);
      let registrations = 0;
      await paused?.waitForLog((r) => r.msg === "Worker registered with the scheduler" && ++registrations === 2, 2000);

      const task = await client.get(taskId);
      expect({ state: task.state, attempt: task.attempt, workerId: task.workerId }).toEqual({ state: "succeeded", attempt: 2, workerId: otherId });
      expect(resultOf(task.result).pid).toBe(other.pid);
      expect(sequenceProblems(follower.updates.map((u) => u.sequence))).toBeNull();
      expect(follower.updates.filter((u) => isTerminal(u.state))).toHaveLength(1);
      expect(task.lastSequence).toBe(follower.updates.length);
    } finally {
      paused?.signal("SIGCONT");
      follower.close();
      releases.remove();
    }
  });

  it("a paused worker's success for attempt 1, arriving while attempt 2 runs on another worker, is refused; attempt 2's result is recorded", async () => {
    const client = cluster.client;
    const releases = tempDir("orchestrator-release-");
    const release = (attempt: number): void => writeFileSync(join(releases.path, `attempt-${attempt}`), "");
    // Each attempt holds until the test writes its file.
    const { taskId } = await client.submit({ name: "holds-each-attempt", payload: { dir: releases.path }, maxRetries: 3, retryBackoffMs: 10 });
    const follower = new Follower(client, taskId);
    const first = await follower.waitFor((u) => u.state === "running" && u.attempt === 1);
    const paused = cluster.workers.find((w) => workerIdOf(w) === first.workerId);
    if (!paused) throw new Error(`no worker process is ${first.workerId}`);
    await paused.waitForLog((r) => r.msg === "holding until released" && r.task_id === taskId && r.attempt === 1);
    paused.signal("SIGSTOP");
    // Attempt 1 may end now; its paused worker learns so only when it resumes, and learns it before
    // anything the Scheduler sends it meanwhile (the file is written first; a cancel comes with the
    // lease's end), so the attempt ends in success, not cancelled.
    release(1);
    try {
      await cluster.addWorker();
      const second = await follower.waitFor((u) => u.state === "running" && u.attempt === 2, 10_000);
      const runner = cluster.workers.find((w) => workerIdOf(w) === second.workerId);
      if (!runner || runner === paused) throw new Error(`attempt 2 runs on ${second.workerId}, not on another worker process`);
      await runner.waitForLog((r) => r.msg === "holding until released" && r.task_id === taskId && r.attempt === 2);

      // Resumed, the paused worker finishes attempt 1 at once (its file is there) and reports success
      // while attempt 2 is running: the task is running, so only the attempt number refuses it.
      paused.signal("SIGCONT");
      const finished = await paused.waitForLog((r) => r.msg === "Task attempt finished" && r.task_id === taskId, 10_000);
      expect(finished.outcome).toBe("ATTEMPT_OUTCOME_SUCCEEDED");
      // Refused, or (when the fence is broken) recorded: whichever comes first; the other may never come.
      const rejected = cluster.scheduler.waitForLog((r) => r.msg === "Rejected the result of an attempt that is no longer current" && r.task_id === taskId, 10_000);
      const ended = follower.waitFor((u) => isTerminal(u.state), 20_000);
      for (const either of [rejected, ended]) either.catch(() => undefined);
      await Promise.race([rejected, ended]);
      const during = await client.get(taskId);
      expect({ state: during.state, attempt: during.attempt, workerId: during.workerId, result: during.result }).toEqual({
        state: "running", attempt: 2, workerId: second.workerId, result: null,
      });
      expect(await rejected).toMatchObject({ attempt: 1, worker_id: first.workerId });

      release(2);
      const terminal = await follower.done;
      expect(terminal).toMatchObject({ state: "succeeded", attempt: 2, workerId: second.workerId });
      expect(resultOf(terminal?.result ?? null)).toEqual({ pid: runner.pid, attempt: 2 });
      const task = await client.get(taskId);
      expect(resultOf(task.result)).toEqual({ pid: runner.pid, attempt: 2 });
      expect(follower.updates.map((u) => [u.state, u.attempt])).toEqual([
        ["queued", 0], ["running", 1], ["retrying", 1], ["running", 2], ["succeeded", 2],
      ]);
      expect(task.lastSequence).toBe(follower.updates.length);
    } finally {
      paused.signal("SIGCONT");
      follower.close();
      // A failed run leaves no attempt holding a worker into the next test.
      release(1);
      release(2);
      releases.remove();
    }
  });

  it("a subscriber resumes across a Gateway restart without losing or repeating an update", async () => {
    const client = cluster.client;
    const ticks = 30;
    const { taskId } = await client.submit({ name: "ticker", payload: { ticks, every_ms: 100 } });
    const follower = new Follower(client, taskId);

    // The same task also followed on the wire, without the SDK's help, to see what the Gateway sends.
    const raw = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure());
    const wire: number[] = [];
    const rawRead = (afterSequence: number): Promise<void> => new Promise((resolve) => {
      const stream: ClientReadableStream<ProgressUpdate> = raw.subscribeProgress({ taskId, afterSequence }, new Metadata({ waitForReady: true }), { deadline: Date.now() + 20_000 });
      stream.on("data", (update: ProgressUpdate) => wire.push(update.sequence));
      stream.on("error", () => resolve());
      stream.on("end", () => resolve());
    });
    const firstRaw = rawRead(0);

    try {
      // Mid-stream: some progress seen, the task still running.
      await follower.waitFor((u) => u.state === "running" && u.percent >= 10);
      const oldGateway = cluster.gateway;
      oldGateway.signal("SIGKILL");
      const killedAt = Date.now();
      expect((await oldGateway.exited).signal).toBe("SIGKILL");
      await firstRaw;
      const seenOnWireBeforeKill = wire.length;
      expect(follower.terminal).toBeUndefined();

      cluster.gateway = await startService("gateway", ["--port", String(cluster.gatewayPort), "--scheduler", cluster.schedulerAddress]);
      const restartedAt = Date.now();
      await rawRead(wire.at(-1) ?? 0);

      const terminal = await follower.done;
      expect(terminal?.state).toBe("succeeded");
      const sequences = follower.updates.map((u) => u.sequence);
      expect(sequenceProblems(sequences)).toBeNull();
      const task = await client.get(taskId);
      expect(task.lastSequence).toBe(sequences.length);
      // queued, attempt started, one update per tick, succeeded.
      expect(sequences).toHaveLength(ticks + 3);
      expect(follower.updates.filter((u) => isTerminal(u.state))).toHaveLength(1);
      // Updates recorded while no Gateway was up reached the subscriber after the restart, and the task
      // was still running then: the subscription really broke and resumed mid-stream.
      expect(follower.updates.some((u) => u.timestamp.getTime() > killedAt && u.timestamp.getTime() < restartedAt)).toBe(true);
      expect(terminal?.timestamp.getTime() ?? 0).toBeGreaterThan(restartedAt);

      // On the wire: the resumed stream started right after the last sequence seen (after_sequence),
      // so the two streams together carry 1..N exactly once.
      expect(seenOnWireBeforeKill).toBeGreaterThan(0);
      expect(seenOnWireBeforeKill).toBeLessThan(sequences.length);
      expect(wire).toEqual(sequences);
    } finally {
      raw.close();
    }
  });

  it("the same idempotency key returns the same task_id and creates no second task", async () => {
    const client = cluster.client;
    const name = "idempotency-unserved";
    const key = `order-${Date.now()}`;
    const otherKey = `${key}-other`;
    const request = { name, payload: "first", description: "order", idempotencyKey: key };
    const first = await client.submit(request);
    const again = await client.submit(request);
    expect(again.taskId).toBe(first.taskId);

    const unary = new OrchestratorClient({ address: cluster.gatewayAddress, pipeline: false });
    try {
      const viaUnary = await unary.submit(request);
      expect(viaUnary.taskId).toBe(first.taskId);
    } finally {
      unary.close();
    }

    // SubmitTasks: a known key answers its task; a new key repeated within the batch makes one task.
    const batch = await client.submitMany([
      request,
      { name, payload: "fifth", idempotencyKey: otherKey },
      { name, payload: "fifth", idempotencyKey: otherKey },
    ]);
    expect(batch[0]?.taskId).toBe(first.taskId);
    expect(batch[1]?.taskId).not.toBe(first.taskId);
    expect(batch[2]?.taskId).toBe(batch[1]?.taskId);

    const listed = await client.list({ name });
    expect(listed.tasks.map((t) => t.taskId).sort()).toEqual([first.taskId, batch[1]?.taskId].sort());
    // The first submit's task is the one kept.
    expect(Buffer.from((await client.get(first.taskId)).payload).toString()).toBe("first");
    expect(Buffer.from((await client.get(batch[1]?.taskId ?? "")).payload).toString()).toBe("fifth");
    // The batch's repeat is the last thing logged; once it is read, so are the others.
    await cluster.scheduler.waitForLog((r) => r.msg === "Repeated submit; answering the existing task" && r.task_id === batch[1]?.taskId, 2000);
    const repeats = cluster.scheduler.logs.filter((r: LogRecord) => r.msg === "Repeated submit; answering the existing task");
    expect(repeats.filter((r) => r.task_id === first.taskId)).toHaveLength(3);
    expect(repeats.filter((r) => r.task_id === batch[1]?.taskId)).toHaveLength(1);
    for (const task of listed.tasks) await client.cancel(task.taskId);
  });

  it("a reused idempotency key with a different request gets ALREADY_EXISTS naming the first task, on every submit path", async () => {
    const client = cluster.client;
    const name = "idempotency-conflict-unserved";
    const key = `conflict-${Date.now()}`;
    const first = await client.submit({ name, payload: "first", idempotencyKey: key });
    const expected = `idempotency key "${key}" already belongs to task ${first.taskId}`;

    // SubmitStream (the SDK's pipeline), with a valid submit beside it in the same message: only the changed one is refused.
    const [changed, unrelated] = await Promise.allSettled([
      client.submit({ name, payload: "second", idempotencyKey: key }),
      client.submit({ name, payload: "unrelated" }),
    ]);
    expect(changed.status).toBe("rejected");
    const streamed = OrchestratorError.from((changed as PromiseRejectedResult).reason);
    expect(streamed.code).toBe(Code.AlreadyExists);
    expect(streamed.rawMessage).toContain(expected);
    expect(streamed.rawMessage).toContain("a different payload");
    expect(unrelated.status).toBe("fulfilled");

    // SubmitTask (unary), with another field changed.
    const unary = new OrchestratorClient({ address: cluster.gatewayAddress, pipeline: false });
    try {
      const refused = await refusal(unary.submit({ name, payload: "first", maxRetries: 9, idempotencyKey: key }));
      expect(refused.code).toBe(Code.AlreadyExists);
      expect(refused.rawMessage).toContain(expected);
      expect(refused.rawMessage).toContain("a different max_retries");
      // The same request still answers the first task.
      expect((await unary.submit({ name, payload: "first", idempotencyKey: key })).taskId).toBe(first.taskId);
    } finally {
      unary.close();
    }

    // SubmitTasks: the batch is refused as a whole.
    const batch = await refusal(client.submitMany([{ name, payload: "new one" }, { name: "other-name", payload: "first", idempotencyKey: key }]));
    expect(batch.code).toBe(Code.AlreadyExists);
    expect(batch.rawMessage).toContain("a different name");

    const listed = await client.list({ name });
    const unrelatedId = (unrelated as PromiseFulfilledResult<{ taskId: string }>).value.taskId;
    expect(listed.tasks.map((t) => t.taskId).sort()).toEqual([first.taskId, unrelatedId].sort());
    expect(Buffer.from((await client.get(first.taskId)).payload).toString()).toBe("first");
    for (const task of listed.tasks) await client.cancel(task.taskId);
  });

  it("a Gateway connection may hold at most the documented number of SubscribeProgress streams", async () => {
    const limit = 1000;
    const { taskId } = await cluster.client.submit({ name: "subscribers-unserved" });
    const client = new OrchestratorClient({ address: cluster.gatewayAddress });
    const subscriptions: Array<AsyncGenerator<TaskUpdate>> = [];
    try {
      // Each subscription is open at the Gateway once it has yielded the replayed "queued" update.
      for (let i = 0; i < limit; i++) subscriptions.push(client.subscribe(taskId));
      const firsts = await Promise.all(subscriptions.map((s) => s.next()));
      expect(firsts.every((r) => r.value?.sequence === 1 && r.value.state === "queued")).toBe(true);

      const refused = await refusal(client.subscribe(taskId).next());
      expect(refused.code).toBe(Code.ResourceExhausted);
      expect(refused.rawMessage).toMatch(/already has 1000 SubscribeProgress streams open; the limit is 1000/);
      // Another connection is not affected. (Clients in one process with the same options share
      // grpc-js's connection; a local subchannel pool makes a connection of its own.)
      const separate = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
      try {
        const first = await new Promise<ProgressUpdate>((resolve, reject) => {
          const stream = separate.subscribeProgress({ taskId, afterSequence: 0 });
          stream.once("data", (update: ProgressUpdate) => {
            resolve(update);
            stream.cancel();
          });
          stream.once("error", reject);
        });
        expect(first.sequence).toBe(1);
      } finally {
        separate.close();
      }

      // Closing one makes room for one (the Gateway learns of the close asynchronously: bounded retry).
      await subscriptions.pop()?.return(undefined);
      let reopened: IteratorResult<TaskUpdate> | undefined;
      for (let tries = 0; !reopened && tries < 50; tries++) {
        const again = client.subscribe(taskId);
        try {
          reopened = await again.next();
          subscriptions.push(again);
        } catch (error) {
          expect(OrchestratorError.from(error).code).toBe(Code.ResourceExhausted);
          await delay(50);
        }
      }
      expect(reopened?.value?.sequence).toBe(1);

      // The task ends: every subscription ends with it.
      await cluster.client.cancel(taskId);
      const lasts = await Promise.all(subscriptions.map((s) => s.next()));
      expect(lasts.every((r) => r.value?.state === "cancelled")).toBe(true);
      const ends = await Promise.all(subscriptions.map((s) => s.next()));
      expect(ends.every((r) => r.done)).toBe(true);
    } finally {
      await Promise.all(subscriptions.map((s) => s.return(undefined)));
      client.close();
    }
  });
});

describe("guarantees under a waiting-task limit of 50", () => {
  const cluster = new Cluster({ workers: 1, schedulerArgs: ["--max-waiting-tasks", "50"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("submits beyond the waiting-task limit get RESOURCE_EXHAUSTED and the services keep serving", async () => {
    const client = cluster.client;
    const name = "nobody-serves-this";
    const accepted: string[] = [];
    let refused: OrchestratorError | undefined;
    while (!refused && accepted.length <= 100) {
      try {
        accepted.push((await client.submit({ name, payload: String(accepted.length) })).taskId);
      } catch (error) {
        refused = OrchestratorError.from(error);
      }
    }
    expect(accepted).toHaveLength(50);
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toMatch(/the limit is 50: retry later/);

    // Every way in is refused the same way while the queue is full, whatever the task's name.
    const unary = new OrchestratorClient({ address: cluster.gatewayAddress, pipeline: false });
    try {
      expect((await refusal(unary.submit({ name: "whoami" }))).code).toBe(Code.ResourceExhausted);
    } finally {
      unary.close();
    }
    expect((await refusal(client.submitMany([{ name: "whoami" }]))).code).toBe(Code.ResourceExhausted);

    // The services keep serving everything else; nothing refused was stored.
    const listed = await client.list({ name, pageSize: 1000 });
    expect(listed.tasks).toHaveLength(50);
    expect((await client.get(accepted[0] ?? "")).state).toBe("queued");
    expect(await client.workers()).toHaveLength(1);

    // Cancelling makes room. The Scheduler recounts its queue on each sweep (every 200 ms here), so
    // a submit may still be refused for one sweep: retry within a bound.
    for (const taskId of accepted.slice(0, 10)) expect((await client.cancel(taskId)).cancelled).toBe(true);
    let served: string | undefined;
    for (let tries = 0; !served && tries < 40; tries++) {
      try {
        served = (await client.submit({ name: "whoami" })).taskId;
      } catch (error) {
        expect(OrchestratorError.from(error).code).toBe(Code.ResourceExhausted);
        await delay(50);
      }
    }
    expect(served).toBeDefined();
    const terminal = await client.waitForResult(served ?? "");
    expect(terminal.state).toBe("succeeded");
    expect(resultOf(terminal.result).pid).toBe(cluster.workers[0]?.pid);

    // And the store holds exactly what was acknowledged.
    const store = await readStore(cluster.testStore);
    expect(store.tasks.size).toBe(51);
  });
});

describe("guarantees under a Gateway subscriber limit of 3", () => {
  const cluster = new Cluster({ workers: 0, gatewayArgs: ["--max-subscribers", "3"] });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("SubscribeProgress streams beyond the Gateway's limit (all connections together) get RESOURCE_EXHAUSTED", async () => {
    const { taskId } = await cluster.client.submit({ name: "subscribers-unserved" });
    // Two connections of their own (a local subchannel pool each), as two applications would have.
    const [first, second] = [1, 2].map(() => new GatewayClient(cluster.gatewayAddress, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));
    const open: Array<ClientReadableStream<ProgressUpdate>> = [];
    const subscribe = (client: GatewayClient | undefined): Promise<ClientReadableStream<ProgressUpdate>> => new Promise((resolve, reject) => {
      const stream = client?.subscribeProgress({ taskId, afterSequence: 0 });
      stream?.once("data", () => resolve(stream));
      stream?.once("error", reject);
    });
    try {
      open.push(await subscribe(first), await subscribe(first), await subscribe(second));
      for (const client of [first, second]) {
        const refused = await refusal(subscribe(client));
        expect(refused.code).toBe(Code.ResourceExhausted);
        expect(refused.rawMessage).toMatch(/the gateway already serves 3 SubscribeProgress streams \(all clients together\); the limit is 3: .*--max-subscribers/);
      }
      // Closing one makes room for one (the Gateway learns of the close asynchronously: bounded retry).
      const closed = open.pop();
      closed?.on("error", () => undefined);
      closed?.cancel();
      let reopened: ClientReadableStream<ProgressUpdate> | undefined;
      for (let tries = 0; !reopened && tries < 50; tries++) {
        try {
          reopened = await subscribe(first);
        } catch (error) {
          expect(OrchestratorError.from(error).code).toBe(Code.ResourceExhausted);
          await delay(50);
        }
      }
      expect(reopened).toBeDefined();
    } finally {
      first?.close();
      second?.close();
    }
  });
});
