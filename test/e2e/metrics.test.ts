// Prometheus metrics as a scraper reads them: after a known workload, each counter and histogram
// count on /metrics equals what was done, on both stores; with two Schedulers on one PostgreSQL each
// counts what it recorded itself (the cluster's figure is the sum), while the waiting-task gauge is
// the store's, the same on both. Plus the probes a container orchestrator calls.
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { Cluster, freePort, ServiceProcess, startService, tempDir } from "../helpers/processes.js";
import { createTestStore, storeBackends } from "../helpers/stores.js";
import { ScaleOutRig } from "../helpers/scale-out.js";
import { httpGet, scrape, type Scrape } from "../helpers/metrics.js";

/** The per-name counters of a Scheduler, as one object per name, for one readable comparison. */
function schedulerCounts(scraped: Scrape, names: readonly string[]): Record<string, Record<string, number>> {
  const series = ["submitted", "started", "succeeded", "failed", "retried", "cancelled"] as const;
  return Object.fromEntries(names.map((name) => [name, {
    ...Object.fromEntries(series.map((what) => [what, scraped.value(`orchestrator_tasks_${what}_total`, { name })])),
    dispatched: scraped.value("orchestrator_dispatch_latency_seconds_count", { name }),
    attemptsTimed: scraped.value("orchestrator_attempt_duration_seconds_count", { name }),
  }]));
}

describe.each(storeBackends)("metrics after a known workload (%s store)", (store) => {
  let cluster: Cluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("counts each submit, start, outcome, retry and cancel once, times each dispatch and attempt, and reads the waiting tasks from the store", async () => {
    const [schedulerHttp, gatewayHttp, workerHttp] = [await freePort(), await freePort(), await freePort()];
    cluster = await new Cluster({
      store, schedulerArgs: ["--http-port", String(schedulerHttp)], gatewayArgs: ["--http-port", String(gatewayHttp)],
      workerArgs: ["--slots", "4", "--http-port", String(workerHttp)],
    }).start();
    const { client } = cluster;
    const at = (port: number): string => `127.0.0.1:${port}`;

    // 7 echo tasks (one idempotent submit made twice: one task), 2 flaky tasks that fail once then
    // succeed, 1 flaky task that fails for good, 3 "parked" tasks no worker runs (one delayed an hour,
    // one cancelled).
    const echoes = await Promise.all(Array.from({ length: 6 }, (_, i) => client.submit({ name: "echo", payload: { i } })));
    const keyed = await client.submit({ name: "echo", payload: "once", idempotencyKey: "metrics-once" });
    const repeated = await client.submit({ name: "echo", payload: "once", idempotencyKey: "metrics-once" });
    expect(repeated.taskId).toBe(keyed.taskId);
    const flaky = await Promise.all([1, 2].map(() => client.submit({ name: "flaky", payload: { fail_attempts: 1 }, maxRetries: 2, retryBackoffMs: 50 })));
    const doomed = await client.submit({ name: "flaky", payload: { retryable: false }, maxRetries: 2 });
    const [parked] = await Promise.all([client.submit({ name: "parked" }), client.submit({ name: "parked" }), client.submit({ name: "parked", delayMs: 3_600_000 })]);
    await client.cancel(parked?.taskId ?? "");
    const finals = await Promise.all([...echoes, keyed, ...flaky, doomed].map(({ taskId }) => client.waitForResult(taskId)));
    expect(finals.map((update) => update.state).sort()).toEqual([...Array(9).fill("succeeded"), "failed"].sort());
    for (const { taskId } of [...echoes.slice(0, 3)]) await client.get(taskId);
    await expect(client.get(randomUUID())).rejects.toThrow();

    const scheduler = await scrape(at(schedulerHttp));
    expect(schedulerCounts(scheduler, ["echo", "flaky", "parked"])).toEqual({
      echo: { submitted: 7, started: 7, succeeded: 7, failed: 0, retried: 0, cancelled: 0, dispatched: 7, attemptsTimed: 7 },
      flaky: { submitted: 3, started: 5, succeeded: 2, failed: 1, retried: 2, cancelled: 0, dispatched: 3, attemptsTimed: 5 },
      parked: { submitted: 3, started: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 1, dispatched: 0, attemptsTimed: 0 },
    });
    expect(scheduler.matching("orchestrator_tasks_waiting").map(({ labels, value }) => ({ ...labels, value }))).toEqual(
      expect.arrayContaining([{ name: "parked", state: "queued", value: 1 }, { name: "parked", state: "scheduled", value: 1 }]),
    );
    expect(scheduler.value("orchestrator_tasks_waiting")).toBe(2);
    expect(scheduler.value("orchestrator_workers")).toBe(1);
    expect(scheduler.value("orchestrator_worker_slots", { state: "busy" })).toBe(0);
    expect(scheduler.value("orchestrator_worker_slots", { state: "free" })).toBe(4);
    // Every submit, claim and result above was committed at least once.
    expect(scheduler.value("orchestrator_store_commit_seconds_count")).toBeGreaterThan(0);
    expect(scheduler.has("nodejs_eventloop_lag_seconds")).toBe(true);
    expect(scheduler.has("process_resident_memory_bytes")).toBe(true);

    const worker = await scrape(at(workerHttp));
    expect(worker.matching("orchestrator_worker_attempts_total").map(({ labels, value }) => ({ ...labels, value })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { name: "echo", outcome: "succeeded", value: 7 },
      { name: "flaky", outcome: "failed", value: 3 },
      { name: "flaky", outcome: "succeeded", value: 2 },
    ]);

    const gateway = await scrape(at(gatewayHttp));
    expect(gateway.value("orchestrator_gateway_requests_total", { method: "orchestrator.v1.Gateway/GetTask", code: "OK" })).toBe(3);
    expect(gateway.value("orchestrator_gateway_requests_total", { method: "orchestrator.v1.Gateway/GetTask", code: "NOT_FOUND" })).toBe(1);
    expect(gateway.value("orchestrator_gateway_requests_total", { method: "orchestrator.v1.Gateway/CancelTask", code: "OK" })).toBe(1);

    for (const port of [schedulerHttp, gatewayHttp, workerHttp]) {
      expect(await httpGet(at(port), "/healthz")).toMatchObject({ status: 200, body: "ok\n" });
      expect(await httpGet(at(port), "/readyz")).toMatchObject({ status: 200, body: "ready\n" });
    }
  });
});

describe("metrics with two Schedulers on one PostgreSQL", () => {
  let rig: ScaleOutRig | undefined;

  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it("counts per process (submits where submitted, starts and outcomes where recorded; the sums are the cluster's) and reads waiting tasks cluster-wide", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const [httpA, httpB] = [await freePort(), await freePort()];
    const a = await rig.scheduler(["--http-port", String(httpA)]);
    const b = await rig.scheduler(["--http-port", String(httpB)]);
    const { client } = await rig.gateway([a.address]);
    await rig.worker([b.address]);

    const done = await Promise.all(Array.from({ length: 5 }, () => client.submit({ name: "journaled", payload: { ms: 0 } })));
    await Promise.all([client.submit({ name: "parked" }), client.submit({ name: "parked" })]);
    for (const { taskId } of done) expect((await client.waitForResult(taskId)).state).toBe("succeeded");

    const [scrapeA, scrapeB] = [await scrape(`127.0.0.1:${httpA}`), await scrape(`127.0.0.1:${httpB}`)];
    expect(schedulerCounts(scrapeA, ["journaled", "parked"])).toEqual({
      journaled: { submitted: 5, started: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 0, dispatched: 0, attemptsTimed: 0 },
      parked: { submitted: 2, started: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 0, dispatched: 0, attemptsTimed: 0 },
    });
    expect(schedulerCounts(scrapeB, ["journaled", "parked"])).toEqual({
      journaled: { submitted: 0, started: 5, succeeded: 5, failed: 0, retried: 0, cancelled: 0, dispatched: 5, attemptsTimed: 5 },
      parked: { submitted: 0, started: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 0, dispatched: 0, attemptsTimed: 0 },
    });
    expect([scrapeA.value("orchestrator_workers"), scrapeB.value("orchestrator_workers")]).toEqual([0, 1]);
    for (const scraped of [scrapeA, scrapeB]) {
      expect(scraped.value("orchestrator_tasks_waiting", { name: "parked", state: "queued" })).toBe(2);
      expect(scraped.value("orchestrator_tasks_waiting")).toBe(2);
    }
  });
});

describe("readiness", () => {
  let gateway: ServiceProcess | undefined;

  afterEach(async () => {
    await gateway?.stop("SIGKILL");
  });

  it("answers 503 with the reason on /readyz while the Gateway reaches no Scheduler, and 200 on /healthz", async () => {
    const [port, httpPort, nobody] = [await freePort(), await freePort(), await freePort()];
    gateway = await startService("gateway", ["--port", String(port), "--http-port", String(httpPort), "--scheduler", `127.0.0.1:${nobody}`]);
    expect(await httpGet(`127.0.0.1:${httpPort}`, "/readyz")).toEqual({
      status: 503, body: `not ready: not connected to the scheduler at 127.0.0.1:${nobody}\n`, contentType: "text/plain; charset=utf-8",
    });
    expect((await httpGet(`127.0.0.1:${httpPort}`, "/healthz")).status).toBe(200);
  });
});

describe("orchestrator dev", () => {
  const data = tempDir();
  let dev: ServiceProcess | undefined;

  afterEach(async () => {
    await dev?.stop("SIGKILL");
    data.remove();
  });

  it("serves one HTTP listener per service when asked (--scheduler-http-port, --gateway-http-port, --worker-http-port), each with its own series", async () => {
    const ports = { gateway: await freePort(), scheduler: await freePort(), worker: await freePort() };
    const http = { gateway: await freePort(), scheduler: await freePort(), worker: await freePort() };
    dev = new ServiceProcess("dev", [
      "--gateway-port", String(ports.gateway), "--scheduler-port", String(ports.scheduler), "--worker-port", String(ports.worker), "--data-dir", data.path,
      "--scheduler-http-port", String(http.scheduler), "--gateway-http-port", String(http.gateway), "--worker-http-port", String(http.worker),
    ]);
    await dev.waitForMessage(`Gateway service listening on 127.0.0.1:${ports.gateway}`);
    await dev.waitForMessage("Worker registered with the scheduler");
    for (const port of Object.values(http)) expect(await httpGet(`127.0.0.1:${port}`, "/healthz")).toMatchObject({ status: 200 });
    expect((await scrape(`127.0.0.1:${http.scheduler}`)).value("orchestrator_workers")).toBe(1);
    expect((await scrape(`127.0.0.1:${http.gateway}`)).has("orchestrator_workers")).toBe(false);
    expect((await scrape(`127.0.0.1:${http.worker}`)).has("process_cpu_user_seconds_total")).toBe(true);
  });
});
